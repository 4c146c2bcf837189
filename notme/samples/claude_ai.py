"""Writes Claude.ai-style exports from scripted conversations (for the demo, tests and benchmarks).

Written from the structure described in the format notes (conversations.json with chat_messages,
content blocks, parent_message_uuid trees, users.json, projects.json); no real export is copied.
Every trap an ingester must handle can be produced: legacy flat messages (`text`, `content: []`),
thinking / tool_use / tool_result blocks, paste-only human turns (empty `file_name`,
`extracted_content`), images in `files`, regenerated and edited branches with
`current_leaf_message_uuid`, the sentinel root parent, empty conversations, `account` as a string,
batched folders and the zip.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notme.samples.common import fake_secret, write_files

SENTINEL_PARENT = "00000000-0000-4000-8000-000000000000"


def _iso(moment: datetime) -> str:
    """Claude.ai's time format: ISO 8601 UTC with microseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _uuid_source(seed: int):
    """Deterministic uuids, so a sample written twice is the same export."""
    counter = iter(range(1, 1 << 62))

    def next_uuid() -> str:
        return str(uuid.UUID(int=((seed & 0xFFFFFFFF) << 96) | (0x4000 << 64) | next(counter)))

    return next_uuid


def text_block(text: str, at: datetime) -> dict[str, Any]:
    return {"type": "text", "text": text, "start_timestamp": _iso(at), "stop_timestamp": _iso(at),
            "citations": []}


def thinking_block(thought: str, at: datetime) -> dict[str, Any]:
    return {"type": "thinking", "thinking": thought, "summaries": [{"summary": thought[:40]}],
            "start_timestamp": _iso(at), "stop_timestamp": _iso(at)}


def tool_blocks(name: str, tool_input: dict[str, Any], output: str, at: datetime) -> list[dict[str, Any]]:
    """A tool call and its result, as they sit inside an assistant message."""
    tool_id = f"toolu_{zlib.crc32((name + output).encode()):08x}"
    return [
        {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input,
         "start_timestamp": _iso(at), "stop_timestamp": _iso(at)},
        {"type": "tool_result", "tool_use_id": tool_id, "name": name, "is_error": False,
         "content": [{"type": "text", "text": output, "uuid": str(uuid.UUID(int=zlib.crc32(output.encode())))}],
         "start_timestamp": _iso(at), "stop_timestamp": _iso(at)},
    ]


