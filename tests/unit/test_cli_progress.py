"""Progress on stderr for long CLI work (cli/progress.py): only for a person at a terminal, never
in -o json|yaml output or a pipe, and gone when the work is done."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.unit.test_cli import Fake, _no_env_server, fake, run  # noqa: F401 (fixtures)
from wloadctl.cli import progress as progress_module
from wloadctl.cli.progress import Progress
from wloadctl.model.documents import load_documents


@pytest.fixture(autouse=True)
def _a_capable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")  # whatever the terminal (or CI) running the tests says


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_counts_on_a_terminal_after_half_a_second_and_erases_itself() -> None:
    stream, clock = Terminal(), Clock()
    with Progress("table", "reading audit records", stream=stream, clock=clock) as p:
        p.update(10)
        assert stream.getvalue() == ""  # quick work prints nothing
        clock.now += 0.6
        p.update(1000)
        assert stream.getvalue() == "\rreading audit records: 1000"
        clock.now += 0.05
        p.update(1500)  # at most ten redraws a second
        assert stream.getvalue().count("\r") == 1
        clock.now += 0.1
        p.update(2000, 2000)
        assert stream.getvalue().endswith("\rreading audit records: 2000/2000")
    width = len("reading audit records: 2000/2000")
    assert stream.getvalue().endswith("\r" + " " * width + "\r")
    assert stream.getvalue().isascii()


def test_a_forced_phase_shows_at_once() -> None:
    stream = Terminal()
    with Progress("table", "reading files", stream=stream, clock=Clock()) as p:
        p.phase("applying 10 jobs")
        assert stream.getvalue() == ""
        p.phase("applying 500 jobs", force=True)
        assert stream.getvalue() == "\rapplying 500 jobs"


@pytest.mark.parametrize(("output", "stream"), [("json", Terminal()), ("yaml", Terminal()), ("table", io.StringIO())])
def test_silent_with_machine_output_or_without_a_terminal(output: str, stream: io.StringIO) -> None:
    clock = Clock()
    with Progress(output, "x", stream=stream, clock=clock) as p:
        clock.now += 10
        p.update(5)
        p.phase("y", force=True)
    assert stream.getvalue() == ""


def test_silent_on_a_dumb_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    assert not Progress("table", "x", stream=Terminal()).enabled


def test_load_documents_reports_files(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"j{i}.yaml").write_text(f"kind: Job\nmetadata: {{name: j{i}}}\nspec: {{command: [/bin/true]}}\n")
    seen: list[tuple[int, int]] = []
    specs = load_documents([str(tmp_path)], progress=lambda done, total: seen.append((done, total)))[0]
    assert len(specs) == 3 and seen == [(1, 3), (2, 3), (3, 3)]


def test_apply_shows_progress_on_stderr_only(tmp_path: Path, capsys: pytest.CaptureFixture[str], fake: Fake,  # noqa: F811
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A large apply at a terminal: its phases on stderr, erased; stdout as always."""
    path = tmp_path / "many.yaml"
    path.write_text("---\n".join(f"kind: Job\nmetadata: {{name: j{i}}}\nspec: {{command: [/bin/true]}}\n"
                                 for i in range(250)))
    terminal = Terminal()
    monkeypatch.setattr(progress_module.sys, "stderr", terminal)
    code, out, _ = run(capsys, fake, "apply", "-f", str(path))
    assert code == 0 and out.count(" created (version 1)\n") == 250
    assert "\rapplying 250 jobs" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r" + " " * len("applying 250 jobs") + "\r")
    terminal.truncate(0)
    code, out, _ = run(capsys, fake, "apply", "-f", str(path), "-o", "json")
    assert code == 0 and out.startswith("{") and terminal.getvalue() == ""
