"""The text of an NSAttributedString archived as an Apple typedstream (NSArchiver, "streamtyped").

macOS Messages keeps a message body in `message.attributedBody` in this format (not a bplist) and
often leaves `text` NULL. The full decoder `pytypedstream` (import `typedstream`) reads it; when it
is missing or rejects a blob (a class version it does not know), a scan for the archived NSString
finds the text: after the class record of NSString comes the type encoding "+" (written
`0x84 0x01 0x2B`), the byte length (one byte; `0x81` + 2 bytes or `0x82` + 4 bytes,
little-endian) and the UTF-8 bytes.
"""

from __future__ import annotations

from typing import Any

try:  # optional: the scan below reads every body Messages writes
    import typedstream as _library
except ImportError:  # pragma: no cover - depends on the environment
    _library = None

_STRING_CLASS = b"NSString"
_PLUS_TYPE = b"\x84\x01+"
# How far past the class name the "+" may sit: version, superclass reference (1–3 bytes each).
_PLUS_WINDOW = 12


class TypedstreamError(ValueError):
    """The blob is not an archived string this module can read."""


def attributed_string_text(blob: bytes) -> str:
    """The plain text of an archived NSAttributedString (or NSString); raises TypedstreamError."""
    if not blob.startswith(b"\x04\x0bstreamtyped"):
        raise TypedstreamError("not a typedstream (no 'streamtyped' header)")
    if _library is not None:
        text = _with_library(blob)
        if text is not None:
            return text
    return scan_string(blob)


def _with_library(blob: bytes) -> str | None:
    try:
        root = _library.unarchive_from_data(blob)
    except Exception:  # any failure of the full decoder falls back to the scan
        return None
    return _first_string(root, depth=0)


def _first_string(value: Any, depth: int) -> str | None:
    """The first NSString in an archived object graph: an attributed string's own text comes first."""
    if depth > 4:
        return None
    text = getattr(value, "value", None)
    if isinstance(text, str) and type(value).__name__ in ("NSString", "NSMutableString"):
        return text
    for item in getattr(value, "contents", None) or []:
        for inner in getattr(item, "values", None) or [getattr(item, "value", None)]:
            found = _first_string(inner, depth + 1)
            if found is not None:
                return found
    return None


def scan_string(blob: bytes) -> str:
    """The first archived NSString's text, found by its byte pattern; raises TypedstreamError."""
    start = blob.find(_STRING_CLASS)
    if start < 0:
        raise TypedstreamError("no NSString in the archive")
    after_name = start + len(_STRING_CLASS)
    plus = blob.find(_PLUS_TYPE, after_name, after_name + _PLUS_WINDOW)
    if plus < 0:
        raise TypedstreamError("NSString without its '+' string value")
    length, position = read_length(blob, plus + len(_PLUS_TYPE))
    end = position + length
    if end > len(blob):
        raise TypedstreamError(f"string of {length} bytes runs past the end of the archive")
    return blob[position:end].decode("utf-8", errors="replace")


def read_length(blob: bytes, position: int) -> tuple[int, int]:
    """A typedstream length at `position`: (value, position after it)."""
    if position >= len(blob):
        raise TypedstreamError("archive ends before a string length")
    head = blob[position]
    if head == 0x81:
        width = 2
    elif head == 0x82:
        width = 4
    elif head < 0x80:
        return head, position + 1
    else:
        raise TypedstreamError(f"unexpected length tag 0x{head:02x}")
    if position + 1 + width > len(blob):
        raise TypedstreamError("archive ends inside a string length")
    return int.from_bytes(blob[position + 1:position + 1 + width], "little"), position + 1 + width
