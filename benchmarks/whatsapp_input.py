"""A long WhatsApp chat for the ingest benchmark, written by notme's own WhatsApp writer."""

from __future__ import annotations

from pathlib import Path

from notme.samples.whatsapp import ANDROID, synthetic_messages, write_chat


def write_whatsapp(path: Path, lines: int) -> Path:
    """An Android export of about `lines` lines (every tenth message has a second line)."""
    messages = lines * 10 // 11
    return write_chat(path, synthetic_messages(messages, ["Maya Chen", "Sam Rivera"]), ANDROID, "Maya Chen")
