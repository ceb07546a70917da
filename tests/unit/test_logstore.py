"""The agent's local log store: offsets, completion, restart, retention, truncation, path safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from wloadctl.agent.logstore import LogStore, LogStoreError, truncation_marker


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def write_log(store: LogStore, run_id: str, data: bytes, attempt: int = 1) -> None:
    w = store.open(run_id, attempt)
    w.write("stdout", data)
    w.close()


def test_read_with_offsets_and_complete_flag(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.open("run1", 1)
    w.write("stdout", b"hello ")
    w.write("stderr", b"world\n")

    chunk = store.read("run1", 1)
    assert (chunk.data, chunk.next_offset, chunk.found, chunk.complete) == (b"hello world\n", 12, True, False)
    part = store.read("run1", 1, offset=3, limit=4)
    assert (part.data, part.next_offset, part.complete) == (b"lo w", 7, False)

    w.write("stdout", b"more")
    w.close()
    assert w.closed
    rest = store.read("run1", 1, offset=chunk.next_offset)
    assert (rest.data, rest.next_offset, rest.complete) == (b"more", 16, True)
    # a closed log read only part of the way is not complete yet: the reader has more to fetch
    head = store.read("run1", 1, offset=0, limit=5)
    assert (head.data, head.complete) == (b"hello", False)
    end = store.read("run1", 1, offset=16)
    assert (end.data, end.next_offset, end.complete) == (b"", 16, True)
    beyond = store.read("run1", 1, offset=100)
    assert (beyond.data, beyond.next_offset, beyond.found) == (b"", 100, True)


def test_unknown_log_not_found(tmp_path: Path) -> None:
    chunk = LogStore(tmp_path).read("nope", 1)
    assert (chunk.found, chunk.complete, chunk.data) == (False, False, b"")


def test_survives_reopen(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    write_log(store, "done-run", b"finished output\n")
    unfinished = store.open("crashed", 2)
    unfinished.write("stdout", b"partial")
    # a new store on the same root, as after an agent restart; the old writer's fd is simply abandoned
    again = LogStore(tmp_path)
    chunk = again.read("done-run", 1)
    assert (chunk.data, chunk.complete) == (b"finished output\n", True)
    crashed = again.read("crashed", 2)
    assert (crashed.data, crashed.found, crashed.complete) == (b"partial", True, False)
    assert again.total_bytes() == len(b"finished output\n") + len(b"partial")
    unfinished.close()


def test_reopen_same_run_starts_over(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    write_log(store, "r", b"first attempt output")
    w = store.open("r", 1)
    chunk = store.read("r", 1)
    assert (chunk.data, chunk.complete) == (b"", False)
    with pytest.raises(LogStoreError):
        store.open("r", 1)
    w.write("stdout", b"second")
    w.close()
    assert store.read("r", 1).data == b"second"
    with pytest.raises(ValueError):
        w.write("stdout", b"after close")


def test_truncation_marker(tmp_path: Path) -> None:
    store = LogStore(tmp_path, max_bytes_per_run=10)
    w = store.open("big", 1)
    w.write("stdout", b"123456")
    w.write("stderr", b"789abc")
    w.write("stdout", b"dropped")
    w.close()
    assert w.truncated and w.bytes_received == 19
    assert store.read("big", 1).data == b"123456789a" + truncation_marker(10)
    assert truncation_marker(10) == b"\n[wloadctl: log truncated at 10 bytes]\n"


def test_expire_by_age(tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    store = LogStore(tmp_path, retention_seconds=50, clock=clock)
    write_log(store, "old", b"x" * 10)
    clock.now = 100.0
    write_log(store, "new", b"y" * 10)
    still_open = store.open("running", 1)
    still_open.write("stdout", b"z")

    clock.now = 120.0  # "old" finished 120 s ago, "new" 20 s ago
    assert store.expire() == 1
    assert not store.read("old", 1).found
    assert not (tmp_path / "old-1.log").exists()
    assert store.read("new", 1).found
    clock.now = 10_000.0
    assert store.expire() == 1  # "new"; an open log is never expired, however old
    assert store.read("running", 1).found
    still_open.close()

    # ages come from the sidecar, so they survive a restart
    clock.now = 20_000.0
    write_log(store, "before-restart", b"a")
    restarted = LogStore(tmp_path, retention_seconds=50, clock=FakeClock(20_040.0))
    assert restarted.expire() == 1  # only "running", closed at 10_000
    later = LogStore(tmp_path, retention_seconds=50, clock=FakeClock(20_060.0))
    assert later.expire() == 1
    assert list(tmp_path.glob("*.log")) == []


def test_expire_by_total_size_oldest_first(tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    store = LogStore(tmp_path, max_total_bytes=250, clock=clock)
    for i, name in enumerate(["a", "b", "c"]):
        clock.now = float(i)
        write_log(store, name, bytes(100))
    assert store.total_bytes() == 300
    assert store.expire() == 1
    assert [store.read(n, 1).found for n in "abc"] == [False, True, True]
    assert store.total_bytes() == 200
    assert store.expire() == 0

    big = store.open("open-run", 1)
    big.write("stdout", bytes(300))
    assert store.expire() == 2  # the open log alone is over the limit: everything closed goes, it stays
    assert store.read("open-run", 1).found
    big.close()


@pytest.mark.parametrize("run_id", ["../etc", "a/b", "", "x" * 129, "a b", "/abs", "run\n", "é"])
def test_invalid_run_ids_rejected(tmp_path: Path, run_id: str) -> None:
    store = LogStore(tmp_path / "logs")
    with pytest.raises(ValueError):
        store.open(run_id, 1)
    with pytest.raises(ValueError):
        store.read(run_id, 1)
    assert [p.name for p in (tmp_path / "logs").iterdir()] == ["index"]


@pytest.mark.parametrize("attempt", [-1, True, "1", 1.0, 10**18])
def test_invalid_attempts_rejected(tmp_path: Path, attempt: object) -> None:
    with pytest.raises(ValueError):
        LogStore(tmp_path).open("run", attempt)  # type: ignore[arg-type]


def test_valid_odd_ids_stay_inside_root(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    for run_id in ["..", ".", "-", "a-1", "A.b_c-9"]:
        write_log(store, run_id, run_id.encode(), attempt=7)
        assert store.read(run_id, 7).data == run_id.encode()
    assert all(p.parent == tmp_path / "logs" for p in (tmp_path / "logs").iterdir())
    # "a-1" attempt 7 and "a" attempt 17 must not collide
    write_log(store, "a", b"other", attempt=17)
    assert store.read("a-1", 7).data == b"a-1"
    assert LogStore(tmp_path / "logs").read("a", 17).data == b"other"


def test_journal_survives_torn_record_and_reopen(tmp_path: Path) -> None:
    clock = FakeClock(5.0)
    store = LogStore(tmp_path, clock=clock)
    write_log(store, "kept", b"k")
    write_log(store, "rerun", b"first")
    rerun = store.open("rerun", 1)  # a new writer of a closed log: its old "done" must not survive a crash
    rerun.write("stdout", b"second, unfinished")
    with (tmp_path / "index").open("a") as f:
        f.write("D kept-1 1.5e")  # a record torn by a crash, without its newline
    restarted = LogStore(tmp_path, clock=clock)
    assert restarted.read("kept", 1).complete
    crashed = restarted.read("rerun", 1)
    assert (crashed.data, crashed.complete) == (b"second, unfinished", False)
    rerun.close()
    # the restart rewrote the journal cleanly: appends after it parse
    write_log(restarted, "after", b"a")
    again = LogStore(tmp_path, clock=clock)
    assert again.read("after", 1).complete and again.read("kept", 1).complete
    assert not again.read("rerun", 1).complete


def test_journal_compacted_by_expire(tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    store = LogStore(tmp_path, retention_seconds=10, clock=clock)
    for i in range(1200):
        write_log(store, f"r{i}", b"")
    clock.now = 100.0
    write_log(store, "young", b"y")
    assert store.expire() == 1200
    assert (tmp_path / "index").read_text() == "D young-1 100.0\n"
    assert LogStore(tmp_path, clock=clock).read("young", 1).complete
