"""Writes ChatGPT-style exports from scripted conversations (for the demo, tests and benchmarks).

Written from the structure described in docs/formats (mapping tree, current_node, content types);
no real export is copied. Every trap an ingester must handle can be produced: regenerated and
edited branches, hidden system messages, custom instructions under the user role, tool calls and
output, reasoning, images, null times, a missing current_node, the wrapper object, shards, a zip.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from notme.samples.common import write_files


def _text(text: str) -> dict[str, Any]:
    return {"content_type": "text", "parts": [text]}


class ChatGPTConversation:
    """A conversation tree. `user`/`assistant` extend the active branch; `regenerate` and `edit`
    start a sibling branch and make it active, as the ChatGPT app does."""

    def __init__(self, title: str, start: datetime, conversation_id: str | None = None,
                 model: str = "gpt-4o", step_seconds: float = 45.0, seed: int | None = None) -> None:
        self._uuids = _uuid_source(seed if seed is not None else zlib.crc32(title.encode()))
        self.id = conversation_id or self._uuids()
        self.title = title
        self.model = model
        self.clock = start.timestamp()
        self.start = self.clock
        self.step = step_seconds
        self.root = self._uuids()
        self.mapping: dict[str, dict[str, Any]] = {
            self.root: {"id": self.root, "message": None, "parent": None, "children": []}
        }
        self.current: str | None = self.root
        self.last_by_role: dict[str, str] = {}
        self.extra: dict[str, Any] = {}

    def add(self, role: str, content: dict[str, Any] | str, *, parent: str | None = None,
            author_name: str | None = None, recipient: str = "all", metadata: dict | None = None,
            weight: float = 1.0, create_time: float | str | None = "auto", activate: bool = True) -> str:
        parent = parent or self.current or self.root
        node_id = self._uuids()
        self.clock += self.step
        message = {
            "id": node_id,
            "author": {"role": role, "name": author_name, "metadata": {}},
            "create_time": self.clock if create_time == "auto" else create_time,
            "update_time": None,
            "content": _text(content) if isinstance(content, str) else content,
            "status": "finished_successfully",
            "end_turn": role == "assistant" or None,
            "weight": weight,
            "metadata": metadata or {},
            "recipient": recipient,
            "channel": None,
        }
        self.mapping[node_id] = {"id": node_id, "message": message, "parent": parent, "children": []}
        self.mapping[parent]["children"].append(node_id)
        if activate:
            self.current = node_id
        self.last_by_role[role] = node_id
        return node_id

    def user(self, text: str, **kw: Any) -> str:
        return self.add("user", text, **kw)

    def assistant(self, text: str, **kw: Any) -> str:
        return self.add("assistant", text, metadata={"model_slug": self.model}, **kw)

    def regenerate(self, text: str) -> str:
        """Another answer to the same prompt; the new one becomes the active branch."""
        node = self.mapping[self.last_by_role["assistant"]]
        return self.assistant(text, parent=node["parent"])

    def edit(self, text: str) -> str:
        """An edited prompt: a sibling of the last user message, active from now on."""
        node = self.mapping[self.last_by_role["user"]]
        return self.user(text, parent=node["parent"])

    def hidden_system(self, text: str = "") -> str:
        return self.add("system", text, metadata={"is_visually_hidden_from_conversation": True},
                        create_time=None)

    def custom_instructions(self, profile: str, instructions: str) -> str:
        content = {"content_type": "user_editable_context", "user_profile": profile,
                   "user_instructions": instructions}
        return self.add("user", content, metadata={"is_visually_hidden_from_conversation": True})

    def tool_round(self, code: str, output: str) -> None:
        self.add("assistant", {"content_type": "code", "language": "python", "text": code},
                 recipient="python")
        self.add("tool", {"content_type": "execution_output", "text": output}, author_name="python")

    def thoughts(self, summary: str) -> str:
        content = {"content_type": "thoughts",
                   "thoughts": [{"summary": summary, "content": summary, "finished": True}]}
        return self.add("assistant", content)

    def image_prompt(self, text: str) -> str:
        image = {"content_type": "image_asset_pointer", "asset_pointer": "sediment://file_0001",
                 "size_bytes": 48213, "width": 640, "height": 480}
        return self.add("user", {"content_type": "multimodal_text", "parts": [image, text]})

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "create_time": self.start,
            "update_time": self.clock,
            "mapping": self.mapping,
            "current_node": self.current,
            "id": self.id,
            "conversation_id": self.id,
            "default_model_slug": self.model,
            "is_archived": False,
            "safe_urls": [],
            "moderation_results": [],
        } | self.extra


def _uuid_source(seed: int):
    """Deterministic ids, so a sample written twice is the same export."""
    counter = iter(range(1 << 62))

    def next_uuid() -> str:
        return str(uuid.UUID(int=((seed & 0xFFFFFFFF) << 64) | next(counter)))

    return next_uuid


def write_export(directory: Path, conversations: Sequence[ChatGPTConversation | dict], *,
                 feedback: Sequence[dict] = (), shards: int = 0, wrapper: bool = False,
                 zip_name: str | None = None) -> Path:
    """Write an export folder (or a zip when `zip_name` is given); returns what to ingest."""
    directory.mkdir(parents=True, exist_ok=True)
    records = [c.to_dict() if isinstance(c, ChatGPTConversation) else c for c in conversations]
    files: dict[str, str] = {}
    if shards:
        size = -(-len(records) // shards)
        for i in range(shards):
            files[f"conversations-{i:03d}.json"] = json.dumps(records[i * size:(i + 1) * size])
        files["conversations.json.index"] = json.dumps({"shards": shards})
    else:
        body = {"conversations": records} if wrapper else records
        files["conversations.json"] = json.dumps(body, ensure_ascii=False)  # one line, like the real one
    files["message_feedback.json"] = json.dumps(list(feedback))
    files["user.json"] = json.dumps({"id": "user-sample", "email": "owner@example.com"})
    files["chat.html"] = "<html><body>offline viewer</body></html>"
    return write_files(directory, files, zip_name)


def feedback_entry(conversation: ChatGPTConversation, message_id: str, rating: str) -> dict[str, Any]:
    return {"id": message_id, "message_id": message_id, "conversation_id": conversation.id,
            "user_id": "user-sample", "rating": rating, "create_time": "2025-01-01T00:00:00Z",
            "content": "{}"}


def write_sample(directory: Path, chats: Sequence[dict[str, Any]], owner: dict[str, Any]) -> Path:
    """The sample owner's ChatGPT export (a zip) from persona chats, with the usual quirks: custom
    instructions, hidden system messages, a regenerated answer, a tool round, a thumbs-down and a
    key pasted into a prompt. The first two chats are left exactly as written (the demo also puts
    them in a fine-tuning JSONL, to show the same conversation is stored once)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(owner.get("timezone", "UTC"))
    conversations, feedback = [], []
    for index, chat in enumerate(chats):
        start = datetime(2025, 1, 6, 20, 15, tzinfo=zone) + timedelta(days=3 * index, minutes=37 * index)
        conv = ChatGPTConversation(chat["title"], start, seed=1000 + index, step_seconds=70)
        conv.hidden_system()
        if index == 2:
            conv.custom_instructions(f"I'm {owner['owner']}, a backend engineer.", "Answer first. No filler.")
        for number, turn in enumerate(chat["turns"]):
            (speaker, text), = turn.items()
            if speaker == "me":
                if index == 3 and number == 0:
                    text += "\nstaging key if you need it: sk-proj-Q7rT2mWx9LpZ4vKc8NbY3sHd"
                conv.user(text)
                continue
            if index == 4 and number == len(chat["turns"]) - 1 and chat["topic"] == "code":
                conv.tool_round("print(result)", "ok")
            answer = conv.assistant(text)
            if index == 5 and number == 1:
                conv.mapping[answer]["message"]["content"]["parts"] = [
                    "I might be wrong, but I think it could depend. " + text + " Does that make sense?"
                ]
                conv.regenerate(text)
            if index == 6 and number == 1:
                feedback.append(feedback_entry(conv, answer, "thumbsDown"))
        conversations.append(conv)
    return write_export(directory, conversations, feedback=feedback, zip_name="chatgpt-export.zip")
