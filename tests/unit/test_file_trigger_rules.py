"""File-arrival triggers: the job rules and documents, the leader's watch plan, the state's apply
(one run per file, re-checked against the job), and the agent's watcher on a real directory with a
manual clock (stability, once per file across restarts, files older than the trigger)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wloadctl.agent.durable import AgentDurableState
from wloadctl.agent.filewatch import FileWatcher
from wloadctl.model import files
from wloadctl.model.documents import parse_documents
from wloadctl.proto.v1 import agent_pb2, commands_pb2, jobs_pb2, runs_pb2
from wloadctl.scheduler.placement import AgentSlots
from wloadctl.scheduler.plan import file_arrival_command, plan_file_watches
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job
from wloadctl.testing.clock import ManualClock

# ---- rules and documents


def _problems(*triggers: jobs_pb2.FileTrigger) -> list[tuple[str, str]]:
    spec = job("j")
    spec.file_triggers.extend(triggers)
    found: list[tuple[str, str]] = []
    files.problems(spec, lambda f, r: found.append((f, r)))
    return found


def test_rules_name_the_field_and_why() -> None:
    assert _problems(jobs_pb2.FileTrigger(directory="/in", glob="*.csv")) == []
    assert [f for f, _ in _problems(jobs_pb2.FileTrigger(directory="in", glob="*.csv"))] == \
        ["file_triggers[0].directory"]
    assert [f for f, _ in _problems(jobs_pb2.FileTrigger(directory="/in", glob="a/*.csv"))] == \
        ["file_triggers[0].glob"]
    assert [f for f, _ in _problems(jobs_pb2.FileTrigger(directory="/in", glob="*", stable_ms=4_000_000))] == \
        ["file_triggers[0].stable_ms"]
    assert [f for f, _ in _problems(jobs_pb2.FileTrigger(directory="/in", glob="*", param="1x"))] == \
        ["file_triggers[0].param"]
    same = jobs_pb2.FileTrigger(directory="/in", glob="*")
    assert [f for f, _ in _problems(same, same)] == ["file_triggers[1]"]
    assert [f for f, _ in _problems(*[jobs_pb2.FileTrigger(directory=f"/d{i}", glob="*") for i in range(9)])] == \
        ["file_triggers"]


def test_documents_parse_and_render_file_triggers() -> None:
    text = """
apiVersion: wloadctl/v1
kind: Job
metadata: {name: load-orders}
spec:
  command: [/bin/true]
  fileTriggers:
    - directory: /data/inbox
      glob: "orders-*.csv"
      stableFor: 10s
      param: path
    - {directory: /data/other, glob: "*.xml", includeExisting: true}
