"""OpenAI-style chat files: `{"messages": [{"role", "content"}, …]}` one a line (the fine-tuning
format), a JSON array of such records, one record as a whole `.json` file, or a bare JSON array of
messages (one conversation).

The owner is the user role. System prompts, tool replies and assistant turns that only call a tool
are left out and counted; `content` given as a list of parts keeps its text parts. The records
carry no id, so a conversation's id is a hash of who said what: the same conversation in two files
(or in another export) is stored once.

`sniff_first_record` and `read_records` are shared with the ShareGPT reader.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import ijson

from notme.corpus.schema import Conversation, Message, content_fingerprint
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester
from notme.ingest.inputs import InputTree
from notme.ingest.jsonstream import array_items, json_lines, root_char, top_level_values

_EXTENSIONS = (".jsonl", ".json", ".ndjson")
_SNIFF_EVENTS = 20_000
_TEXT_PART_TYPES = {"text", "input_text", "output_text"}
_SYSTEM_ROLES = {"system", "developer"}
_TOOL_ROLES = {"tool", "function", "ipython"}


def sniff_first_record(head: bytes) -> tuple[str, dict[str, set[str]]]:
    """The root character of a JSON / JSON Lines head and, per path (`messages.item`, for an array
    `item.messages.item`), the keys its first record has, read as far as the head goes."""
    head = head.removeprefix(b"\xef\xbb\xbf")
    root = head.lstrip()[:1].decode("ascii", errors="replace")
    keys: dict[str, set[str]] = {}
    depth = 0
    try:
        for count, (prefix, event, value) in enumerate(ijson.parse(io.BytesIO(head), multiple_values=True)):
            if event == "map_key":
                keys.setdefault(prefix, set()).add(value)
            elif event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
            # Done at the end of the first line's object, or of the first item of a top-level array.
            first_item_done = root == "[" and depth == 1 and event in ("end_map", "end_array")
            if depth == 0 or first_item_done or count > _SNIFF_EVENTS:
                break
    except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, ValueError):
        pass  # the head ends inside the record, or it is not JSON: judge from what was read
    return root, keys


def keys_at(keys: dict[str, set[str]], path: str) -> set[str]:
    """Keys of the first record at `path`, whether the file is lines of records or an array of them."""
    return keys.get(path, set()) | keys.get(f"item.{path}", set())


def read_records(tree: InputTree, name: str, ctx: IngestContext) -> Iterator[tuple[str, Any]]:
    """(where, record) for each record of a JSON Lines file, a JSON array or a single JSON document.

    In JSON Lines a broken line is malformed (skipped and counted, an error with --strict); a file in
    which no line parses is an InputError. A broken JSON document is an InputError naming the place."""
    display = tree.display(name)
    with tree.open(name) as stream:
        root = root_char(stream)
        if name.lower().endswith(".json") and root == "[":
            for index, item in enumerate(array_items(stream, display, "item", "record"), 1):
                yield f"record {index}", item
            return
        if name.lower().endswith(".json") and root == "{":
            # One record, or JSON Lines saved as .json: every top-level value in turn.
            yield from top_level_values(stream, display)
            return
        parsed, first_bad = 0, None
        for number, record in json_lines(stream, display, skip_bad=True):
            if record is None:
                first_bad = first_bad or number
                ctx.malformed(display, f"line {number}", "not a valid JSON line")
                continue
            parsed += 1
            yield f"line {number}", record
        if first_bad and not parsed:
            raise InputError(display, "no line is valid JSON (truncated or corrupt)", where=f"line {first_bad}")


def text_of(content: Any) -> tuple[str | None, bool]:
    """The text of a message `content` (a string or a list of parts) and whether it had non-text parts.

    None when the content is of a shape with no text we know how to read."""
    if content is None:
        return "", False
    if isinstance(content, str):
        return content, False
    if not isinstance(content, list):
        return None, False
    texts, media = [], False
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif (isinstance(part, dict) and isinstance(part.get("text"), str)
              and part.get("type", "text") in _TEXT_PART_TYPES):
            texts.append(part["text"])
        else:
            media = True
    return "\n".join(t for t in texts if t), media


def title_of(conversation: Conversation) -> str:
    """No title in these formats: the first line of the owner's first message, shortened."""
    first = next((m.text for m in conversation.messages if m.is_me and m.text.strip()), "")
    line = first.strip().splitlines()[0] if first.strip() else ""
    return line if len(line) <= 80 else line[:77].rstrip() + "…"


