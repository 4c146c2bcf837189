"""Errors the user can act on. The CLI prints them as one message, never as a traceback."""

from __future__ import annotations

from collections.abc import Iterator
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


def read_jsonl_objects(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file the user gave us; a line that is not
    a JSON object is an InputError naming the file and the line."""
    import json

    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(path, f"not valid JSON ({e.msg})", where=f"line {number}") from e
            if not isinstance(item, dict):
                raise InputError(path, "each line must be a JSON object", where=f"line {number}")
            yield number, item