"""
    docs = parse_documents(text, "jobs.yaml")
    spec = docs[0]
    assert [(t.directory, t.glob, t.stable_ms, t.param, t.include_existing) for t in spec.file_triggers] == \
        [("/data/inbox", "orders-*.csv", 10_000, "path", False), ("/data/other", "*.xml", 0, "", True)]
    with pytest.raises(Exception, match=r"spec.fileTriggers\[0\].dir: unknown field"):
        parse_documents(text.replace("directory: /data/inbox", "dir: /data/inbox"), "jobs.yaml")


# ---- the leader's plan


def test_watches_go_to_the_agents_the_job_may_run_on_suspended_jobs_too() -> None:
    spec = job("load")
    spec.agent_selector["zone"] = "a"
    spec.file_triggers.add(directory="/in", glob="*.csv", param="path")
    paused = job("paused")
    paused.suspended = True
    paused.agent_selector["zone"] = "a"
    paused.file_triggers.add(directory="/in", glob="*.xml")
    versions = [jobs_pb2.JobVersion(spec=spec, version=2, created_ms=5000), jobs_pb2.JobVersion(spec=paused)]
    agents = [AgentSlots("a1", {"zone": "a"}, 0, 0), AgentSlots("a2", {"zone": "b"}, 0, 0)]
    plan = plan_file_watches(versions, agents)
    # A suspended job stays watched (apply starts nothing for it): resuming does not replay the files.
    assert [w.job_name for w in plan["a1"].watches] == ["load", "paused"] and list(plan["a2"].watches) == []
    watch = plan["a1"].watches[0]
    assert (watch.directory, watch.glob, watch.stable_ms, watch.since_ms) == ("/in", "*.csv", 5000, 5000)
    assert watch.id == files.watch_id("load", 0, spec.file_triggers[0])
    # The id survives a new version with the same directory and glob, not a changed glob.
    changed = jobs_pb2.FileTrigger(directory="/in", glob="*.txt")
    assert files.watch_id("load", 0, changed) != watch.id


# ---- the state


def test_one_run_per_file_with_its_path_and_apply_rechecks_the_trigger(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    index = 0

    def do(cmd: commands_pb2.Command) -> commands_pb2.CommandResult:
        nonlocal index
        index += 1
        out = store.apply(commands_pb2.CommandBatch(time_ms=1000 + index, commands=[cmd]).SerializeToString(), index)
        assert out is not None
        return out[0]

    spec = job("load")
    spec.file_triggers.add(directory="/in", glob="*.csv", param="path")
    do(apply_cmd(spec))
    with store.view() as view:
        assert [j.spec.name for j in view.file_trigger_jobs(10)] == ["load"]
    wid = files.watch_id("load", 0, spec.file_triggers[0])
    arrival = agent_pb2.FileArrival(watch_id=wid, job_name="load", path="/in/a.csv", size=3, mtime_ns=7)
    first = do(file_arrival_command("a1", arrival))
    run = store.get_run(first.run_ids[0])
    assert run is not None and dict(run.params) == {"path": "/in/a.csv"} and run.state == runs_pb2.QUEUED
    assert "file /in/a.csv (found by agent a1)" in run.transitions[0].cause
    assert list(do(file_arrival_command("a2", arrival)).run_ids) == list(first.run_ids)  # the same file, once
    outside = agent_pb2.FileArrival(watch_id=wid, job_name="load", path="/etc/passwd", size=3, mtime_ns=7)
    assert do(file_arrival_command("a1", outside)).code != 0
    stale = agent_pb2.FileArrival(watch_id="load/0:000000000000", job_name="load", path="/in/b.csv", size=1,
                                  mtime_ns=1)
    assert not do(file_arrival_command("a1", stale)).run_ids
    do(apply_cmd(job("load")))  # the trigger removed: no longer in the index, arrivals start nothing
    with store.view() as view:
        assert view.file_trigger_jobs(10) == []
    later = agent_pb2.FileArrival(watch_id=wid, job_name="load", path="/in/c.csv", size=1, mtime_ns=2)
    assert not do(file_arrival_command("a1", later)).run_ids


# ---- the agent's watcher


def _watch(directory: Path, since_ms: int = 0, include_existing: bool = False) -> agent_pb2.FileWatches:
    return agent_pb2.FileWatches(watches=[agent_pb2.FileWatch(
        id="load/0:abc", job_name="load", directory=str(directory), glob="*.csv", stable_ms=2000,
        include_existing=include_existing, since_ms=since_ms)])


def _write(path: Path, text: str, mtime_s: float | None = None) -> None:
    path.write_text(text)
    if mtime_s is not None:
        os.utime(path, (mtime_s, mtime_s))


def test_a_file_is_ready_once_stable_and_reported_once_across_restarts(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    clock = ManualClock(100.0)
    durable = AgentDurableState(tmp_path / "state")
    watcher = FileWatcher(durable, clock=clock)
    watcher.set_watches(_watch(inbox))
    _write(inbox / "a.csv", "1")
    _write(inbox / "skip.txt", "x")
    assert watcher.scan() == []           # first seen
    clock.advance(1.0)
    _write(inbox / "a.csv", "12")         # still growing
    assert watcher.scan() == []
    clock.advance(1.5)
    assert watcher.scan() == []           # 1.5 s unchanged < 2 s
    clock.advance(1.0)
    ready = watcher.scan()
    assert [(a.path, a.size) for a in ready] == [(str(inbox / "a.csv"), 2)]
    clock.advance(1.0)
    assert watcher.scan() == []           # pending, not reported twice
    watcher.acknowledged(ready)
    assert watcher.pending == {}
    durable.close()
    # A restarted agent remembers it.
    durable = AgentDurableState(tmp_path / "state")
    again = FileWatcher(durable, clock=clock)
    again.set_watches(_watch(inbox))
    again.scan()
    clock.advance(3.0)
    assert again.scan() == []
    # Removed and written anew: a new file.
    (inbox / "a.csv").unlink()
    again.scan()
    _write(inbox / "a.csv", "new")
    again.scan()
    clock.advance(3.0)
    assert [a.size for a in again.scan()] == [3]
    durable.close()


def test_files_older_than_the_trigger_are_ignored_unless_asked(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    _write(inbox / "old.csv", "o", mtime_s=1000.0)
    _write(inbox / "new.csv", "n", mtime_s=3000.0)
    clock = ManualClock(0.0)
    durable = AgentDurableState(tmp_path / "state")
    watcher = FileWatcher(durable, clock=clock)
    watcher.set_watches(_watch(inbox, since_ms=2_000_000))
    watcher.scan()
    clock.advance(3.0)
    assert [Path(a.path).name for a in watcher.scan()] == ["new.csv"]
    # A watch first given to this agent keeps its first time, whatever a later version says.
    watcher.set_watches(_watch(inbox, since_ms=9_000_000))
    assert durable.watch_since("load/0:abc", 1) == 2_000_000
    # Dropped and given again with include_existing: the old file too.
    watcher.set_watches(agent_pb2.FileWatches())
    assert durable.known_watches() == []
    watcher.set_watches(_watch(inbox, since_ms=2_000_000, include_existing=True))
    watcher.scan()
    clock.advance(3.0)
    assert sorted(Path(a.path).name for a in watcher.scan()) == ["new.csv", "old.csv"]
    durable.close()


def test_an_unreadable_directory_is_reported_not_fatal(tmp_path: Path) -> None:
    durable = AgentDurableState(tmp_path / "state")
    watcher = FileWatcher(durable, clock=ManualClock(0.0))
    watcher.set_watches(_watch(tmp_path / "missing"))
    assert watcher.scan() == [] and watcher.scan() == []
    durable.close()
