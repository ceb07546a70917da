"""The chaos suite's test-only pauses are off unless armed, and bounded when they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from wloadctl.raft import testhooks


def test_off_unless_the_variable_names_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(testhooks.INSTALL_PAUSE_ENV, raising=False)
    monkeypatch.delenv(testhooks.DISPATCH_PAUSE_ENV, raising=False)
    assert testhooks.install_pause_s() == 0 and testhooks.dispatch_pause_s() == 0
    monkeypatch.setenv(testhooks.DISPATCH_PAUSE_ENV, str(tmp_path / "absent"))
    assert testhooks.dispatch_pause_s() == 0  # the harness sets the variable for every replica


@pytest.mark.parametrize(("text", "seconds"), [("2.5", 2.5), ("0", 0.0), ("", 0.0), ("junk", 0.0), ("-4", 0.0),
                                               ("3600", testhooks.MAX_PAUSE_S)])
def test_armed_pause_is_read_from_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str,
                                           seconds: float) -> None:
    hook = tmp_path / "r1.install-pause"
    hook.write_text(text)
    monkeypatch.setenv(testhooks.INSTALL_PAUSE_ENV, str(hook))
    assert testhooks.install_pause_s() == seconds
