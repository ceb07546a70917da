"""Replicas hold byte-identical state: the same log gives the same digest in every process.

Replicas are separate processes, and protobuf's default serialization writes map entries in
hash-table order, which upb seeds randomly in every process (PYTHONHASHSEED does not fix it).
These tests apply the same command logs in several worker processes and compare digests; the
workers also get different PYTHONHASHSEED values, so Python's own hashing differs too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wloadctl.proto.v1 import agent_pb2, commands_pb2, jobs_pb2, runs_pb2
from wloadctl.state.encoding import encode
from wloadctl.state.store import FORMAT_VERSION, Store
from wloadctl.testing.builders import apply_cmd, batch
from wloadctl.testing.replay import replay

HASH_SEEDS = ("1", "2", "3")


class Worker:
    """``python -m wloadctl.testing.replay`` with a fixed hash seed, fed one log at a time."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wloadctl.testing.replay"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONHASHSEED": seed}, text=True)

    def digest(self, directory: Path, entries: list[bytes]) -> tuple[int, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"dir": str(directory), "entries": [e.hex() for e in entries]}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"replay worker (PYTHONHASHSEED={self.seed}) exited with {self.proc.wait(timeout=10)}"
        answer = json.loads(line)
        return answer["applied"], answer["digest"]

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def workers() -> Iterator[list[Worker]]:
    started = [Worker(seed) for seed in HASH_SEEDS]
    yield started
    for w in started:
        w.stop()


def _digests(workers: list[Worker], root: Path, entries: list[bytes]) -> dict[str, tuple[int, str]]:
    root.mkdir(parents=True, exist_ok=True)
    n = len(list(root.iterdir()))
    return {w.seed: w.digest(root / f"{n}-seed{w.seed}", entries) for w in workers}


def _run_log(labels: dict[str, str], env: dict[str, str], params: dict[str, str],
             agent_labels: dict[str, str]) -> list[bytes]:
    """A job with these maps, an epoch, an agent, a run with params, its dispatch and start."""
    spec = jobs_pb2.JobSpec(name="etl", labels=labels, env=env, agent_selector={},
                            command=jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=["/bin/true"])))
    return [
        batch(apply_cmd(spec, key="apply-1"), time_ms=1_000),
        batch(commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)),
              time_ms=1_010),
        batch(commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
            agent=runs_pb2.Agent(agent_id="a1", capacity=4, labels=agent_labels))), time_ms=1_020),
        batch(commands_pb2.Command(idempotency_key="run-1", trigger_run=commands_pb2.TriggerRun(
            job_name="etl", params=params)), time_ms=1_030),
        batch(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(epoch=1, decisions=[
            commands_pb2.DispatchDecision(run_id="r1", attempt=1, agent_id="a1")])), time_ms=1_040),
        batch(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id="a1", events=[
            agent_pb2.RunEvent(kind=agent_pb2.RunEvent.STARTED, run_id="r1", attempt=1, epoch=1, pid=7)])),
            time_ms=1_050),
    ]


FIVE = {f"key{i}": f"value{i}" for i in range(5)}


def test_five_labels_env_and_params_give_one_digest_in_every_process(workers: list[Worker],
                                                                      tmp_path: Path) -> None:
    # The reproduction: one job with five labels and five env values, a run with params.
    entries = _run_log(FIVE, {k.upper(): v for k, v in FIVE.items()}, FIVE, FIVE)
    digests = _digests(workers, tmp_path, entries)
    assert len(set(digests.values())) == 1, digests
    assert next(iter(digests.values()))[0] == len(entries)


_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)
_maps = st.dictionaries(_text, _text, min_size=2, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=_maps, env=_maps, params=_maps, agent_labels=_maps)
def test_any_maps_give_one_digest_in_every_process(workers: list[Worker], tmp_path: Path,
                                                   labels: dict[str, str], env: dict[str, str],
                                                   params: dict[str, str], agent_labels: dict[str, str]) -> None:
    env = {k.upper(): v for k, v in env.items()}
    digests = _digests(workers, tmp_path / "any", _run_log(labels, env, params, agent_labels))
    assert len(set(digests.values())) == 1, digests


def _non_canonical(message: jobs_pb2.JobVersion) -> bytes:
    """The same message with its labels written in reverse key order (what an older version
    could store): repeated embedded messages merge when parsed, map entries in byte order."""
    base = jobs_pb2.JobVersion()
    base.CopyFrom(message)
    base.spec.ClearField("labels")
    raw = encode(base)
    for key in sorted(message.spec.labels, reverse=True):
        raw += jobs_pb2.JobVersion(spec=jobs_pb2.JobSpec(labels={key: message.spec.labels[key]})).SerializeToString()
    assert jobs_pb2.JobVersion.FromString(raw) == message and raw != encode(message)
    return raw


def test_an_older_data_dir_is_rewritten_canonically_when_opened(tmp_path: Path) -> None:
    entries = _run_log(FIVE, FIVE, FIVE, FIVE)
    expected = replay(str(tmp_path / "new"), entries)

    # A data dir as an older version left it: non-canonical bytes and no format record.
    old = tmp_path / "old"
    replay(str(old), entries)
    env = lmdb.open(str(old), max_dbs=32)
    meta, jobs = env.open_db(b"meta"), env.open_db(b"jobs")
    with env.begin(write=True) as txn:
        stored = jobs_pb2.JobVersion.FromString(txn.get(b"etl", db=jobs))
        txn.put(b"etl", _non_canonical(stored), db=jobs)
        txn.delete(b"format", db=meta)
    env.close()

    store = Store(old, map_size=64 << 20)
    try:
        assert store.format_version() == FORMAT_VERSION
        assert store.digest() == expected
    finally:
        store.close()


def test_every_stored_message_is_canonical(tmp_path: Path) -> None:
    store = Store(tmp_path / "s", map_size=64 << 20)
    try:
        for index, entry in enumerate(_run_log(FIVE, FIVE, FIVE, FIVE), start=1):
            store.apply(entry, index)
        checked = 0
        types = {b"jobs": jobs_pb2.JobVersion, b"job_versions": jobs_pb2.JobVersion, b"runs": runs_pb2.Run,
                 b"agents": runs_pb2.Agent, b"idem": commands_pb2.CommandResult}
        with store.env.begin() as txn:
            for name, message_type in types.items():
                for _, value in txn.cursor(db=store.env.open_db(name, txn=txn)):
                    assert encode(message_type.FromString(value)) == value, name
                    checked += 1
        assert checked >= 6
    finally:
        store.close()
