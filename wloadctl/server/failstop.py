"""Fail-stop of a replica whose journal or state could not be written (disk full, I/O error)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn

from wloadctl.fsutil import StorageFailure

log = logging.getLogger("wloadctl.server")


def fail_stop(failure: StorageFailure) -> NoReturn:
    """Log the failure at CRITICAL and end the process at once.

    os._exit, not sys.exit: this runs on the Raft thread (or the asyncio loop), and any orderly
    shutdown would sync the journal again and let pysyncobj send more messages. Nothing staged
    since the last successful commit is on disk, so an abrupt end loses nothing acknowledged.
    """
    log.critical(failure.message(), extra={"path": str(failure.path), "exit_code": failure.exit_code,
                                           "free_bytes": failure.free_bytes})
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(failure.exit_code)
