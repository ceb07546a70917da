"""A test-only wall-clock offset for the chaos suite's clock-jump nemesis.

libfaketime hangs Python 3.11's threads, so the leader's clock is shifted from inside:
when WLOADCTL_TEST_CLOCK_OFFSET_FILE names a file, the time the leader stamps into
commands is time.time() plus the number of seconds written in that file (re-read at most
every 0.2 s). Nothing else uses it, and it is off unless that variable is set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

ENV = "WLOADCTL_TEST_CLOCK_OFFSET_FILE"


def wall_clock() -> Callable[[], float]:
    path = os.environ.get(ENV)
    if not path:
        return time.time
    source = Path(path)
    cache = {"at": 0.0, "offset": 0.0}

    def clock() -> float:
        now = time.monotonic()
        if now - cache["at"] > 0.2:
            cache["at"] = now
            try:
                cache["offset"] = float(source.read_text().strip() or 0)
            except (OSError, ValueError):
                cache["offset"] = 0.0
        return time.time() + cache["offset"]

    return clock
