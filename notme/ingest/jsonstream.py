"""Streaming JSON for exports too large to load: the items of a top-level array (or of an array
under a wrapper key) one at a time, and JSON Lines. Syntax errors and truncation become an
`InputError` naming the file and the last good item, never a parser traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import ijson

from notme.errors import InputError


def root_char(stream: IO[bytes]) -> str:
    """The first significant character of a JSON document ('[' or '{'), without consuming it."""
    head = stream.peek(4096)[:4096]  # type: ignore[attr-defined]
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    return text[:1]


def array_items(stream: IO[bytes], display: str, prefix: str = "item", what: str = "item") -> Iterator[Any]:
    """Each element of the array at `prefix` ('item' = the top-level array)."""
    count = 0
    try:
        for item in ijson.items(stream, prefix, use_float=True):
            count += 1
            yield item
    except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, ValueError) as e:
        place = f"after {what} {count}" if count else f"before the first {what}"
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(display, f"not valid JSON, truncated or corrupt ({detail})", where=place) from e


def load_small(stream: IO[bytes], display: str) -> Any:
    """A whole JSON document that is small by nature (users.json, message_feedback.json…)."""
    try:
        return json.loads(stream.read().decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(display, f"not valid JSON ({e})") from e


def json_lines(stream: IO[bytes], display: str, *, skip_bad: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line. A bad line is an error, or skipped (None value)
    when `skip_bad`: append-only logs can end in a half-written line."""
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw.decode("utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if skip_bad:
                yield number, None
                continue
            raise InputError(display, f"not a valid JSON line ({e})", where=f"line {number}") from e
