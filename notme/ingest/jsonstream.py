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


# What ijson (and the UTF-8 decoder under it) raise on a truncated or corrupt document.
PARSE_ERRORS = (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, ValueError)


def parse_error(error: Exception, display: str, where: str) -> InputError:
    """The user's message for a document that stops parsing at `where`."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return InputError(display, f"not valid JSON, truncated or corrupt ({detail})", where=where)


def array_items(stream: IO[bytes], display: str, prefix: str = "item", what: str = "item") -> Iterator[Any]:
    """Each element of the array at `prefix` ('item' = the top-level array)."""
    count = 0
    try:
        for item in ijson.items(stream, prefix, use_float=True):
            count += 1
            yield item
    except PARSE_ERRORS as e:
        raise parse_error(e, display, f"after {what} {count}" if count else f"before the first {what}") from e


def top_level_values(stream: IO[bytes], display: str, what: str = "record") -> Iterator[tuple[str, Any]]:
    """(place, value) for each JSON value in a file of one or more concatenated top-level values
    (one object, or JSON Lines saved as .json)."""
    count = 0
    try:
        for value in ijson.items(stream, "", multiple_values=True, use_float=True):
            count += 1
            yield f"{what} {count}", value
    except PARSE_ERRORS as e:
        raise parse_error(e, display, f"after {what} {count}" if count else f"before the first {what}") from e


def load_small(stream: IO[bytes], display: str) -> Any:
    """A whole JSON document that is small by nature (users.json, message_feedback.json…)."""
    try:
        return json.loads(stream.read().decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(display, f"not valid JSON ({e})") from e


def json_lines(stream: IO[bytes], display: str, *, skip_bad: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line. A bad line is an error, or yields None when
    `skip_bad` (append-only logs can end in a half-written line; a `null` line is no record either)."""
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
