"""Errors the user can act on. The CLI prints them as one message, never as a traceback."""

from __future__ import annotations

from pathlib import Path


class NotmeError(Exception):
    """A problem the user can fix: bad input, a missing file, a wrong option."""


class InputError(NotmeError):
    """Bad input data, with the file and the place inside it (line, conversation, row)."""

    def __init__(self, path: str | Path, message: str, where: str | None = None) -> None:
        self.path = str(path)
        self.where = where
        self.detail = message
        place = f"{self.path}: {where}" if where else self.path
        super().__init__(f"{place}: {message}")
