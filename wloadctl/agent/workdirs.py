"""Retention of the agent's per-attempt working directories (``WORK_DIR/runs/RUN-ATTEMPT``, the
scratch directory of a job without a ``workingDir``): a job firing every second leaves 86,400 a day.

Directories of attempts still running are never touched; the others go once older than the
retention (by their modification time), then the oldest while there are more than ``max_dirs``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Collection
from pathlib import Path

log = logging.getLogger(__name__)


def expire_run_dirs(root: Path, running: Collection[str], retention_s: float, max_dirs: int, now: float) -> int:
    """Remove expired attempt directories under ``root``; returns how many went. ``running``: the
    directory names (RUN-ATTEMPT) of attempts still running."""
    try:
        entries = [(e.stat(follow_symlinks=False).st_mtime, e.name) for e in os.scandir(root)
                   if e.is_dir(follow_symlinks=False) and e.name not in running]
    except FileNotFoundError:
        return 0
    except OSError as e:
        log.warning("cannot list the run directories", extra={"dir": str(root), "error": str(e)})
        return 0
    entries.sort()
    over = max(0, len(entries) - max_dirs)
    removed = 0
    for i, (mtime, name) in enumerate(entries):
        if i >= over and mtime > now - retention_s:
            break  # sorted by age: the rest are younger and within the count
        try:
            shutil.rmtree(root / name)
            removed += 1
        except OSError as e:
            log.warning("cannot remove a run directory", extra={"dir": str(root / name), "error": str(e)})
    return removed
