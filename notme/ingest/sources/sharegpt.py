"""ShareGPT-style files: `{"conversations": [{"from": "human" | "gpt" | "system" | …, "value"}]}`
records in a JSON array (read as a stream) or one a line.

Variants accepted: `user`/`assistant` speakers, `role`/`content` keys, a top-level `system`,
`function_call`/`observation` turns and `<image>` placeholders. The owner is the human side. That is
right for the owner's own chat logs, but notme's own training files (and any file where the owner's
words are the assistant turns) are the other way round: ingested here, they would be stored
inverted, the other side's words as the owner's writing and the owner's as the assistant's. Do not
ingest them.

System prompts and tool turns are left out and counted. Records carry no usable id (dataset ids
repeat across files), so a conversation's id is a hash of who said what, as for OpenAI-style JSONL
(the reading helpers are shared with it, in `notme.ingest.chatformats`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from notme.corpus.schema import Conversation, Message
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester
from notme.ingest.chatformats import (
    EXTENSIONS,
    TOOL_ROLES,
    assistant_chat,
    empty_reason,
    keys_at,
    read_records,
    sniff_first_record,
    text_of,
)
from notme.ingest.inputs import InputTree

_HUMAN = {"human", "user"}
_ASSISTANT = {"gpt", "assistant", "model", "chatgpt", "bard", "bing", "claude"}
_SYSTEM = {"system"}
_TOOL_CALL = {"function_call", "tool_call"}
_TOOL_OUTPUT = TOOL_ROLES | {"observation"}
_MEDIA_PLACEHOLDER = re.compile(r"<(?:image|video|audio)>")


class ShareGPT(Ingester):
    name = "sharegpt"
    title = "ShareGPT-style JSON"
    kind = "assistant"
    priority = 89  # before openai_jsonl: both are generic, this shape is the narrower one
    how_to_export = ('a JSON array (or JSONL) of {"conversations": [{"from": "human"|"gpt", "value"}]} '
                     "records, as LLaMA-Factory and axolotl use; the human side is taken as you (not for "
                     "notme's own training files, where you are the assistant)")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        return [n for n in names if n.lower().endswith(EXTENSIONS) and self._looks_like(tree.head(n))]

    @staticmethod
    def _looks_like(head: bytes) -> bool:
        _, keys = sniff_first_record(head)
        turn_keys = keys_at(keys, "conversations.item")
        return "from" in turn_keys or {"role", "content"} <= turn_keys

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        ctx.owner_basis = "the human turns"
        for name in sorted(entries):
            display = tree.display(name)
            usable = 0
            for where, record in read_records(tree, name, ctx):
                if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
                    ctx.malformed(display, where, "record without a conversations list")
                    continue
                usable += 1
                conversation = ctx.guarded(display, where, self._conversation, record)
                if conversation is not None:
                    yield conversation
            if not usable:
                raise InputError(display, 'no record holds a "conversations" list of from/value turns')

    def _conversation(self, record: dict[str, Any]) -> Conversation:
        conversation = Conversation(id="", source=self.name, title="", messages=[], kind="assistant",
                                    participants=["me", "assistant"])
        if isinstance(record.get("system"), str) and record["system"].strip():
            conversation.skipped["system prompt"] += 1
        return assistant_chat(self.name, record["conversations"], self._message, conversation)

    @staticmethod
    def _message(turn: Any, conversation: Conversation) -> Message | None:
        if not isinstance(turn, dict):
            conversation.skipped["malformed message"] += 1
            return None
        who = turn.get("from", turn.get("role"))
        if not isinstance(who, str):  # a list here would be unhashable in the checks below
            conversation.skipped[f"unknown role ({who})"] += 1
            return None
        who = who.casefold()
        if who in _SYSTEM:
            conversation.skipped["system prompt"] += 1
            return None
        if who in _TOOL_CALL:
            conversation.skipped["tool call"] += 1
            return None
        if who in _TOOL_OUTPUT:
            conversation.skipped["tool output"] += 1
            return None
        if who not in _HUMAN and who not in _ASSISTANT:
            conversation.skipped[f"unknown role ({who})"] += 1
            return None
        text, other_parts = text_of(turn.get("value", turn.get("content")))
        if text is None:
            conversation.skipped["unsupported content"] += 1
            return None
        if who in _HUMAN:
            stripped = _MEDIA_PLACEHOLDER.sub("", text)
            if stripped != text:
                other_parts.add("media placeholder")
            text = stripped
        if not text.strip():
            conversation.skipped[empty_reason(other_parts)] += 1
            return None
        is_me = who in _HUMAN
        return Message(speaker="me" if is_me else "assistant", is_me=is_me, text=text)
