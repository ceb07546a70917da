"""What the chaos runner quotes from a replica's or agent's log when that process has exited."""

from __future__ import annotations

import json
from pathlib import Path

from chaos.runner import _error_lines, _exit_status


def _record(level: str, msg: str, **extra: object) -> str:
    return json.dumps({"ts": "2026-11-30T10:00:00.000Z", "level": level, "logger": "wloadctl.server", "msg": msg,
                       **extra})


def test_quotes_the_last_error_lines_and_never_a_traceback(tmp_path: Path) -> None:
    log = tmp_path / "r1.log"
    log.write_text("\n".join([
        _record("info", "replica started"),
        _record("error", "cannot start: data_dir: cannot open the state",
                exc='Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nlmdb.Error: boom'),
        "Traceback (most recent call last):",
        '  File "/w/wloadctl/state/store.py", line 100, in _open',
        "    self.env = lmdb.open(",
        "lmdb.MemoryError: /data/r1/state: Cannot allocate memory",
        "error: internal error: MemoryError: /data/r1/state: Cannot allocate memory",
        "",
    ]))
    assert _error_lines(log) == [
        "ERROR: cannot start: data_dir: cannot open the state (lmdb.Error: boom)",
        "lmdb.MemoryError: /data/r1/state: Cannot allocate memory",
        "error: internal error: MemoryError: /data/r1/state: Cannot allocate memory",
    ]


def test_a_critical_record_is_an_error_line(tmp_path: Path) -> None:
    log = tmp_path / "r2.log"
    log.write_text(_record("critical", "disk full: /data/r2/journal", exit_code=3) + "\n"
                   + _record("info", "shutting down") + "\n")
    assert _error_lines(log) == ["CRITICAL: disk full: /data/r2/journal"]


def test_without_an_error_line_the_last_line_is_quoted(tmp_path: Path) -> None:
    log = tmp_path / "a1.log"
    log.write_text(_record("info", "connected") + "\n" + _record("warning", "stream ended") + "\n\n")
    assert _error_lines(log) == ["(no error line; its last line: WARNING: stream ended)"]
    empty = tmp_path / "a2.log"
    empty.write_text("")
    assert _error_lines(empty) == ["(empty)"]
    assert _error_lines(tmp_path / "missing.log")[0].startswith("(cannot read it:")


def test_exit_status_names_the_signal() -> None:
    assert _exit_status(3) == "exit code 3"
    assert _exit_status(-9) == "signal 9 (SIGKILL)"
