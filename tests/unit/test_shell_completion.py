"""`wloadctl completion bash|zsh|fish`: scripts generated from the parser that the real shells load
and answer with (bash always; zsh and fish where installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wloadctl.cli.completion import script, walk
from wloadctl.cli.main import main
from wloadctl.cli.parser import build_parser

BASH = shutil.which("bash")


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("completion")
    out = {}
    for shell in ("bash", "zsh", "fish"):
        out[shell] = folder / f"wloadctl.{shell}"
        out[shell].write_text(script(shell, build_parser()))
    return out


def test_the_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    printed = capsys.readouterr().out
    assert printed == script("bash", build_parser())
    assert printed.isascii()
    assert "complete -o default -F _wloadctl wloadctl" in printed


def test_help_says_how_to_install(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["completion", "--help"])
    text = capsys.readouterr().out
    assert "source <(wloadctl completion bash)" in text
    assert "~/.config/fish/completions/wloadctl.fish" in text


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["completion", "tcsh"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_the_walk_covers_the_whole_tree() -> None:
    commands = {c.key: c for c in walk(build_parser())}
    assert {"get", "get jobs", "auth policy set", "import crontab", "completion", "schema"} <= set(commands)
    root = commands[""]
    assert "apply" in root.subcommands and "completion" in root.subcommands
    output = next(o for o in root.options if "--output" in o.names)
    assert output.takes_value and output.choices == ("table", "json", "yaml")
    stale = next(o for o in commands["get jobs"].options if "--stale" in o.names)
    assert not stale.takes_value
    # audit export's -o names a file: no choices there.
    export_o = next(o for o in commands["audit export"].options if "-o" in o.names)
    assert export_o.takes_value and not export_o.choices
    assert commands["completion"].positional_choices == ("bash", "zsh", "fish")
    for shell in ("bash", "zsh", "fish"):
        assert script(shell, build_parser()).isascii()


# ---- bash: the function, called as bash calls it ------------------------------------------------

needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


@needs_bash
def test_bash_script_syntax(scripts: dict[str, Path]) -> None:
    subprocess.run([BASH or "bash", "-n", str(scripts["bash"])], check=True, timeout=60)


def _bash_complete(path: Path, words: list[str]) -> list[str]:
    """COMPREPLY after bash runs the completion function for ``words`` (the last one is the word
    at the cursor), with COMP_WORDS and COMP_CWORD set as bash sets them."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    program = (f"source {path}\nCOMP_WORDS=({quoted})\nCOMP_CWORD={len(words) - 1}\n"
               "COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}\n"
               "_wloadctl\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    done = subprocess.run([BASH or "bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stderr == ""
    return [line for line in done.stdout.splitlines() if line]


@needs_bash
@pytest.mark.parametrize(("words", "expected"), [
    (["wloadctl", "ap"], ["apply", "apikey", "approval"]),          # a verb by its prefix
    (["wloadctl", "comp"], ["completion"]),
    (["wloadctl", "get", "j"], ["jobs", "job"]),                     # a nested verb
    (["wloadctl", "auth", "policy", ""], ["get", "set"]),           # two levels down
    (["wloadctl", "import", ""], ["crontab"]),
    (["wloadctl", "get", "jobs", "--dom"], ["--domain"]),            # an option of that command
    (["wloadctl", "run", "--wai"], ["--wait", "--wait-timeout"]),
    (["wloadctl", "-o", ""], ["table", "json", "yaml"]),            # an option's choices
    (["wloadctl", "get", "jobs", "--output", "j"], ["json"]),
    (["wloadctl", "get", "jobs", "--output", "=", "y"], ["yaml"]),   # --output=y, as bash splits it
    (["wloadctl", "up", "--replicas", ""], ["1", "3", "5"]),
    (["wloadctl", "completion", ""], ["bash", "zsh", "fish"]),       # a positional's choices
    (["wloadctl", "schema", "W"], ["Workflow"]),
    (["wloadctl", "--server", "h:1", "get", "ru"], ["runs", "run"]),  # an option's value is skipped
    (["wloadctl", "get", "--output", "json", "r"], ["runs", "run"]),
    (["wloadctl", "audit", "export", "-o", ""], []),                 # a file name: bash's default
    (["wloadctl", "frobnicate", ""], []),
])
def test_bash_completes(scripts: dict[str, Path], words: list[str], expected: list[str]) -> None:
    assert sorted(_bash_complete(scripts["bash"], words)) == sorted(expected)


