"""Password hashing runs in its own threads, at a lower CPU priority than the replica's others."""

from __future__ import annotations

import os
import threading

from wloadctl.api import auth


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_hashing_threads_are_nicer_than_the_thread_that_serves_calls() -> None:
    mine = _niceness()
    theirs = auth._hashing_pool().submit(_niceness).result(timeout=10)
    assert theirs == min(19, mine + auth.HASHING_NICENESS)
    assert _niceness() == mine  # only those threads: the caller's priority is unchanged
