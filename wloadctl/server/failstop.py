"""Fail-stop of a replica whose journal or state could not be written (disk full, I/O error), or
whose log holds an entry its version cannot apply."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn

from wloadctl.fsutil import StorageFailure
from wloadctl.state.store import IncompatibleEntryError

log = logging.getLogger("wloadctl.server")


def fail_stop(failure: StorageFailure) -> NoReturn:
    """Log the failure at CRITICAL and end the process at once.

    os._exit, not sys.exit: this runs on the Raft thread (or the asyncio loop), and any orderly
    shutdown would sync the journal again and let pysyncobj send more messages. Nothing staged
    since the last successful commit is on disk, so an abrupt end loses nothing acknowledged.
    """
    _stop(failure.message(), failure.exit_code, {"path": str(failure.path), "free_bytes": failure.free_bytes})


def fail_stop_incompatible(error: IncompatibleEntryError) -> NoReturn:
    """An entry this version cannot apply: stop before anything of it is written, and before
    pysyncobj can retry it (it would, on every tick, with the replica still voting and answering)."""
    _stop(str(error), error.exit_code, {"raft_index": error.raft_index})


def _stop(message: str, exit_code: int, extra: dict[str, object]) -> NoReturn:
    log.critical(message, extra={**extra, "exit_code": exit_code})
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(exit_code)