@needs_bash
def test_bash_offers_every_verb(scripts: dict[str, Path]) -> None:
    offered = set(_bash_complete(scripts["bash"], ["wloadctl", ""]))
    assert offered == set(next(c for c in walk(build_parser()) if c.key == "").subcommands)


# ---- zsh: the script loads, and its function offers the same -------------------------------------

needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")

# compadd, _describe, _files and compdef belong to zsh's completion system, which needs a terminal:
# stand-ins print what the script hands them.
_ZSH_STUBS = """\
compdef() { :; }
compadd() { [[ "$1" == "--" ]] && shift; print -r -- "compadd ${(j: :)@}"; }
_describe() { local arr=$4; print -r -- "describe ${(j: :)${(@)${(P)arr}%%:*}}"; }
_files() { print -r -- "files"; }
"""


def _zsh_complete(path: Path, words: list[str]) -> str:
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    program = f"{_ZSH_STUBS}source {path}\nwords=({quoted})\nCURRENT={len(words)}\n_wloadctl\n"
    done = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, check=True, timeout=60)
    assert done.stderr == ""
    return done.stdout.strip()


@needs_zsh
def test_zsh_script_syntax(scripts: dict[str, Path]) -> None:
    subprocess.run(["zsh", "-n", str(scripts["zsh"])], check=True, timeout=60)


@needs_zsh
@pytest.mark.parametrize(("words", "expected"), [
    (["wloadctl", "get", ""], "describe jobs job misfires calendars runs run workflows workflow agents"),
    (["wloadctl", "auth", "policy", ""], "describe get set"),
    (["wloadctl", "-o", ""], "compadd table json yaml"),
    (["wloadctl", "completion", ""], "compadd bash zsh fish"),
    (["wloadctl", "import", "crontab", ""], "files"),
])
def test_zsh_completes(scripts: dict[str, Path], words: list[str], expected: str) -> None:
    got = _zsh_complete(scripts["zsh"], words)
    if expected.startswith("describe"):
        assert set(got.split()[1:]) >= set(expected.split()[1:]), got
    else:
        assert got == expected


@needs_zsh
def test_zsh_offers_a_commands_options(scripts: dict[str, Path]) -> None:
    got = _zsh_complete(scripts["zsh"], ["wloadctl", "get", "jobs", "--"]).split()
    assert got[0] == "describe" and {"--domain", "--selector", "--limit", "--output"} <= set(got)


# ---- fish: its own `complete -C` answers ------------------------------------------------------------

needs_fish = pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")


def _fish_complete(path: Path, line: str) -> list[str]:
    done = subprocess.run(["fish", "--no-config", "-c", f"source {path}; complete -C {line!r}"],
                          capture_output=True, text=True, check=True, timeout=60)
    return [row.split("\t")[0] for row in done.stdout.splitlines()]


@needs_fish
def test_fish_script_syntax(scripts: dict[str, Path]) -> None:
    subprocess.run(["fish", "--no-execute", str(scripts["fish"])], check=True, timeout=60)


@needs_fish
@pytest.mark.parametrize(("line", "expected"), [
    ("wloadctl ap", ["apikey", "apply", "approval"]),
    ("wloadctl get j", ["job", "jobs"]),
    ("wloadctl get jobs --do", ["--domain"]),
    ("wloadctl -o ", ["json", "table", "yaml"]),
    ("wloadctl --server h:1 get ru", ["run", "runs"]),
    ("wloadctl completion ", ["bash", "fish", "zsh"]),
])
def test_fish_completes(scripts: dict[str, Path], line: str, expected: list[str]) -> None:
    assert sorted(_fish_complete(scripts["fish"], line)) == expected
