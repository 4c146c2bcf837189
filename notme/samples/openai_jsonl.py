"""Writes OpenAI-style chat files (`{"messages": [{"role", "content"}]}`, the fine-tuning format)
from scripted conversations, for the demo, tests and benchmarks.

Written from the published message schema; no real file is copied. Every shape an ingester must
accept can be produced: JSON Lines, a JSON array of records, a single record, a bare array of
messages; system prompts, `content` as a list of parts, assistant `tool_calls` and `tool` replies,
`weight: 0` on an assistant turn, and broken lines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from notme.samples.common import fake_secret


class ChatRecord:
    """One `{"messages": [...]}` record."""

    def __init__(self, system: str | None = None, **extra: Any) -> None:
        self.messages: list[Any] = []
        self.extra = extra  # other top-level keys: "tools", "id", "metadata"…
        if system is not None:
            self.system(system)

    def add(self, role: str, content: Any, **fields: Any) -> dict[str, Any]:
        message = {"role": role, "content": content, **fields}
        self.messages.append(message)
        return message

    def system(self, text: str) -> dict[str, Any]:
        return self.add("system", text)

    def user(self, text: str, **fields: Any) -> dict[str, Any]:
        return self.add("user", text, **fields)

    def user_parts(self, *texts: str, image: bool = True) -> dict[str, Any]:
        """`content` as a list of parts, with an image part between the text parts."""
        parts: list[dict[str, Any]] = [{"type": "text", "text": t} for t in texts]
        if image:
            image_part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            parts.insert(1 if parts else 0, image_part)
        return self.add("user", parts)

    def assistant(self, text: str, weight: int | None = None, **fields: Any) -> dict[str, Any]:
        if weight is not None:
            fields["weight"] = weight
        return self.add("assistant", text, **fields)

    def tool_round(self, name: str, arguments: dict[str, Any], output: str, call_id: str = "call_0001") -> None:
        """An assistant turn that only calls a tool, and the tool's reply."""
        self.add("assistant", None, tool_calls=[{"id": call_id, "type": "function",
                                                 "function": {"name": name, "arguments": json.dumps(arguments)}}])
        self.add("tool", output, tool_call_id=call_id)

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, **self.extra}


def _records(records: Sequence[ChatRecord | dict[str, Any]]) -> list[dict[str, Any]]:
    return [r.to_dict() if isinstance(r, ChatRecord) else r for r in records]


def write_jsonl(path: Path, records: Sequence[ChatRecord | dict[str, Any] | str]) -> Path:
    """One record a line; a str item is written as it is (a broken or blank line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(_records([r])[0], ensure_ascii=False) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_json(path: Path, records: Sequence[ChatRecord | dict[str, Any]], *, single: bool = False,
               indent: int | None = None) -> Path:
    """A JSON array of records, or (`single`) the one record as the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body: Any = _records(records)
    if single:
        (body,) = body
    path.write_text(json.dumps(body, ensure_ascii=False, indent=indent), encoding="utf-8")
    return path


def write_bare_messages(path: Path, record: ChatRecord) -> Path:
    """One conversation as a bare JSON array of its messages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.messages, ensure_ascii=False), encoding="utf-8")
    return path


SAMPLE_SYSTEM_PROMPT = "You are a helpful assistant."


def sample_records(chats: Sequence[dict[str, Any]]) -> list[ChatRecord]:
    """The persona's assistant chats as records: a system prompt on each, `me` turns as the user and
    `ai` turns as the assistant. What is added (the system prompt, a tool round at the end of the
    second chat, an answer marked `weight: 0`, a prompt split into parts around an image) is either
    left out by the ingester or leaves the text unchanged, so a chat that also came from another
    export is recognised as the same conversation. From the third chat on, one prompt carries an API
    key, for the scrubber."""
    records = []
    for number, chat in enumerate(chats):
        record = ChatRecord(SAMPLE_SYSTEM_PROMPT)
        mine = 0
        for turn in chat.get("turns") or []:
            if "me" in turn:
                text, mine = str(turn["me"]), mine + 1
                if number == 2 and mine == 1:
                    text += f"\nmy key is {fake_secret('openai-jsonl-sample')} if you need it"
                if number == 3 and mine == 1:
                    record.user_parts(text)
                else:
                    record.user(text)
            elif "ai" in turn:
                record.assistant(str(turn["ai"]), weight=0 if number == 0 and len(record.messages) == 2 else None)
        if number == 1:
            record.tool_round("search_notes", {"query": str(chat.get("topic") or "notes")}, "[]")
        records.append(record)
    return records


def write_sample(directory: Path, chats: Sequence[dict[str, Any]], owner: dict[str, Any]) -> Path:
    """The persona's assistant chats as a fine-tuning JSONL file the owner made (a system prompt on
    each line); see `sample_records` for the quirks. Returns the file."""
    del owner  # the format has no names: the owner is the user role
    return write_jsonl(directory / "finetune.jsonl", sample_records(chats))
