"""ChatGPT data export: `conversations.json` (or the 2026 shards `conversations-NNN.json`), as a
folder or the zip, with `message_feedback.json` beside it.

Each conversation is a tree (`mapping`); the active branch is the parent chain from
`current_node`. Other branches (regenerated answers, edited prompts) are not part of the
conversation: the sibling versions of an active message are kept on it as `alternatives`, and
thumbs up/down from `message_feedback.json` as `feedback`, for preference pairs later.
Custom instructions, memory, hidden and system messages, tool calls and output, and reasoning are
left out and counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from notme.corpus.schema import Conversation, Message
from notme.corpus.timestamps import from_unix
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester, walk_to_root
from notme.ingest.inputs import InputTree, basename
from notme.ingest.jsonstream import array_items, load_small, root_char, top_level_values

_CONVERSATION_FILE = re.compile(r"^conversations(?:-\d+)?\.json$")
_FEEDBACK_FILE = "message_feedback.json"
# The rest of a ChatGPT export: account data, the HTML viewer, uploads and generated images. Claimed
# with the conversations so they are not reported as unread; none of it is the owner's writing.
_COMPANION = re.compile(
    r"^(?:chat\.html|user\.json|user_settings\.json|shared_conversations\.json|model_comparisons\.json"
    r"|group_chats\.json|shopping\.json|sora\.json|library_files\.json|export_manifest\.json"
    r"|conversation_asset_file_names\.json|conversations\.json\.index|file[-_].+)$"
)
_COMPANION_FOLDERS = ("dalle-generations/", "textdocs/", "user-", "audio/")
# Citation markers in assistant text: \ue200cite\ue202turn0search3\ue201 and 【12†source】.
_CITATION = re.compile(r"[ \t]*(?:\ue200[^\ue201]*\ue201|【[^】]{0,40}†[^】]{0,40}】)")

_TEXT_TYPES = ("text", "multimodal_text")  # the only content types whose text is a message's
_TOOL_OUTPUT_TYPES = {"execution_output", "tether_browsing_display", "tether_quote", "sonic_webpage",
                      "system_error", "computer_output", "super_widget", "app_pairing_content"}


def _feedback_rating(value: Any) -> str | None:
    text = str(value).casefold().replace("_", "")
    if text in {"thumbsup", "up", "positive", "1", "good"}:
        return "up"
    if text in {"thumbsdown", "down", "negative", "-1", "bad"}:
        return "down"
    return None


class ChatGPT(Ingester):
    name = "chatgpt"
    title = "ChatGPT export"
    kind = "assistant"
    priority = 10
    how_to_export = ("chatgpt.com → Settings → Data controls → Export data; pass the zip from the "
                     "e-mail, or the folder it unpacks to")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        found = [n for n in names if _CONVERSATION_FILE.match(basename(n)) and self._looks_like(tree, n)]
        folders = {n.rpartition("/")[0] for n in found}
        feedback = [n for n in names if basename(n) == _FEEDBACK_FILE and n.rpartition("/")[0] in folders]
        return found + feedback + [n for n in names if n not in feedback and self._companion(n, folders)]

    @staticmethod
    def _companion(name: str, folders: set[str]) -> bool:
        for folder in folders:
            prefix = f"{folder}/" if folder else ""
            if name.startswith(prefix):
                rest = name[len(prefix):]
                if _COMPANION.match(rest) or rest.startswith(_COMPANION_FOLDERS):
                    return True
        return False

    @staticmethod
    def _looks_like(tree: InputTree, name: str) -> bool:
        head = tree.head_text(name)
        return '"mapping"' in head and '"chat_messages"' not in head

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        ctx.owner_basis = "the user role"
        conversation_files = sorted(n for n in entries if _CONVERSATION_FILE.match(basename(n)))
        if not conversation_files and tree.kind == "file":
            conversation_files = list(entries)  # --source chatgpt on a file of another name
        feedback_files = [n for n in entries if basename(n) == _FEEDBACK_FILE]
        tree.pass_over([n for n in entries if n not in conversation_files and n not in feedback_files])
        feedback: dict[str, str] = {}
        for name in feedback_files:
            feedback |= self._read_feedback(tree, name, ctx)
        for name in conversation_files:
            display = tree.display(name)
            for index, item in enumerate(self._items(tree, name, display), 1):
                conversation = ctx.guarded(display, f"conversation {index}", self._conversation, item, index,
                                           display, feedback, ctx)
                if conversation is not None:
                    yield conversation

    @staticmethod
    def _items(tree: InputTree, name: str, display: str) -> Iterator[Any]:
        """The conversations of one file: a bare array's items or those of the `conversations` wrapper,
        else the root object itself when it is one conversation saved alone (as browser "export this
        chat" tools write it). An object that is neither is an error, never zero in silence."""
        found = False
        with tree.open(name) as stream:
            wrapped = root_char(stream) == "{"
            for item in array_items(stream, display, "conversations.item" if wrapped else "item", "conversation"):
                found = True
                yield item
        if not wrapped or found:
            return
        with tree.open(name) as stream:  # read again, whole: it holds one conversation at most
            document = next((value for _, value in top_level_values(stream, display, "object")), None)
        if isinstance(document, dict) and isinstance(document.get("conversations"), list):
            return  # an account without conversations
        if not (isinstance(document, dict) and "mapping" in document):
            raise InputError(display, 'neither a "conversations" list nor one conversation (no "mapping")')
        yield document

    def _read_feedback(self, tree: InputTree, name: str, ctx: IngestContext) -> dict[str, str]:
        with tree.open(name) as stream:
            data = load_small(stream, tree.display(name))
        ratings = {}
        for entry in data if isinstance(data, list) else []:
            if not isinstance(entry, dict):
                continue
            rating = _feedback_rating(entry.get("rating"))
            message_id = entry.get("message_id") or entry.get("id")
            if rating and isinstance(message_id, str):
                ratings[message_id] = rating
        return ratings

    def _conversation(self, item: Any, index: int, display: str, feedback: dict[str, str],
                      ctx: IngestContext) -> Conversation | None:
        where = f"conversation {index}"
        if not isinstance(item, dict):
            ctx.malformed(display, where, "conversation is not an object")
            return None
        native_id = item.get("id") or item.get("conversation_id")
        mapping = item.get("mapping")
        if not isinstance(native_id, str) or not isinstance(mapping, dict):
            ctx.malformed(display, where, "conversation without id or mapping")
            return None
        where = f"conversation {native_id}"
        path = self._active_path(mapping, item.get("current_node"))
        if path is None:
            ctx.drop("no active branch (current_node missing)", where)
            return None
        conversation = Conversation(
            id=f"chatgpt:{native_id}", source=self.name, title=str(item.get("title") or ""),
            messages=[], kind="assistant", participants=["me", "ChatGPT"],
        )
        if isinstance(item.get("default_model_slug"), str):
            conversation.extra["model"] = item["default_model_slug"]
        on_path = set(path)
        last_time = from_unix(item.get("create_time"))
        for node_id in path:
            message = self._message(mapping, node_id, conversation, feedback)
            if message is None:
                continue
            message.timestamp = message.timestamp or last_time  # system rows can lack a time
            last_time = message.timestamp
            conversation.messages.append(message)
        abandoned = sum(
            1 for node_id, node in mapping.items()
            if node_id not in on_path and isinstance(node, dict) and self._visible(node.get("message"))
        )
        if abandoned:
            conversation.skipped["abandoned branch"] += abandoned
        return conversation

    @staticmethod
    def _active_path(mapping: dict[str, Any], current: Any) -> list[str] | None:
        if not isinstance(current, str) or current not in mapping:
            return None

        def parent_of(node_id: str) -> str | None:
            node = mapping[node_id]
            parent = node.get("parent") if isinstance(node, dict) else None
            return parent if isinstance(parent, str) and parent in mapping else None

        return walk_to_root(current, parent_of)

    @staticmethod
    def _visible(message: Any) -> bool:
        """A user or assistant message with text. Also asked of nodes off the active branch, so any
        shape must give an answer: an odd node there must not cost the conversation."""
        if not isinstance(message, dict):
            return False
        author, content = message.get("author"), message.get("content")
        if not isinstance(author, dict) or not isinstance(content, dict):
            return False
        return author.get("role") in ("user", "assistant") and content.get("content_type") in _TEXT_TYPES

    def _message(self, mapping: dict[str, Any], node_id: str, conversation: Conversation,
                 feedback: dict[str, str]) -> Message | None:
        node = mapping[node_id]
        message = node.get("message") if isinstance(node, dict) else None
        if not isinstance(message, dict):
            return None  # the root and placeholder nodes carry no message
        skip = self._skip_reason(message)
        if skip:
            conversation.skipped[skip] += 1
            return None
        role = message["author"]["role"]
        text = _text_of(message.get("content") or {})
        if text is None:
            conversation.skipped[f"unsupported content ({message['content'].get('content_type')})"] += 1
            return None
        if not text.strip():
            conversation.skipped["attachment only" if _has_attachment(message) else "empty"] += 1
            return None
        if role == "assistant":
            text = _CITATION.sub("", text)
        result = Message(
            speaker="me" if role == "user" else "ChatGPT",
            is_me=role == "user",
            text=text,
            timestamp=from_unix(message.get("create_time")),
            id=str(message.get("id") or node_id),
        )
        alternatives = self._alternatives(mapping, node, node_id, role)
        if alternatives:
            result.extra["alternatives"] = alternatives
        rating = feedback.get(result.id)
        if rating:
            result.extra["feedback"] = rating
        return result

    @staticmethod
    def _skip_reason(message: dict[str, Any]) -> str | None:
        author = message.get("author")
        content = message.get("content")
        if not isinstance(author, dict) or not isinstance(content, dict):
            return "malformed message"
        role = author.get("role")
        content_type = content.get("content_type")
        metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
        if content_type in ("user_editable_context", "model_editable_context") or metadata.get(
            "is_user_system_message"
        ):
            return "custom instructions or memory"
        if metadata.get("is_visually_hidden_from_conversation") or message.get("weight") == 0:
            return "hidden message"
        if role == "system":
            return "system message"
        if role in ("tool", "function") or (isinstance(content_type, str) and content_type in _TOOL_OUTPUT_TYPES):
            return "tool output"
        if role == "assistant" and message.get("recipient") not in (None, "all"):
            return "tool call"
        if content_type == "code":
            return "tool call"
        if content_type in ("thoughts", "reasoning_recap"):
            return "reasoning"
        if role not in ("user", "assistant"):
            return f"unknown role ({role})"
        return None

    def _alternatives(self, mapping: dict[str, Any], node: dict[str, Any], node_id: str,
                      role: str) -> list[str]:
        """The other versions of this message: its siblings with the same role (regenerations, edits)."""
        parent = mapping.get(node.get("parent")) if isinstance(node.get("parent"), str) else None
        if not isinstance(parent, dict):
            return []
        children = parent.get("children")
        versions = []
        for sibling_id in children if isinstance(children, list) else []:
            sibling = mapping.get(sibling_id) if isinstance(sibling_id, str) else None
            if sibling_id == node_id or not isinstance(sibling, dict):
                continue
            message = sibling.get("message")
            if self._visible(message) and message["author"]["role"] == role and not self._skip_reason(message):
                text = _text_of(message["content"])
                if text and text.strip():
                    versions.append(_CITATION.sub("", text) if role == "assistant" else text)
        return versions


def _text_of(content: dict[str, Any]) -> str | None:
    """The typed text of a message; None for a content type with no text we know how to read. Only
    `text` and `multimodal_text` are read: the `text` of other types (pasted documents, canvases,
    types added later) is not what the owner typed in the chat."""
    parts = content.get("parts")
    if content.get("content_type") not in _TEXT_TYPES or not isinstance(parts, list):
        return None
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("content_type") == "audio_transcription":
            texts.append(str(part.get("text") or ""))
    return "\n".join(t for t in texts if t)


def _has_attachment(message: dict[str, Any]) -> bool:
    content = message.get("content") if isinstance(message.get("content"), dict) else {}
    parts = content.get("parts") if isinstance(content.get("parts"), list) else []
    metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    return bool(metadata.get("attachments")) or any(isinstance(p, dict) for p in parts)
