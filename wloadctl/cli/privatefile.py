"""Files the CLI writes that only their owner may read (credentials, exports, reports)."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: str | Path, data: bytes) -> None:
    """``data`` to ``path`` with mode 0600, whole or not at all: through a temporary file beside it,
    synced, then renamed into place (a failed write never leaves half a file under the name)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # also when an older temporary file allowed more
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
