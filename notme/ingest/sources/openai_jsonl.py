"""OpenAI-style chat files: `{"messages": [{"role", "content"}, …]}` one a line (the fine-tuning
format), a JSON array of such records, one record as a whole `.json` file, or a bare JSON array of
messages (one conversation).

The owner is the user role. That is right for the owner's own chat logs, but notme's own training
files (and any file where the owner's words are the assistant turns) are the other way round:
ingested here, they would be stored inverted, the other side's words as the owner's writing and the
owner's as the assistant's. Do not ingest them.

System prompts, tool replies, refusals and assistant turns that only call a tool are left out and
counted; `content` given as a list of parts keeps its text parts. The records carry no id, so a
conversation's id is a hash of who said what: the same conversation in two files (or in another
export) is stored once. The reading helpers are shared with ShareGPT (`notme.ingest.chatformats`).
"""

from __future__ import annotations

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

_SYSTEM_ROLES = frozenset({"system", "developer"})


class OpenAIJSONL(Ingester):
    name = "openai_jsonl"
    title = "OpenAI-style chat JSONL"
    kind = "assistant"
    priority = 90
    how_to_export = ('a .jsonl file of {"messages": [{"role", "content"}]} records (the OpenAI fine-tuning '
                     "format), a JSON array of them, or one such record as a .json file; the user role is "
                     "taken as you (not for notme's own training files, where you are the assistant)")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        return [n for n in names if n.lower().endswith(EXTENSIONS) and self._looks_like(tree.head(n))]

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
                    conversation = ctx.guarded(display, where, self._conversation, record["messages"])
                    if conversation is not None:
                        yield conversation
                else:
                    ctx.malformed(display, where, "record without a messages list")
            if bare:
                usable += 1
                conversation = ctx.guarded(display, "the message list", self._conversation, bare)
                if conversation is not None:
                    yield conversation
            if not usable:
                raise InputError(display, 'no record holds a "messages" list of role/content messages')

    def _conversation(self, messages: list[Any]) -> Conversation:
        return assistant_chat(self.name, messages, self._message)

    @staticmethod
    def _message(raw: Any, conversation: Conversation) -> Message | None:
        if not isinstance(raw, dict):
            conversation.skipped["malformed message"] += 1
            return None
        role = raw.get("role")
        if isinstance(role, str) and role in _SYSTEM_ROLES:  # str first: a list here is unhashable
            conversation.skipped["system prompt"] += 1
            return None
        if isinstance(role, str) and role in TOOL_ROLES:
            conversation.skipped["tool output"] += 1
            return None
        if role not in ("user", "assistant"):
            conversation.skipped[f"unknown role ({role})"] += 1
            return None
        text, other_parts = text_of(raw.get("content"))
        calls_tool = role == "assistant" and bool(raw.get("tool_calls") or raw.get("function_call"))
        if calls_tool:
            conversation.skipped["tool call"] += 1  # the call itself; any text beside it is kept
        if text is None:
            conversation.skipped["unsupported content"] += 1
            return None
        if not text.strip():
            if not calls_tool:
                conversation.skipped[empty_reason(other_parts)] += 1
            return None
        message = Message(speaker="me" if role == "user" else "assistant", is_me=role == "user", text=text)
        if role == "assistant" and raw.get("weight") == 0:
            message.extra["weight"] = 0  # the file said not to train on this answer
        return message
