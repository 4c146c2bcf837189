"""What the generic chat-file readers share (OpenAI-style JSONL and ShareGPT): finding the records of a
JSON Lines file, a JSON array or a single JSON document; sniffing the first record's keys for
`claims`; the text of a `content` given as a string or a list of parts; ids and titles for records
that carry neither.

Both formats are training data: their owner is taken to be the user / human side.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import ijson

from notme.corpus.schema import Conversation, Message, content_fingerprint
from notme.corpus.text import short_title
from notme.errors import InputError
from notme.ingest.base import IngestContext
from notme.ingest.inputs import InputTree
from notme.ingest.jsonstream import PARSE_ERRORS, array_items, json_lines, root_char, top_level_values

EXTENSIONS = (".jsonl", ".json", ".ndjson")
# Roles whose turns are a tool's output, never a person's writing.
TOOL_ROLES = frozenset({"tool", "function", "ipython"})
_SNIFF_EVENTS = 20_000
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
# Non-text parts that are not attachments, and how a message holding only them is counted.
_PART_REASONS = {"refusal": "refusal", "tool_result": "tool output", "function_result": "tool output"}


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
    except PARSE_ERRORS:
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


def text_of(content: Any) -> tuple[str | None, set[str]]:
    """The text of a message `content` (a string or a list of parts) and the types of its other parts
    ("?" for a part of no known shape). None when the content has a shape with no text to read."""
    if content is None:
        return "", set()
    if isinstance(content, str):
        return content, set()
    if not isinstance(content, list):
        return None, set()
    texts, other = [], set()
    for part in content:
        kind = part.get("type", "text") if isinstance(part, dict) else None
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(kind, str) and kind in _TEXT_PART_TYPES and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            other.add(kind if isinstance(kind, str) else "?")
    return "\n".join(t for t in texts if t), other


def empty_reason(other_parts: set[str]) -> str:
    """Why a message with no text is left out, from the types of the parts it had instead."""
    for kind, reason in _PART_REASONS.items():
        if kind in other_parts:
            return reason
    return "attachment only" if other_parts else "empty"


def title_of(conversation: Conversation) -> str:
    """No title in these formats: the first line of the owner's first message, shortened."""
    return short_title(next((m.text for m in conversation.messages if m.is_me and m.text.strip()), ""))


def content_id(source: str, conversation: Conversation) -> str:
    """Records carry no usable id: the conversation's id is a hash of who said what, so the same
    conversation in two files (or from another source) is stored once."""
    return f"{source}:{content_fingerprint(conversation)[:24]}"


def assistant_chat(source: str, turns: list[Any],
                   read_turn: Callable[[Any, Conversation], Message | None],
                   conversation: Conversation | None = None) -> Conversation:
    """A conversation from a list of turns in a generic chat format; its id is a hash of its
    content (these formats have no ids), its title the first prompt."""
    conversation = conversation or Conversation(id="", source=source, title="", messages=[], kind="assistant",
                                                participants=["me", "assistant"])
    for turn in turns:
        message = read_turn(turn, conversation)
        if message is not None:
            conversation.messages.append(message)
    conversation.id = content_id(source, conversation)
    conversation.title = title_of(conversation)
    return conversation
