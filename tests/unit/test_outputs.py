"""Task outputs: `::set-output key=value` lines collected from stdout in any chunking, bounded, and
passed to downstream workflow tasks as WLOADCTL_UPSTREAM_<TASK>_<KEY>."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_workflow_state import World, nightly
from wloadctl.model.outputs import MAX_OUTPUTS, MAX_VALUE, OutputCollector, clean, upstream_env
from wloadctl.proto.v1 import agent_pb2, commands_pb2
from wloadctl.testing.builders import apply_cmd, job

TEXT = (b"starting\n::set-output rows=42\nnoise ::set-output not=this\n::set-output path=/out/a b.csv\r\n"
        b"::set-output rows=43\n::set-output 1bad=x\n::set-output novalue\n::set-output last=end")


def test_lines_set_outputs_the_last_one_wins_bad_ones_are_ignored() -> None:
    c = OutputCollector()
    c.feed(TEXT)
    assert c.finish() == {"rows": "43", "path": "/out/a b.csv", "last": "end"}


@given(st.lists(st.integers(min_value=1, max_value=len(TEXT)), max_size=12))
def test_any_chunking_gives_the_same_outputs(cuts: list[int]) -> None:
    c = OutputCollector()
    points = sorted(set(cuts))
    start = 0
    for p in [*points, len(TEXT)]:
        c.feed(TEXT[start:p])
        start = p
    assert c.finish() == {"rows": "43", "path": "/out/a b.csv", "last": "end"}


def test_bounds_hold() -> None:
    c = OutputCollector()
    c.feed(b"::set-output big=" + b"x" * (MAX_VALUE + 1) + b"\n::set-output ok=1\n")
    c.feed(b"".join(b"::set-output k%d=v\n" % i for i in range(200)))
    got = c.finish()
    assert "big" not in got and got["ok"] == "1" and len(got) == MAX_OUTPUTS
    assert clean({"a": "1", "b\0": "2", "c": "\0"}) == {"a": "1"}
    assert upstream_env("load-eu", "row.count") == "WLOADCTL_UPSTREAM_LOAD_EU_ROW_COUNT"


def test_downstream_tasks_get_their_upstreams_outputs(tmp_path: Path) -> None:
    w = World(tmp_path / "s")
    w.do(apply_cmd(job("load-warehouse", "finance")))
    w.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=[nightly()])))
    wrun = w.do(commands_pb2.Command(trigger_workflow=commands_pb2.TriggerWorkflow(name="nightly"))).run_ids[0]
    extract = w.tasks(wrun)["extract"].run_id
    w.do(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(
        epoch=1, decisions=[commands_pb2.DispatchDecision(run_id=extract, attempt=1, agent_id="a1")])))
    w.do(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id="a1", events=[
        agent_pb2.RunEvent(kind=agent_pb2.RunEvent.FINISHED, run_id=extract, attempt=1, epoch=1,
                           outputs={"rows": "42", "bad key": "x"})])))
    assert dict(w.store.get_run(extract).outputs) == {"rows": "42"}  # type: ignore[union-attr]
    transform = w.store.get_run(w.tasks(wrun)["transform"].run_id)
    assert transform is not None and transform.spec.env["WLOADCTL_UPSTREAM_EXTRACT_ROWS"] == "42"
