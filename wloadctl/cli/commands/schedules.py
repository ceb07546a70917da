"""Time-driven scheduling: `job suspend|resume|next`, `get misfires`."""

from __future__ import annotations

import argparse

from wloadctl.cli import output, render
from wloadctl.cli.context import EXIT_OK, Context, emit, emit_data, listing, page_size
from wloadctl.cli.parser import Verbs, int_at_least, param, time_ms

_TIME_HELP = "ISO-8601 (2026-03-28T00:00:00+01:00; without an offset: UTC) or a duration ago (24h)"


def register(verbs: Verbs) -> None:
    for name, suspended, text in (("suspend", True, "stop a job's schedules (it stays defined)"),
                                  ("resume", False, "restart a job's schedules from now")):
        parser = verbs.add_to(
            "job", name, text,
            description=f"{text[0].upper()}{text[1:]}. Recorded as a new version of the job, audited like any\n"
                        "change. A resumed job fires from its next slot after now: slots that passed\n"
                        "while it was suspended are neither run nor recorded as misfires.",
            epilog=f"examples:\n  wloadctl job {name} nightly-backup",
            handler=cmd_suspend if suspended else cmd_resume,
        )
        parser.add_argument("name", metavar="NAME", help="job name (or a workflow's: its schedules and events)")
        parser.add_argument("--idempotency-key", default="", metavar="KEY",
                            help="retrying with the same key changes the job at most once (default: random)")
    nxt = verbs.add_to(
        "job", "next", "preview a job's next fire times",
        description="The next times a job's schedules fire, in its time zone and in UTC, marking any that a\n"
                    "DST change shifted, repeated or skipped. Computed from the job's current version\n"
                    "(whether or not it is suspended).",
        epilog="examples:\n  wloadctl job next nightly-backup\n"
               "  wloadctl job next nightly-backup --count 5 --from 2027-03-27T00:00:00+01:00\n"
               "  wloadctl job next nightly-backup -o json | jq -r '.times[].local_time'",
        handler=cmd_next,
    )
    nxt.add_argument("name", metavar="NAME", help="job name (or a workflow's)")
    nxt.add_argument("--count", type=int_at_least(1), default=10, metavar="N", help="how many (default 10, at most "
                                                                                    "1000)")
    nxt.add_argument("--from", dest="from_ms", type=time_ms, default=0, metavar="T",
                     help=f"after this time (default: now): {_TIME_HELP}")

    misfires = verbs.add_to(
        "get", "misfires", "list schedule slots that did not run, and why",
        description="Slots a schedule named that did not run: found too late (downtime, a leader change,\n"
                    "a clock jump) and skipped by the job's misfire policy, or refused by its overlap\n"
                    "policy. Consecutive slots with the same reason are one line (COUNT). Newest first.",
        epilog="examples:\n  wloadctl get misfires\n  wloadctl get misfires --job nightly-backup -o json",
        handler=cmd_get_misfires,
    )
    misfires.add_argument("--job", default="", metavar="NAME", help="only this job's")
    misfires.add_argument("--limit", type=int_at_least(1), default=None, metavar="N",
                          help="show at most N records (default: all)")


def _suspend(args: argparse.Namespace, ctx: Context, suspended: bool) -> int:
    response = ctx.client().suspend_job(args.name, suspended, idempotency_key=args.idempotency_key)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(response))
        return EXIT_OK
    state = "suspended" if suspended else "resumed"
    if response.job.changed:
        emit(f"job/{response.job.name} {state} (version {response.job.version})\n")
    else:
        emit(f"job/{response.job.name} unchanged (already {state})\n")
    return EXIT_OK


def cmd_suspend(args: argparse.Namespace, ctx: Context) -> int:
    return _suspend(args, ctx, True)


def cmd_resume(args: argparse.Namespace, ctx: Context) -> int:
    return _suspend(args, ctx, False)


def cmd_next(args: argparse.Namespace, ctx: Context) -> int:
    answer = ctx.client().next_fire_times(args.name, args.count, args.from_ms)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(answer))
        return EXIT_OK
    if not answer.times:
        emit(f"job/{answer.name} has no fire time after that (no schedule, or its schedules have ended)\n")
        return EXIT_OK
    emit(render.fire_times_text(answer))
    return EXIT_OK


def cmd_get_misfires(args: argparse.Namespace, ctx: Context) -> int:
    records = ctx.client().iter_misfires(args.job, page_size=page_size(args.limit))
    return listing(ctx, records, args.limit, "misfires", render.misfires_table)


