"""Text clean-up shared by every ingester: what the owner typed, without the exporter's marks."""

from __future__ import annotations

import re
import unicodedata

# Direction marks and isolates that exporters wrap around names and lines (WhatsApp, Signal),
# the byte-order mark, and U+FFFC, which marks where an attachment sat in an iMessage body.
# U+200D (zero-width joiner) stays: it is part of emoji sequences.
_INVISIBLE = dict.fromkeys(
    [0xFEFF, 0x200E, 0x200F, 0xFFFC, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


def strip_invisible(text: str) -> str:
    return text.translate(_INVISIBLE)


def clean_text(text: str) -> str:
    """NFC, no exporter marks, Unix line ends, no trailing blanks; the owner's own breaks stay."""
    text = unicodedata.normalize("NFC", strip_invisible(text))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    return _TRAILING_SPACE.sub("", text).strip()


def word_count(text: str) -> int:
    return len(text.split())


def normalize_identity(value: str) -> str:
    """How names, handles and ids compare when matching the owner: case, marks and spacing ignored.

    Phone numbers compare by their digits, so "+1 (555) 010-2233" matches "+15550102233".
    """
    value = strip_invisible(value).replace("\u202f", " ").replace("\u00a0", " ")
    value = value.strip().lstrip("~").strip().casefold()
    if re.fullmatch(r"[+\d][\d\s().\-]{5,}", value):
        return "+" + re.sub(r"\D", "", value)
    return " ".join(value.split())


def short_title(text: str, limit: int = 80) -> str:
    """A title from a message: its first non-blank line, cut to `limit` characters (at a word
    boundary when one is in the second half) with an ellipsis."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space >= limit // 2 else cut).rstrip() + "…"
