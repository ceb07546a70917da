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


def test_a_nemesis_whose_faults_never_happened_fails_the_scenario() -> None:
    from chaos.runner import faults_took_effect

    events: list[dict[str, object]] = [
        {"t": 1.0, "nemesis": "kill-leader", "inject": "killed r1"}, {"t": 4.0, "nemesis": "kill-leader", "heal": True},
        {"t": 6.0, "nemesis": "transfer-leader", "no_effect": "transfer refused: no quorum"},
    ]
    found = faults_took_effect(events, ["kill-leader", "transfer-leader"])
    assert not found.ok and "transfer-leader" in found.summary and "no quorum" in found.details[0]
    events.append({"t": 9.0, "nemesis": "transfer-leader", "inject": "leader is now r2"})
    found = faults_took_effect(events, ["kill-leader", "transfer-leader"])
    assert found.ok and "2 faults made, 1 turns without effect" in found.summary


def test_logs_explained_flags_critical_records_exceptions_and_stray_output(tmp_path: Path) -> None:
    from chaos.runner import logs_explained

    ok = {"ts": "t", "level": "info", "msg": "replica started"}
    (tmp_path / "r1.log").write_text(json.dumps(ok) + "\n")
    assert logs_explained(tmp_path, ["kill-leader"]).ok
    disk = {"ts": "t", "level": "critical", "msg": "disk full: cannot write the journal"}
    (tmp_path / "r2.log").write_text(json.dumps(disk) + "\n")
    assert logs_explained(tmp_path, ["disk-full"]).ok  # the fault explains it
    found = logs_explained(tmp_path, ["kill-leader"])
    assert not found.ok and "r2.log:1: CRITICAL disk full" in found.details[0]
    (tmp_path / "r2.log").unlink()
    crash = {"ts": "t", "level": "error", "msg": "tick failed", "exc": "Traceback ...\nKeyError: 'x'"}
    (tmp_path / "agent-a1.log").write_text(json.dumps(crash) + "\nTraceback (most recent call last):\n")
    found = logs_explained(tmp_path, [])
    assert not found.ok and len(found.details) == 2
    assert "(KeyError: 'x')" in found.details[0] and "not a log record: Traceback" in found.details[1]
