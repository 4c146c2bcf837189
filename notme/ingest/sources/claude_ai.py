"""Claude.ai data export: `conversations.json` with `users.json` and `projects.json` beside it, as the
zip from the e-mail (`data-YYYY-MM-DD-HH-MM-SS.zip`), the folder it unpacks to, or several batch
folders (`data-…-batch-0000/`) of a large account.

Newer exports are trees: every message has `parent_message_uuid` (roots point at a sentinel uuid)
and the conversation names its `current_leaf_message_uuid`; the active branch is the parent chain
from that leaf (or from the newest leaf when it is missing). Sibling versions of an active message
(regenerated answers, edited prompts) are kept on it as `alternatives`; the other messages off the
branch are counted as abandoned. In a tree, a message without a parent uuid follows the message
before it in the array. Legacy exports have no parent links (no key, or `null` on every message):
array order is the order.

Left out and counted: thinking, tool calls and tool results (artifacts, web search), human turns
that are only pasted text (`attachments[].extracted_content` — pasted material, not the owner's
writing) or only files. `users.json` is personal data and is never read into the corpus;
`projects.json` holds project instructions and knowledge files, not conversation.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from notme.corpus.schema import Conversation, Message
from notme.corpus.timestamps import from_iso
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester, walk_to_root
from notme.ingest.inputs import InputTree, basename
from notme.ingest.jsonstream import array_items, root_char, top_level_values

_CONVERSATION_FILE = "conversations.json"
_BESIDE = ("users.json", "projects.json")
# Root messages of a tree export point at this uuid instead of null.
SENTINEL_PARENT = "00000000-0000-4000-8000-000000000000"
_EMPTY_ARRAY = re.compile(r"^\s*\[\s*\]\s*$")
# Content blocks that are not the conversation's text, and how their leaving out is counted.
_SKIPPED_BLOCKS = {"thinking": "reasoning", "redacted_thinking": "reasoning", "tool_use": "tool call",
                   "server_tool_use": "tool call", "tool_result": "tool output"}
_SPEAKERS = {"human": "me", "assistant": "Claude"}


def _parent_link(message: dict[str, Any]) -> str | None:
    parent = message.get("parent_message_uuid")
    return parent if isinstance(parent, str) and parent else None


def _parents(messages: list[dict[str, Any]]) -> dict[str, str] | None:
    """Each message's parent uuid, or None for a flat export. Only a string parent makes the export a
    tree: a flat one may carry the key with `null` everywhere, and reading those as roots would keep
    only its newest message. In a tree, a message without a parent follows the one before it in the
    array; the first is a root (the sentinel)."""
    if not any(_parent_link(m) for m in messages):
        return None
    parents: dict[str, str] = {}
    previous = SENTINEL_PARENT
    for message in messages:
        parents.setdefault(message["uuid"], _parent_link(message) or previous)  # a repeated uuid: the first
        previous = message["uuid"]
    return parents


class ClaudeAI(Ingester):
    name = "claude_ai"
    title = "Claude.ai export"
    kind = "assistant"
    priority = 10
    how_to_export = ("claude.ai → Settings → Privacy → Export data; pass the zip from the e-mail "
                     "(data-….zip), or the folder it unpacks to")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        present = set(names)
        found = [n for n in names if basename(n) == _CONVERSATION_FILE and self._looks_like(tree, n, present)]
        folders = {n.rpartition("/")[0] for n in found}
        beside = [n for n in names if basename(n) in _BESIDE and n.rpartition("/")[0] in folders]
        return found + beside

    @staticmethod
    def _looks_like(tree: InputTree, name: str, present: set[str]) -> bool:
        head = tree.head_text(name)
        if '"chat_messages"' in head:
            return True
        # An account with no conversations exports `[]`: it is Claude's when users.json sits beside it
        # (ChatGPT's export has user.json, singular).
        folder = name.rpartition("/")[0]
        users = f"{folder}/users.json" if folder else "users.json"
        return bool(_EMPTY_ARRAY.match(head)) and users in present

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        ctx.owner_basis = "the user role"
        # users.json and projects.json are claimed so they are not reported as ignored, never opened:
        # one is the account's personal data, the other project instructions and knowledge files.
        # Batches of one account may repeat a conversation: the same id, merged by the store.
        for name in sorted(n for n in entries if basename(n) not in _BESIDE):
            display = tree.display(name)
            for index, item in enumerate(self._items(tree, name, display), 1):
                conversation = ctx.guarded(display, f"conversation {index}", self._conversation, item, index,
                                           display, ctx)
                if conversation is not None:
                    yield conversation

    @staticmethod
    def _items(tree: InputTree, name: str, display: str) -> Iterator[Any]:
        """The conversations of one file: the array's items, or the root object itself when it is one
        conversation saved alone (as browser "export this chat" tools write it). An object that is not
        a conversation is an error, never zero in silence."""
        with tree.open(name) as stream:
            if root_char(stream) != "{":
                yield from array_items(stream, display, "item", "conversation")
                return
            document = next((value for _, value in top_level_values(stream, display, "object")), None)
        if not (isinstance(document, dict) and "chat_messages" in document):
            raise InputError(display, 'neither a list of conversations nor one conversation (no "chat_messages")')
        yield document

    def _conversation(self, item: Any, index: int, display: str, ctx: IngestContext) -> Conversation | None:
        where = f"conversation {index}"
        if not isinstance(item, dict):
            ctx.malformed(display, where, "conversation is not an object")
            return None
        native_id = item.get("uuid")
        chat = item.get("chat_messages")
        if not isinstance(native_id, str) or not native_id or not isinstance(chat, list):
            ctx.malformed(display, where, "conversation without uuid or chat_messages")
            return None
        where = f"conversation {native_id}"
        if not chat:
            ctx.drop("empty conversation", where)
            return None
        conversation = Conversation(
            id=f"claude_ai:{native_id}", source=self.name, title=str(item.get("name") or ""),
            messages=[], kind="assistant", participants=["me", "Claude"],
        )
        messages = []
        for raw in chat:
            if isinstance(raw, dict) and isinstance(raw.get("uuid"), str):
                messages.append(raw)
            else:
                conversation.skipped["malformed message"] += 1
        parents = _parents(messages)
        if parents is not None:
            path, alternatives = self._active_branch(messages, parents, item.get("current_leaf_message_uuid"),
                                                     conversation)
        else:
            path, alternatives = messages, {}  # a legacy flat export: array order is the conversation
        last_time = from_iso(item.get("created_at"))
        for raw in path:
            message = self._message(raw, conversation)
            if message is None:
                continue
            message.timestamp = message.timestamp or last_time
            last_time = message.timestamp
            if alternatives.get(message.id):
                message.extra["alternatives"] = alternatives[message.id]
            conversation.messages.append(message)
        return conversation

    def _active_branch(self, messages: list[dict[str, Any]], parents: dict[str, str], current_leaf: Any,
                       conversation: Conversation) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        """The parent chain from the current leaf, root first, and the sibling versions per message."""
        by_uuid: dict[str, dict[str, Any]] = {}
        children: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in messages:
            if message["uuid"] in by_uuid:
                conversation.skipped["repeated message"] += 1
                continue
            by_uuid[message["uuid"]] = message
            children[parents[message["uuid"]]].append(message)
        if not (isinstance(current_leaf, str) and current_leaf in by_uuid):
            # No leaf named (or a dangling one): the newest message nobody answered; a later one wins ties.
            leaves = [(from_iso(m.get("created_at")) or "", i, m["uuid"]) for i, m in enumerate(by_uuid.values())
                      if m["uuid"] not in children]
            if not leaves:  # every message is some message's parent (a loop)
                leaves = [("", i, uuid) for i, uuid in enumerate(by_uuid)]
            current_leaf = max(leaves)[2]
            conversation.extra["leaf_guessed"] = True
        ids = walk_to_root(current_leaf, lambda uuid: parents[uuid] if parents[uuid] in by_uuid else None)
        path = [by_uuid[uuid] for uuid in ids]
        seen = set(ids)
        alternatives: dict[str, list[str]] = {}
        for message in path:
            versions = []
            for sibling in children[parents[message["uuid"]]]:
                if sibling["uuid"] in seen or sibling.get("sender") != message.get("sender"):
                    continue
                text = self._text(sibling, None)
                if text and text.strip():
                    versions.append(text)
            if versions:
                alternatives[message["uuid"]] = versions
        abandoned = len(by_uuid) - len(seen)
        if abandoned:
            conversation.skipped["abandoned branch"] += abandoned
        return path, alternatives

    def _message(self, raw: dict[str, Any], conversation: Conversation) -> Message | None:
        sender = raw.get("sender")
        if not isinstance(sender, str) or sender not in _SPEAKERS:  # str first: a list is unhashable
            conversation.skipped[f"unknown sender ({sender})"] += 1
            return None
        text = self._text(raw, conversation)
        if text is None:
            return None  # only blocks that were counted (tool calls, thinking)
        if not text.strip():
            conversation.skipped[self._empty_reason(raw)] += 1
            return None
        return Message(
            speaker=_SPEAKERS[sender], is_me=sender == "human", text=text,
            timestamp=from_iso(raw.get("created_at")), id=raw["uuid"],
        )

    @staticmethod
    def _text(raw: dict[str, Any], conversation: Conversation | None) -> str | None:
        """The typed text: `content` text blocks, else the flattened `text` of legacy exports.

        None when the content held only blocks that are not text (counted on `conversation`)."""
        content = raw.get("content") if isinstance(raw.get("content"), list) else []
        texts, other_blocks = [], 0
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                if isinstance(block.get("text"), str) and block["text"].strip():
                    texts.append(block["text"])
                continue
            other_blocks += 1
            if conversation is not None:
                reason = _SKIPPED_BLOCKS.get(kind) if isinstance(kind, str) else None
                conversation.skipped[reason or f"unsupported block ({kind})"] += 1
        if texts:
            return "\n\n".join(texts)
        if other_blocks:
            return None
        # Legacy exports keep the text here with `content: []`; the two agree when both are filled.
        return raw["text"] if isinstance(raw.get("text"), str) else ""

    @staticmethod
    def _empty_reason(raw: dict[str, Any]) -> str:
        attachments = raw.get("attachments") if isinstance(raw.get("attachments"), list) else []
        if any(isinstance(a, dict) and str(a.get("extracted_content") or "").strip() for a in attachments):
            return "pasted attachment"  # pasted material, never the owner's own writing
        if attachments or raw.get("files"):
            return "attachment only"
        return "empty"