class ClaudeConversation:
    """A conversation tree. `human`/`assistant` extend the active branch; `regenerate` and `edit`
    start a sibling branch and make it the current leaf, as claude.ai does. `flat=True` writes a
    legacy export: no parent links, no current leaf, text only in `text` with `content: []`."""

    def __init__(self, name: str, start: datetime, *, conversation_id: str | None = None,
                 step_seconds: float = 75.0, seed: int | None = None, flat: bool = False,
                 account: dict[str, Any] | str | None = None) -> None:
        self._uuids = _uuid_source(seed if seed is not None else zlib.crc32(name.encode()))
        self.id = conversation_id or self._uuids()
        self.name = name
        self.start = start
        self.clock = start
        self.step = timedelta(seconds=step_seconds)
        self.flat = flat
        self.account = account if account is not None else {"uuid": "acc-0000-sample"}
        self.messages: list[dict[str, Any]] = []
        self.current: str = SENTINEL_PARENT
        self.current_leaf: str | None = "auto"  # None: left out of the export
        self.extra: dict[str, Any] = {}

    def _last(self, sender: str) -> dict[str, Any]:
        node_id = self.current
        by_id = {m["uuid"]: m for m in self.messages}
        while node_id in by_id:
            if by_id[node_id]["sender"] == sender:
                return by_id[node_id]
            node_id = by_id[node_id]["parent_message_uuid"]
        raise ValueError(f"no {sender} message on the active branch")

    def add(self, sender: str, content: str | list[dict[str, Any]], *, parent: str | None = None,
            attachments: Sequence[dict[str, Any]] = (), files: Sequence[dict[str, Any]] = (),
            created_at: datetime | None = None, activate: bool = True) -> str:
        self.clock = created_at or self.clock + self.step
        blocks = [text_block(content, self.clock)] if isinstance(content, str) else content
        flat_text = "\n\n".join(b["text"] for b in blocks if b.get("type") == "text")
        message_id = self._uuids()
        self.messages.append({
            "uuid": message_id,
            "text": flat_text,
            "content": blocks,
            "sender": sender,
            "index": len(self.messages),
            "created_at": _iso(self.clock),
            "updated_at": _iso(self.clock),
            "truncated": False,
            "stop_reason": "stop_sequence" if sender == "assistant" else None,
            "attachments": list(attachments),
            "files": list(files),
            "parent_message_uuid": parent or self.current,
        })
        if activate:
            self.current = message_id
        return message_id

    def human(self, text: str, **kw: Any) -> str:
        return self.add("human", text, **kw)

    def assistant(self, content: str | list[dict[str, Any]], **kw: Any) -> str:
        return self.add("assistant", content, **kw)

    def assistant_with_tools(self, before: str, tool: str, tool_input: dict[str, Any], output: str,
                             after: str, thought: str | None = None) -> str:
        """One assistant turn: (thinking,) text, a tool call and its result, more text."""
        at = self.clock + self.step
        blocks = [thinking_block(thought, at)] if thought else []
        blocks += [text_block(before, at), *tool_blocks(tool, tool_input, output, at), text_block(after, at)]
        return self.assistant(blocks)

    def paste(self, pasted: str, file_name: str = "", **kw: Any) -> str:
        """A human turn that is only a long paste: claude.ai turns it into a txt attachment."""
        attachment = {"file_name": file_name, "file_type": "txt", "file_size": len(pasted.encode()),
                      "extracted_content": pasted}
        return self.add("human", [], attachments=[attachment], **kw)

    def image(self, text: str, file_name: str = "screenshot.png", **kw: Any) -> str:
        file = {"file_name": file_name, "file_uuid": str(uuid.UUID(int=zlib.crc32(file_name.encode())))}
        return self.add("human", text, files=[file], **kw)

    def regenerate(self, text: str) -> str:
        """Another answer to the same prompt; the new one becomes the current leaf."""
        return self.assistant(text, parent=self._last("assistant")["parent_message_uuid"])

    def edit(self, text: str) -> str:
        """An edited prompt: a sibling of the last human message, the current branch from now on."""
        return self.human(text, parent=self._last("human")["parent_message_uuid"])

    def to_dict(self) -> dict[str, Any]:
        messages = self.messages
        if self.flat:
            messages = [{k: v for k, v in m.items() if k != "parent_message_uuid"} | {"content": []}
                        for m in messages]
        record: dict[str, Any] = {
            "uuid": self.id,
            "name": self.name,
            "summary": "",
            "created_at": _iso(self.start),
            "updated_at": _iso(self.clock),
            "account": self.account,
            "chat_messages": messages,
        }
        if not self.flat and self.current_leaf is not None:
            record["current_leaf_message_uuid"] = self.current if self.current_leaf == "auto" else self.current_leaf
        return record | self.extra


def users_record(owner: dict[str, Any]) -> list[dict[str, Any]]:
    handles = owner.get("owner_handles") or {}
    return [{"uuid": "user-0000-sample", "full_name": owner.get("owner") or owner.get("name") or "Sample Owner",
             "email_address": handles.get("email") or "owner@example.com",
             "verified_phone_number": handles.get("phone")}]