def content_id(source: str, conversation: Conversation) -> str:
    return f"{source}:{content_fingerprint(conversation)[:24]}"


class OpenAIJSONL(Ingester):
    name = "openai_jsonl"
    title = "OpenAI-style chat JSONL"
    kind = "assistant"
    priority = 90
    how_to_export = ('a .jsonl file of {"messages": [{"role", "content"}]} records (the OpenAI fine-tuning '
                     "format), a JSON array of them, or one such record as a .json file")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        return [n for n in names if n.lower().endswith(_EXTENSIONS) and self._looks_like(tree.head(n))]

    @staticmethod
    def _looks_like(head: bytes) -> bool:
        root, keys = sniff_first_record(head)
        if "role" in keys_at(keys, "messages.item"):
            return True
        return root == "[" and {"role", "content"} <= keys.get("item", set())  # a bare array of messages

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        ctx.owner_basis = "the user role"
        for name in sorted(entries):
            display = tree.display(name)
            usable = 0
            bare: list[Any] | None = None  # a bare array of messages: one conversation
            for where, record in read_records(tree, name, ctx):
                if bare is None and where == "record 1" and isinstance(record, dict) and "role" in record:
                    bare = []
                if bare is not None:
                    bare.append(record)
                elif isinstance(record, dict) and isinstance(record.get("messages"), list):
                    usable += 1
                    conversation = None
                    with ctx.guard(display, where):
                        conversation = self._conversation(record["messages"])
                    if conversation is not None:
                        yield conversation
                else:
                    ctx.malformed(display, where, "record without a messages list")
            if bare:
                usable += 1
                conversation = None
                with ctx.guard(display, "the message list"):
                    conversation = self._conversation(bare)
                if conversation is not None:
                    yield conversation
            if not usable:
                raise InputError(display, 'no record holds a "messages" list of role/content messages')

    def _conversation(self, messages: list[Any]) -> Conversation:
        conversation = Conversation(id="", source=self.name, title="", messages=[], kind="assistant",
                                    participants=["me", "assistant"])
        for raw in messages:
            message = self._message(raw, conversation)
            if message is not None:
                conversation.messages.append(message)
        conversation.id = content_id(self.name, conversation)
        conversation.title = title_of(conversation)
        return conversation

    @staticmethod
    def _message(raw: Any, conversation: Conversation) -> Message | None:
        if not isinstance(raw, dict):
            conversation.skipped["malformed message"] += 1
            return None
        role = raw.get("role")
        if role in _SYSTEM_ROLES:
            conversation.skipped["system prompt"] += 1
            return None
        if role in _TOOL_ROLES:
            conversation.skipped["tool output"] += 1
            return None
        if role not in ("user", "assistant"):
            conversation.skipped[f"unknown role ({role})"] += 1
            return None
        text, media = text_of(raw.get("content"))
        calls_tool = role == "assistant" and bool(raw.get("tool_calls") or raw.get("function_call"))
        if calls_tool:
            conversation.skipped["tool call"] += 1  # the call itself; any text beside it is kept
        if text is None:
            conversation.skipped["unsupported content"] += 1
            return None
        if not text.strip():
            if not calls_tool:
                conversation.skipped["attachment only" if media else "empty"] += 1
            return None
        message = Message(speaker="me" if role == "user" else "assistant", is_me=role == "user", text=text)
        if role == "assistant" and raw.get("weight") == 0:
            message.extra["weight"] = 0  # the file said not to train on this answer
        return message
