"""Directories a process needs, checked at start so that a bad path is a configuration error."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from wloadctl.config.errors import ConfigError


def ensure_dir(path: Path, setting: str, mode: int | None = None) -> None:
    """Create directory `path` if needed (then chmod it to `mode`) and check that files can be
    created in it, so that a bad path is a configuration error and not a failure mid-start."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{setting}: {path} is not a directory") from None
    except OSError as e:
        raise ConfigError(f"{setting}: cannot create {path}: {e.strerror}") from None
    if mode is not None:
        try:
            os.chmod(path, mode)
        except OSError as e:
            raise ConfigError(f"{setting}: cannot set mode {mode:04o} on {path}: {e.strerror}") from None
    try:
        # Also refuses a read-only file system, which os.access does not report for root.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ConfigError(f"{setting}: cannot write in {path}: {e.strerror}") from None
