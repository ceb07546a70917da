"""The change feed under watches (state/changes.py): what an entry changed, bounded, resumable."""

from __future__ import annotations

import pytest

from wloadctl.state.changes import JOB, RUN, Change, ChangeFeed, ChangeSink, FeedGap


def test_the_sink_keeps_the_last_write_of_a_key_per_entry_and_forgets_a_rolled_back_command() -> None:
    sink = ChangeSink()
    sink.put(RUN, "r1", b"queued")
    sink.put(RUN, "r1", b"dispatched")
    mark = sink.mark()
    sink.put(RUN, "r1", b"doomed")
    sink.put(JOB, "j", b"doomed")
    sink.rollback(mark)
    sink.delete(RUN, "r2")
    assert sink.take() == (Change(RUN, "r1", b"dispatched"), Change(RUN, "r2", None))
    assert sink.take() == ()


def test_a_rollback_restores_a_key_written_before_the_mark_and_drops_one_written_after() -> None:
    sink = ChangeSink()
    sink.put(RUN, "r1", b"a")
    mark = sink.mark()
    sink.put(RUN, "r1", b"b")
    sink.delete(RUN, "r1")
    sink.put(RUN, "r9", b"x")
    sink.rollback(mark)
    assert sink.take() == (Change(RUN, "r1", b"a"),)


def _entry(index: int, size: int = 10) -> tuple[int, tuple[Change, ...]]:
    return index, (Change(RUN, f"r{index}", b"x" * size),)


def test_since_gives_the_entries_after_an_index_in_order_and_the_head_it_reached() -> None:
    feed = ChangeFeed(applied=5)
    for i in (6, 7, 9):
        feed.append(*_entry(i))
    feed.append(10, ())  # no change of ours (a no-op entry): moves the head only
    entries, reached = feed.since(6)
    assert [e.index for e in entries] == [7, 9] and reached == 10
    entries, reached = feed.since(5, limit=2)
    assert [e.index for e in entries] == [6, 7] and reached == 7
    assert feed.since(10) == ([], 10)
    # A position ahead of this replica (seen on another one) waits for what comes after it.
    assert feed.since(12) == ([], 12)
    feed.append(*_entry(13))
    assert [e.index for e in feed.since(12)[0]] == [13]


def test_an_old_index_or_a_replayed_one_changes_nothing() -> None:
    feed = ChangeFeed(applied=5)
    feed.append(*_entry(6))
    feed.append(*_entry(6))
    feed.append(*_entry(4))
    assert [e.index for e in feed.since(5)[0]] == [6]


def test_the_feed_drops_its_oldest_entries_past_its_bounds_and_a_reader_behind_them_gets_a_gap() -> None:
    feed = ChangeFeed(applied=0, max_bytes=10_000, max_entries=3)
    for i in range(1, 6):
        feed.append(*_entry(i))
    held, _, base = feed.stats()
    assert held == 3 and base == 2
    assert [e.index for e in feed.since(2)[0]] == [3, 4, 5]
    with pytest.raises(FeedGap) as gap:
        feed.since(1)
    assert gap.value.first == 2
    small = ChangeFeed(applied=0, max_bytes=600)
    for i in range(1, 50):
        small.append(*_entry(i, size=100))
    held, size, base = small.stats()
    assert size <= 600 and held >= 1 and base == 49 - held


def test_many_drops_keep_the_feed_correct_after_it_compacts_its_list() -> None:
    feed = ChangeFeed(applied=0, max_entries=10)
    for i in range(1, 5000):
        feed.append(*_entry(i))
    assert [e.index for e in feed.since(4995)[0]] == [4996, 4997, 4998, 4999]
    assert feed.stats()[0] == 10


def test_a_reset_means_nothing_before_it_can_be_replayed_and_listeners_hear_every_index() -> None:
    heard: list[int] = []
    feed = ChangeFeed(applied=0)
    feed.listeners.append(heard.append)
    feed.append(*_entry(1))
    feed.append(2, ())
    feed.reset(40)
    with pytest.raises(FeedGap):
        feed.since(2)
    assert feed.since(40) == ([], 40)
    assert heard == [1, 2, 40]