def write_export(directory: Path, conversations: Sequence[ClaudeConversation | dict | Any], *,
                 zip_name: str | None = None, batches: int = 0, owner: dict[str, Any] | None = None,
                 projects: Sequence[dict[str, Any]] = (), raw_conversations: str | None = None) -> Path:
    """Write an export folder, `batches` batch folders, or a zip when `zip_name` is given; returns
    what to ingest. `raw_conversations` replaces conversations.json's text (for broken files)."""
    directory.mkdir(parents=True, exist_ok=True)
    records = [c.to_dict() if isinstance(c, ClaudeConversation) else c for c in conversations]
    common = {
        "users.json": json.dumps(users_record(owner or {})),
        "projects.json": json.dumps(list(projects)),
    }
    if batches:
        size = -(-len(records) // batches)
        for i in range(batches):
            folder = directory / f"data-2025-10-06-00-55-16-batch-{i:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            # Batches of one account overlap: the last conversation of a batch opens the next one too.
            chunk = records[max(0, i * size - 1):(i + 1) * size]
            (folder / "conversations.json").write_text(json.dumps(chunk), encoding="utf-8")
            for name, data in common.items():
                (folder / name).write_text(data, encoding="utf-8")
        return directory
    files = {"conversations.json": raw_conversations if raw_conversations is not None
             else json.dumps(records, ensure_ascii=False)} | common
    return write_files(directory, files, zip_name)


def project_record(name: str, instructions: str, doc: str) -> dict[str, Any]:
    return {"uuid": str(uuid.UUID(int=zlib.crc32(name.encode()))), "name": name, "description": "",
            "is_private": True, "is_starter_project": False, "prompt_template": instructions,
            "created_at": "2025-01-02T10:00:00.000000Z", "updated_at": "2025-01-02T10:00:00.000000Z",
            "creator": {"uuid": "user-0000-sample", "full_name": "Sample Owner"},
            "docs": [{"uuid": "doc-0001", "filename": "notes.md", "content": doc,
                      "created_at": "2025-01-02T10:00:00.000000Z"}]}



def write_sample(directory: Path, chats: Sequence[dict[str, Any]], owner: dict[str, Any]) -> Path:
    """The persona's assistant chats as a Claude.ai export zip, with the format's usual quirks:
    a regenerated answer, an edited prompt, a paste-only turn, a screenshot, a thinking block and a
    tool call, a legacy flat conversation, an empty one, `account` as a string, a project and an
    API key pasted into one message. Chats start every three days from 2025-01-06, 10:00 in the
    owner's zone, with messages a minute or two apart."""
    zone = ZoneInfo(str(owner.get("timezone") or "UTC"))
    conversations: list[ClaudeConversation] = []
    for number, chat in enumerate(chats):
        start = datetime(2025, 1, 6, 10, 0, tzinfo=zone) + timedelta(days=3 * number, minutes=7 * (number % 5))
        conv = ClaudeConversation(str(chat.get("title") or ""), start, seed=1000 + number,
                                  step_seconds=60 + 30 * (number % 3), flat=number % 7 == 5,
                                  account="acc-0000-sample" if number % 4 == 3 else None)
        mine = 0
        for turn_number, turn in enumerate(chat.get("turns") or []):
            if "me" in turn:
                text = str(turn["me"])
                mine += 1
                if number == 0 and mine == 1:
                    text += f"\nkey is {fake_secret('claude_ai-sample')} if that matters"
                if number == 2 and mine == 1 and not conv.flat:
                    conv.paste("Traceback (most recent call last):\n  File \"app.py\", line 3\nKeyError: 'id'")
                if number == 6 and mine == 1:
                    conv.human(text.rstrip(".!?").lower())
                    conv.assistant("Could you say a bit more about what you need?")
                    conv.edit(text)
                elif number == 3 and mine == 1 and not conv.flat:
                    conv.image(text)
                else:
                    conv.human(text)
            elif "ai" in turn:
                text = str(turn["ai"])
                if number == 1 and turn_number == 1 and not conv.flat:
                    conv.assistant_with_tools("Let me check.", "web_search", {"query": chat.get("topic") or "x"},
                                              "three results", text, thought="The user wants a quick answer.")
                else:
                    conv.assistant(text)
                if number == 4 and turn_number == 1 and not conv.flat:
                    conv.regenerate(text + " (Short version: yes.)")
        conversations.append(conv)
    conversations.append(ClaudeConversation("", datetime(2025, 1, 5, 9, 0, tzinfo=zone), seed=999))  # empty
    project = project_record("Side projects", "Answer briefly.", "# notes\nnothing personal here")
    return write_export(directory, conversations, zip_name="data-2025-06-30-18-04-12.zip", owner=owner,
                        projects=[project])
