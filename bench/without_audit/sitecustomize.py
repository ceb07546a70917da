"""Benchmarks only (bench/auth_overhead.py): replicas started with this folder on PYTHONPATH
apply every command as shipped but write no audit records, to measure what the records cost
through the whole API. Never on a real cluster: it turns the audit log off."""

from typing import Any

from wloadctl.state.store import Store


def _no_audit(self: Store, *args: Any, **kwargs: Any) -> None:
    return None


def _no_snapshot(self: Store, *args: Any, **kwargs: Any) -> str:
    return ""  # the before/after values exist for the audit record only


Store._audit = _no_audit  # type: ignore[method-assign]
Store._snapshot = _no_snapshot  # type: ignore[method-assign]
