"""Test-only hooks that let the chaos suite place a fault on a protocol event.

Off unless the variable is set (the chaos runner and tests set it for the replicas they start;
``wloadctl up`` and the shipped units never do). Each reads a small file next to the replica's
data dir, so a nemesis can arm and disarm it while the replica runs.

WLOADCTL_TEST_INSTALL_PAUSE_FILE: seconds to pause in the middle of a snapshot install, after the
state was replaced and before the Raft journal is reset: the one moment the two disagree, where a
crash must still recover (raft/recovery.py). The pause is logged, so a nemesis knows when to kill.

WLOADCTL_TEST_DISPATCH_PAUSE_FILE: seconds the leader pauses after a dispatch was committed and
before its assignments are sent: a leader killed there leaves DISPATCHED runs no agent has heard
of, which the next leader must find in its inquiry and send again.

WLOADCTL_TEST_TAKEOVER_PAUSE_FILE: seconds a new leader pauses after its agent quorum confirmed
and before it reconciles: a leader killed there leaves agents confirmed to an epoch whose leader
is gone, and the next takeover must start over from the state.
"""

from __future__ import annotations

import os
from pathlib import Path

INSTALL_PAUSE_ENV = "WLOADCTL_TEST_INSTALL_PAUSE_FILE"
DISPATCH_PAUSE_ENV = "WLOADCTL_TEST_DISPATCH_PAUSE_FILE"
TAKEOVER_PAUSE_ENV = "WLOADCTL_TEST_TAKEOVER_PAUSE_FILE"
MAX_PAUSE_S = 30.0


def install_pause_s() -> float:
    """0 unless the hook is armed; never more than MAX_PAUSE_S."""
    return _pause(INSTALL_PAUSE_ENV)


def dispatch_pause_s() -> float:
    """0 unless the hook is armed; never more than MAX_PAUSE_S."""
    return _pause(DISPATCH_PAUSE_ENV)


def takeover_pause_s() -> float:
    """0 unless the hook is armed; never more than MAX_PAUSE_S."""
    return _pause(TAKEOVER_PAUSE_ENV)


def _pause(env: str) -> float:
    path = os.environ.get(env)
    if not path:
        return 0.0
    try:
        seconds = float(Path(path).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0.0
    return min(max(seconds, 0.0), MAX_PAUSE_S)
