"""The corpus record: one conversation per JSONL line (contract in docs/architecture.md).

    {"id": "chatgpt:67a1…", "source": "chatgpt", "title": "…", "kind": "assistant",
     "is_group": false, "participants": ["ChatGPT", "me"],
     "messages": [{"id", "speaker", "is_me", "text", "timestamp", …}], …}

`kind` is "assistant" for AI chats (the owner is the user role) and "messaging" for chats between
people. Extra fields are allowed on both records and are kept through a read/write round trip.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["assistant", "messaging"]

_MESSAGE_KEYS = {"id", "speaker", "speaker_id", "is_me", "text", "timestamp"}
_CONVERSATION_KEYS = {
    "id", "source", "title", "kind", "is_group", "participants", "messages", "skipped", "scrubbed",
}


@dataclass(slots=True)
class Message:
    speaker: str
    is_me: bool
    text: str
    timestamp: str | None = None
    id: str = ""
    speaker_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"id": self.id, "speaker": self.speaker}
        if self.speaker_id is not None:
            record["speaker_id"] = self.speaker_id
        record |= {"is_me": self.is_me, "text": self.text, "timestamp": self.timestamp}
        return record | self.extra

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Message:
        return cls(
            speaker=record["speaker"],
            is_me=bool(record["is_me"]),
            text=record["text"],
            timestamp=record.get("timestamp"),
            id=record.get("id", ""),
            speaker_id=record.get("speaker_id"),
            extra={k: v for k, v in record.items() if k not in _MESSAGE_KEYS},
        )


@dataclass(slots=True)
class Conversation:
    id: str
    source: str
    title: str
    messages: list[Message]
    kind: Kind = "assistant"
    is_group: bool = False
    participants: list[str] = field(default_factory=list)
    # Per reason, the messages of this conversation left out of the corpus (tool output, tapbacks…).
    skipped: Counter[str] = field(default_factory=Counter)
    # Per kind, the secrets and personal details replaced in this conversation's text.
    scrubbed: Counter[str] = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "title": self.title,
            "kind": self.kind,
            "is_group": self.is_group,
            "participants": self.participants,
            "messages": [m.to_dict() for m in self.messages],
        }
        if self.skipped:
            record["skipped"] = dict(sorted(self.skipped.items()))
        if self.scrubbed:
            record["scrubbed"] = dict(sorted(self.scrubbed.items()))
        return record | self.extra

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Conversation:
        return cls(
            id=record["id"],
            source=record["source"],
            title=record.get("title") or "",
            messages=[Message.from_dict(m) for m in record["messages"]],
            kind=record.get("kind", "assistant"),
            is_group=bool(record.get("is_group", False)),
            participants=list(record.get("participants", [])),
            skipped=Counter(record.get("skipped", {})),
            scrubbed=Counter(record.get("scrubbed", {})),
            extra={k: v for k, v in record.items() if k not in _CONVERSATION_KEYS},
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @property
    def last_timestamp(self) -> str | None:
        stamps = [m.timestamp for m in self.messages if m.timestamp]
        return max(stamps) if stamps else None


def sort_by_time(messages: list[Message]) -> list[Message]:
    """Messages in time order; stable, and a message without a time stays after the one before it
    (it inherits that time as its key) instead of jumping to the front."""
    keys, last = [], ""
    for message in messages:
        last = message.timestamp or last
        keys.append(last)
    order = sorted(range(len(messages)), key=keys.__getitem__)
    return [messages[i] for i in order]


def _hash(parts: list[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def content_fingerprint(conversation: Conversation) -> str:
    """Who said what, in order: equal for the same conversation exported by two different sources."""
    return _hash([f"{int(m.is_me)}{' '.join(m.text.split()).casefold()}" for m in conversation.messages])


def record_digest(record_json: str) -> str:
    """Changes whenever anything stored for a conversation changes."""
    return _hash([record_json])


def derived_message_id(*parts: object) -> str:
    """A stable id for sources whose messages have none (WhatsApp lines, signal-export rows)."""
    return "h" + _hash([repr(p) for p in parts])[:20]