def register_calendars(verbs: Verbs) -> None:
    get = verbs.add_to(
        "get", "calendars", "list business calendars",
        description="Every business calendar (kind: Calendar) with its working weekdays and holiday count.",
        epilog="examples:\n  wloadctl get calendars\n  wloadctl get calendars -o json",
        handler=cmd_get_calendars,
    )
    del get
    describe = verbs.add_to(
        "describe", "calendar", "show one business calendar",
        description="A calendar's working weekdays, holidays, the calendars it includes and excludes, and the\n"
                    "jobs that use it. With -o json|yaml, the stored CalendarVersion.",
        handler=cmd_describe_calendar,
    )
    describe.add_argument("name", metavar="NAME", help="calendar name")
    describe.add_argument("--version", type=int_at_least(1), default=0, metavar="N",
                          help="a specific stored version (default: the latest)")
    delete = verbs.add_to(
        "delete", "calendar", "delete a business calendar",
        description="Delete a calendar no job uses and no calendar includes or excludes. Its history is kept.",
        handler=cmd_delete_calendar,
    )
    delete.add_argument("name", metavar="NAME", help="calendar name")
    delete.add_argument("--idempotency-key", default="", metavar="KEY",
                        help="retrying with the same key deletes at most once (default: random)")
    days = verbs.add_to(
        "calendar", "days", "list a calendar's working days",
        description="The working days of a calendar between two dates (inclusive, at most 10 years), its\n"
                    "includes and excludes applied; --all lists every day with whether it is one.",
        epilog="examples:\n  wloadctl calendar days target2 --from 2026-12-20 --to 2027-01-05\n"
               "  wloadctl calendar days target2 --from 2027-01-01 --to 2027-12-31 -o json | jq '.working_days | "
               "length'",
        handler=cmd_calendar_days,
    )
    days.add_argument("name", metavar="NAME", help="calendar name")
    days.add_argument("--from", dest="from_date", required=True, metavar="D", help="first date, YYYY-MM-DD")
    days.add_argument("--to", dest="to_date", required=True, metavar="D", help="last date, YYYY-MM-DD")
    days.add_argument("--all", action="store_true", help="list non-working days too")


def cmd_get_calendars(args: argparse.Namespace, ctx: Context) -> int:
    calendars = ctx.client().list_calendars().calendars
    return listing(ctx, iter(calendars), 0, "calendars", render.calendars_table)


def cmd_describe_calendar(args: argparse.Namespace, ctx: Context) -> int:
    calendar = ctx.client().get_calendar(args.name, args.version)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(calendar))
        return EXIT_OK
    emit(render.describe_calendar(calendar))
    return EXIT_OK


def cmd_delete_calendar(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().delete_calendar(args.name, idempotency_key=args.idempotency_key)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(response))
        return EXIT_OK
    emit(f"calendar/{response.calendar.name or args.name} deleted (version {response.calendar.version})\n")
    return EXIT_OK


def cmd_calendar_days(args: argparse.Namespace, ctx: Context) -> int:
    answer = ctx.client().calendar_days(args.name, args.from_date, args.to_date)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(answer))
        return EXIT_OK
    emit(render.calendar_days(answer, args.all))
    return EXIT_OK


def register_events(verbs: Verbs) -> None:
    emit = verbs.add_to(
        "event", "emit", "emit an event: a run of every job subscribed to it",
        description="Start a run of every job whose `events` name this event, in the business domains where\n"
                    "you may emit events (event.emit). Event parameters become run parameters as each job's\n"
                    "trigger maps them. The same --idempotency-key never starts runs twice (kept 24 h).",
        epilog="examples:\n  wloadctl event emit order-received --param customer=c42 --idempotency-key order-9981\n"
               "  wloadctl event emit eod-ready -o json | jq -r '.run_ids[]'",
        handler=cmd_emit_event,
    )
    emit.add_argument("name", metavar="NAME", help="event name")
    emit.add_argument("--param", action="append", type=param, default=[], metavar="KEY=VALUE",
                      help="an event parameter; repeatable")
    emit.add_argument("--idempotency-key", default="", metavar="KEY",
                      help="retrying with the same key starts runs at most once (default: random)")


def cmd_emit_event(args: argparse.Namespace, ctx: Context) -> int:
    answer = ctx.client().emit_event(args.name, dict(args.param), idempotency_key=args.idempotency_key)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(answer))
        return EXIT_OK
    if not answer.run_ids:
        emit(f"event/{args.name} emitted: no job subscribed to it (in your domains)\n")
    else:
        emit(f"event/{args.name} emitted: started {', '.join(f'run/{r}' for r in answer.run_ids)}\n")
    return EXIT_OK
