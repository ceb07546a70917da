"""Run the code blocks of a Markdown document as one shell session, with prysk.

Why prysk: it is the maintained successor of cram, the classic tool for command transcripts.
A transcript is exactly what our docs show a user (`$ command`, then its output), and prysk
checks it the way a reader would: line by line, with `(glob)` / `(re)` for values that change
from run to run (times, ports) and `[N]` for a non-zero exit code, in one shell so that files
and variables carry over from block to block as they do in a user's terminal. markdown-it-py
(the CommonMark parser) finds the code blocks, so no part of this parses Markdown by hand.

How each fenced block is used (docs/README "Documentation is tested" says the same):

* ``console``: a transcript. `$ ` starts a command, `> ` continues it, every other line is the
  output expected from the command above it.
* ``sh``: commands that must succeed (exit 0) and print nothing.
* ``python``: a program run by the venv's Python; it must succeed and print nothing.
* ``toml`` and ``yaml``: example configs and job files, loaded by the test (not by the shell).
* anything else (``jsonc``, ``text``, no language): illustration, not run.

A block whose first line is a comment starting with ``# not run by the doc tests`` is shown to
readers as such and skipped (systemd, other hosts, minutes-long runs).

The transcript keeps one line per document line, so prysk's diff names the document's lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

SKIP_MARK = re.compile(r"^\s*(#|//)\s*not run by the doc tests\b", re.IGNORECASE)
TRANSCRIPT = frozenset({"console"})
SCRIPT = frozenset({"sh", "bash"})
PYTHON = frozenset({"python"})
LOADED = frozenset({"toml", "yaml"})
_INDENT = b"  "


@dataclass(frozen=True)
class Block:
    path: Path
    line: int          # 1-based line of the block's first content line in the document
    lang: str
    text: str

    @property
    def skipped(self) -> bool:
        first = self.text.splitlines()[0] if self.text else ""
        return bool(SKIP_MARK.match(first))

    @property
    def runs_in_shell(self) -> bool:
        return not self.skipped and self.lang in TRANSCRIPT | SCRIPT | PYTHON

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced code block of the document, in order."""
    text = path.read_text(encoding="utf-8")
    out = []
    for token in MarkdownIt("commonmark").parse(text):
        if token.type == "fence" and token.map is not None:
            lang = token.info.split()[0] if token.info.strip() else ""
            out.append(Block(path, token.map[0] + 2, lang, token.content))
    return out


def _shell_lines(block: Block) -> list[bytes]:
    """The block's lines for prysk, one per content line."""
    lines = [line.encode() for line in block.text.splitlines()]
    if block.lang in TRANSCRIPT:
        return [_INDENT + line for line in lines]  # `$ `/`> ` lines are commands, the rest output
    # sh: one command with continuation lines, so the block runs as the script it is;
    # python: the lines continue a heredoc that the fence lines open and close (see transcript()).
    head = [] if block.lang in PYTHON else [_INDENT + b"$ " + lines[0]]
    return head + [_INDENT + b"> " + line for line in lines[len(head):]]


def transcript(path: Path, handled_elsewhere: int = 0) -> list[bytes]:
    """The document as a prysk test: line N of the result is line N of the document.

    The first ``handled_elsewhere`` blocks are left out (the README's install and test commands:
    the harness runs `wloadctl up` itself, and CI runs the test command)."""
    doc_lines = path.read_text(encoding="utf-8").splitlines()
    out = [b"# " + line.encode() + b"\n" for line in doc_lines]
    for block in blocks(path)[handled_elsewhere:]:
        if not block.runs_in_shell:
            continue
        first = block.line - 1  # 0-based index of the first content line
        shell = _shell_lines(block)
        for i, line in enumerate(shell):
            out[first + i] = line + b"\n"
        if block.lang in PYTHON:
            # The opening fence line starts the heredoc, the closing fence line ends it.
            out[first - 1] = _INDENT + b"$ python - <<'PYTHON_BLOCK_END'\n"
            out[first + len(shell)] = _INDENT + b"> PYTHON_BLOCK_END\n"
    return out
