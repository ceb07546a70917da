"""Retention of job versions: the newest JOB_VERSIONS_KEPT of each job stay, trimmed at apply in
bounded steps, the same on every replica; and the state's sizes report what is kept."""

from __future__ import annotations

from pathlib import Path

from wloadctl.proto.v1 import commands_pb2
from wloadctl.state.store import JOB_VERSIONS_KEPT, Store
from wloadctl.testing.builders import apply_cmd, job


def _store_with_versions(path: Path, count: int) -> Store:
    store = Store(path)
    for i in range(1, count + 1):
        spec = job("churn")
        spec.description = f"v{i}"
        out = store.apply(commands_pb2.CommandBatch(time_ms=1000 + i, commands=[apply_cmd(spec)]).SerializeToString(),
                          i)
        assert out is not None and out[0].code == 0
    return store


def test_the_newest_versions_are_kept_and_the_oldest_go(tmp_path: Path) -> None:
    total = JOB_VERSIONS_KEPT + 25
    store = _store_with_versions(tmp_path / "a", total)
    assert store.get_job("churn").version == total  # type: ignore[union-attr]
    assert store.oldest_version("churn") == total - JOB_VERSIONS_KEPT + 1
    assert store.get_job("churn", total - JOB_VERSIONS_KEPT) is None
    assert store.get_job("churn", total - JOB_VERSIONS_KEPT + 1).spec.description == f"v{26}"  # type: ignore[union-attr]
    sizes = store.sizes()
    assert (sizes.jobs, sizes.job_versions) == (1, JOB_VERSIONS_KEPT) and sizes.state_bytes > 0
    # Another replica applying the same entries holds the same bytes.
    other = _store_with_versions(tmp_path / "b", total)
    assert store.digest() == other.digest()


def test_a_job_under_the_bound_keeps_every_version(tmp_path: Path) -> None:
    store = _store_with_versions(tmp_path / "s", 5)
    assert store.oldest_version("churn") == 1 and store.sizes().job_versions == 5
