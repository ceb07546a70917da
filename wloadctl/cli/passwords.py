"""Reading passwords for `login`, `password` and `user create`: from the terminal without echo
(getpass), or line by line from stdin with --password-stdin (scripts, tests).

A password is never echoed, logged or put in an error message; only the server sees it.
"""

from __future__ import annotations

import getpass
import sys

__all__ = ["PasswordReader"]


class PasswordReader:
    """Hands out the passwords a command needs, in the order it asks for them.

    With ``from_stdin`` each password is the next line of stdin (a confirmation is not asked
    for: a script gives the value once); otherwise each is prompted for on the terminal, and a
    new password twice."""

    def __init__(self, from_stdin: bool) -> None:
        self.from_stdin = from_stdin
        self._lines: list[str] | None = None

    def _next_line(self, what: str) -> str:
        if self._lines is None:
            # Read all at once: stdin is a pipe or a file the caller prepared, one password a line.
            self._lines = sys.stdin.read().splitlines()
        if not self._lines:
            raise ValueError(f"--password-stdin: no line left on stdin for {what}")
        return self._lines.pop(0)

    def current(self, prompt: str, what: str = "the password") -> str:
        value = self._next_line(what) if self.from_stdin else getpass.getpass(prompt)
        if not value:
            raise ValueError(f"{what}: must not be empty")
        return value

    def new(self, prompt: str, what: str = "the new password") -> str:
        value = self.current(prompt, what)
        if not self.from_stdin and getpass.getpass("again: ") != value:
            raise ValueError("the two passwords differ; nothing was changed")
        return value
