"""The one error type of configuration, and how an OSError reads to an operator."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting that cannot work, with a message that names it (`wloadctl server` exits 2)."""


def describe_error(error: Exception) -> str:
    """One line for an operator: "PATH: reason" for an OSError, not "[Errno 17] File exists: 'PATH'"."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error)
