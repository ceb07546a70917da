"""Execution agents: `get agents`."""

from __future__ import annotations

import argparse
import sys

from wloadctl.cli import output, render
from wloadctl.cli.context import EXIT_OK, Context, emit, emit_data
from wloadctl.cli.parser import Verbs


def register(verbs: Verbs) -> None:
    verbs.add_to(
        "get", "agents", "list the agents and their slots",
        description="List every registered agent as the leader sees it: labels, capacity, running\n"
                    "attempts and free slots, whether it is connected to the answering replica and has\n"
                    "confirmed the leader's epoch, and when it was lost. A follower asks the leader;\n"
                    "when no leader can be reached it answers with its own view and a note says so.",
        handler=cmd_get_agents,
    )


def cmd_get_agents(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().list_agents()
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(response))
        return EXIT_OK
    if response.role and response.role != "leader":
        # A follower answers itself only when it could not ask the leader; its CONFIRMED column is all "no".
        print(f"note: answered by {response.answered_by or '?'} ({response.role}): no leader could be reached; "
              "CONFIRMED is known on the leader only", file=sys.stderr)
    if not response.agents:
        print("No agents found.", file=sys.stderr)
        return EXIT_OK
    emit(render.agents_table(response.agents))
    return EXIT_OK
