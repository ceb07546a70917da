"""`python -m wloadctl`: the same entry point as the `wloadctl` command (replicas are started this way)."""

import ctypes
import os
import signal
import sys

from wloadctl.cli.main import main

# Set by `wloadctl up` for the replicas and agents it starts: they must not outlive it.
PARENT_ENV = "WLOADCTL_DIE_WITH_PARENT"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """SIGTERM this process when the process that started it dies (Linux).

    Done here rather than in a preexec_fn: `up` starts processes while gRPC's threads run, and
    code between fork and exec is unsafe then. The parent may already be gone by the time we
    get here, so the parent pid is checked after the signal is armed."""
    parent = os.environ.pop(PARENT_ENV, "")
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:
        sys.exit(0)


if __name__ == "__main__":
    _die_with_parent()
    sys.exit(main())
