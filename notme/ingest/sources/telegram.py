"""Telegram Desktop export, "Machine-readable JSON" (`result.json`): one chat (the root is the chat)
or the whole account (`personal_information`, `chats.list`, `left_chats.list`).

The file is pretty-printed and can be hundreds of MB, so it is read as a stream of parser events:
one message object is built at a time and each chat becomes a conversation when its object closes.
The owner is `"user" + personal_information.user_id` in a full export (read before the chats, or
by a second look when the file puts it later); a one-chat export only has names, so the owner is
whoever `--me` names (a name, or an id such as `user123…`), or, with no name known, in a 1:1 chat
(whose id is the contact's user id) the sender who is not the contact.

Kept: what people typed, in 1:1 chats, groups and Saved Messages (the owner's notes to self).
Left out and counted: service messages, stickers (even with their emoji: picked, not typed),
media without a caption and "(File not included…)" placeholders, forwards (someone else's
writing), inline-bot results, empty messages; whole channels, bot chats and the "Replies" chat.
Times come from `date_unixtime` (UTC); `date` is the exporting PC's wall clock with no zone and is
used, in the given zone, only by old exports that lack `date_unixtime`.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import ijson

from notme.corpus.schema import Conversation, Message, derived_message_id
from notme.corpus.timestamps import from_local_iso, from_unix
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester
from notme.ingest.inputs import InputTree
from notme.ingest.jsonstream import PARSE_ERRORS, parse_error

_ONE_TO_ONE = {"personal_chat"}
_GROUPS = {"private_group", "private_supergroup", "public_supergroup"}
_SAVED = "saved_messages"
_DROPPED_TYPES = {
    "private_channel": "channel", "public_channel": "channel", "bot_chat": "bot chat", "replies": "replies chat",
}
# Keys a message with media carries; without a caption such a message is nothing the owner typed.
_MEDIA_KEYS = ("photo", "file", "media_type", "thumbnail", "contact_information", "location_information",
               "place_name", "poll", "game_title", "invoice_information", "contact_vcard")
# The folders tdesktop writes media into, beside result.json: taken with it so they are not reported
# as files nothing read (they hold no text).
_MEDIA_FOLDERS = {"photos", "files", "video_files", "voice_messages", "round_video_messages", "stickers",
                  "profile_pictures", "stories"}
_CHAT_FOLDER = re.compile(r"chat_\d+/")  # a full export's media: chats/chat_001/photos/…
_FILE_PLACEHOLDER = re.compile(r"^\((?:File|Photo) (?:not included|exceeds maximum size|unavailable)")

# Detection: a one-chat export opens with the chat's own keys, a full export with "about".
_CHAT_ROOT = re.compile(r'^\s*\{\s*"(?:name|type|id)"\s*:')
_CHAT_TYPE = re.compile(r'"type"\s*:\s*"(?:saved_messages|replies|personal_chat|bot_chat|private_group|'
                        r'private_supergroup|public_supergroup|private_channel|public_channel)"')
_FULL_ROOT = re.compile(r'^\s*\{\s*"about"\s*:')
_FULL_KEYS = re.compile(r'"(?:personal_information|chats|left_chats|contacts|frequent_contacts)"\s*:\s*\{')

# Where chats, their fields and their messages sit in the two layouts (ijson prefixes).
_CHAT_PREFIXES = {"", "chats.list.item", "left_chats.list.item"}
_MESSAGE_PREFIXES = {f"{p}.messages.item".lstrip(".") for p in _CHAT_PREFIXES}
_CHAT_FIELDS = {f"{p}.{key}".lstrip("."): key for p in _CHAT_PREFIXES for key in ("name", "type", "id")}
_MESSAGE_LISTS = {f"{p}.messages".lstrip(".") for p in _CHAT_PREFIXES}
_SCALARS = {"string", "number", "null", "boolean"}
_OPEN, _CLOSE = {"start_map", "start_array"}, {"end_map", "end_array"}

# tdesktop writes control characters other than \n \r \t as `\xNN`, which is not JSON
# (tdesktop issue #27571). A backslash pair is matched first, so an escaped backslash followed by
# an "x" is left alone.
_BACKSLASH_OR_X = re.compile(rb"\\\\|\\x")


class _FixedEscapes(io.RawIOBase):
    """The export's bytes with tdesktop's `\\xNN` escapes rewritten as `\\u00NN`."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._pending = b""
        self._carry = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._raw.read(1 << 16)
            if not chunk:
                self._pending, self._carry = self._carry, b""
                if not self._pending:
                    return 0
                break
            data = self._carry + chunk
            # An odd run of backslashes at the end: its escape goes on in the next chunk.
            trailing = len(data) - len(data.rstrip(b"\\"))
            data, self._carry = (data[:-1], data[-1:]) if trailing % 2 else (data, b"")
            if b"\\x" in data:
                data = _BACKSLASH_OR_X.sub(lambda m: m.group() if m.group() == b"\\\\" else b"\\u00", data)
            self._pending = data
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        self._raw.close()
        super().close()


def _open(tree: InputTree, name: str, counted: bool = True) -> io.BufferedReader:
    return io.BufferedReader(_FixedEscapes(tree.open(name, counted)), buffer_size=1 << 16)


def _build(events: Iterator[tuple[str, str, Any]], event: str, value: Any) -> Any:
    """The value that starts with this event (an object, array or scalar), from the next events."""
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    if event not in _OPEN:
        return builder.value
    depth = 1
    for _, event, value in events:
        builder.event(event, value)
        if event in _OPEN:
            depth += 1
        elif event in _CLOSE:
            depth -= 1
            if not depth:
                break
    return builder.value


def text_of(value: Any) -> str | None:
    """A message's `text`: a string, or a list of plain runs and entity objects, all concatenated.
    None for a shape Telegram does not write."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return None
    parts = []
    for part in value:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return "".join(parts)


def _user_id(value: Any) -> str | None:
    """`from_id` as tdesktop writes it now ("user123", "channel123"); old exports wrote a bare number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return f"user{int(value)}"
    return str(value)


@dataclass
class _Chat:
    prefix: str
    name: Any = None
    type: Any = None
    id: Any = None
    count: int = 0  # messages seen, kept or not
    messages: list[Message] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    participants: dict[str, None] = field(default_factory=dict)
    assumed_zone: bool = False
    # Messages without a native id, by position: the time as written, for a derived id once the
    # owner is known.
    written: dict[int, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.type == _SAVED:
            return "Saved Messages"
        return f"{self.name!r} ({self.id})" if self.name else f"chat {self.id}"

    @property
    def drop_reason(self) -> str | None:
        if self.type in _DROPPED_TYPES:
            return _DROPPED_TYPES[self.type]
        if self.type in _ONE_TO_ONE or self.type in _GROUPS or self.type == _SAVED:
            return None
        return f"unknown chat type ({self.type})"


class Telegram(Ingester):
    name = "telegram"
    title = "Telegram Desktop export"
    kind = "messaging"
    priority = 10
    how_to_export = ("Telegram Desktop → Settings → Advanced → Export Telegram data (or a chat's ⋮ → Export chat "
                     "history), format \"Machine-readable JSON\"; pass result.json or its folder")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        found = [n for n in names if n.lower().endswith(".json") and self._looks_like(tree.head_text(n))]
        roots = {n.rpartition("/")[0] for n in found}
        taken = set(found)
        return found + [n for n in names if n not in taken and _in_media_folder(n, roots)]

    @staticmethod
    def _looks_like(head: str) -> bool:
        if _FULL_ROOT.match(head):
            return bool(_FULL_KEYS.search(head))
        return bool(_CHAT_ROOT.match(head) and '"messages"' in head and _CHAT_TYPE.search(head))

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        if tree.kind == "file":  # one file, possibly forced with --source: read it and say what is wrong
            exports = entries
        else:
            exports = [n for n in entries if n.lower().endswith(".json") and self._looks_like(tree.head_text(n))]
        for name in sorted(exports):
            yield from _ExportReader(tree, name, ctx).conversations()


def _in_media_folder(name: str, roots: set[str]) -> bool:
    for root in roots:
        prefix = f"{root}/" if root else ""
        if name.startswith(prefix):
            folder, _, rest = name[len(prefix):].partition("/")
            if (folder == "chats" and _CHAT_FOLDER.match(rest)) or (rest and folder in _MEDIA_FOLDERS):
                return True
    return False


class _ExportReader:
    """One result.json, read once from start to end."""

    def __init__(self, tree: InputTree, name: str, ctx: IngestContext) -> None:
        self.tree, self.name, self.ctx = tree, name, ctx
        self.display = tree.display(name)
        self.full_export = False
        self.personal_seen = False
        self.owner_id: str | None = None  # "user123…" from personal_information
        self.found = False  # anything Telegram-shaped at all
        self.stack: list[_Chat] = []
        self.by_name: dict[tuple[str, str | None], bool] = {}

    def conversations(self) -> Iterator[Conversation]:
        with _open(self.tree, self.name) as stream:
            for kind, value in self._events(stream):
                if kind == "chat":
                    self.stack.append(_Chat(value))
                    self.full_export = self.full_export or value != ""
                elif kind == "field":
                    key, scalar = value
                    setattr(self.stack[-1], key, scalar)
                elif kind == "message":
                    chat = self.stack[-1]
                    with self.ctx.guard(self.display, f"chat {chat.label}, message {chat.count + 1}"):
                        self._add(chat, value)
                elif kind == "end":
                    conversation = self._finish(self.stack.pop())
                    if conversation is not None:
                        yield conversation
                elif kind == "personal":
                    self._personal(value)
                elif kind == "bad chat":
                    self.ctx.malformed(self.display, value, "chat is not an object")
                elif kind == "bad messages":
                    self.ctx.malformed(self.display, value, "messages is not an array")
        if not self.found:
            raise InputError(self.display, "not a Telegram export: no chat, messages or personal_information "
                                           "(export \"Machine-readable JSON\" from Telegram Desktop)")

    def _events(self, stream: IO[bytes]) -> Iterator[tuple[str, Any]]:
        """("chat", prefix) ("field", (key, value)) ("message", raw) ("end", prefix) ("personal", raw),
        and ("bad chat", place) ("bad messages", place) for shapes no export has."""
        events = ijson.parse(stream, use_float=True)
        try:
            for prefix, event, value in events:
                if prefix in _MESSAGE_PREFIXES:  # items of a messages array: objects, or anything malformed
                    yield "message", _build(events, event, value)
                elif prefix in _CHAT_PREFIXES and event != "map_key":
                    if event == "start_map":
                        yield "chat", prefix
                    elif event == "end_map":
                        yield "end", prefix
                    elif prefix:
                        yield "bad chat", self._place()
                        _build(events, event, value)
                elif prefix in _CHAT_FIELDS and event in _SCALARS:
                    yield "field", (_CHAT_FIELDS[prefix], value)
                elif prefix in _MESSAGE_LISTS and event not in ("start_array", "end_array") and self.stack:
                    # An object (or anything else) where the array belongs: counted, not silently lost.
                    yield "bad messages", f"chat {self.stack[-1].label}"
                    _build(events, event, value)
                elif prefix == "personal_information" and event == "start_map":
                    yield "personal", _build(events, event, value)
        except PARSE_ERRORS as e:
            raise parse_error(e, self.display, self._place()) from e

    def _place(self) -> str:
        chats = [c for c in self.stack if c.prefix or not self.full_export]
        if not chats:
            return "before the first chat"
        chat = chats[-1]
        return f"chat {chat.label}, after message {chat.count}" if chat.count else f"chat {chat.label}, first message"

    def _personal(self, info: Any) -> None:
        self.personal_seen = self.found = True
        if not isinstance(info, dict) or info.get("user_id") in (None, ""):
            return
        self.owner_id = f"user{info['user_id']}"
        self.ctx.owner_basis = "personal_information"
        name = " ".join(str(info.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
        self.ctx.inferred_owner += [self.owner_id, *([name] if name else [])]

    def _lookup_owner(self) -> None:
        """personal_information comes after the chats in this file: find it with a second, separate read."""
        self.personal_seen = True
        try:
            with _open(self.tree, self.name, counted=False) as stream:  # the bar counts the main read only
                info = next(iter(ijson.items(stream, "personal_information", use_float=True)), None)
        except PARSE_ERRORS:
            info = None  # the main read reports what is wrong with the file, at its place
        if info is not None:
            self._personal(info)

    def _add(self, chat: _Chat, raw: Any) -> None:
        chat.count += 1
        if chat.type is not None and chat.drop_reason:
            return  # the whole chat is left out: no need to read its messages
        where = f"chat {chat.label}, message {chat.count}"
        if not isinstance(raw, dict):
            self.ctx.malformed(self.display, where, "message is not an object")
            return
        kind = raw.get("type")
        if kind != "message":
            chat.skipped[{"service": "service message", "unsupported": "unsupported message"}.get(
                kind, f"unknown message type ({kind})")] += 1
            return
        speaker = "Deleted Account" if raw.get("from", "") is None else str(raw.get("from") or "Unknown")
        speaker_id = _user_id(raw.get("from_id"))
        chat.participants[speaker] = None
        reason = self._skip_reason(raw)
        if reason:
            chat.skipped[reason] += 1
            return
        text = text_of(raw.get("text"))
        if text is None:
            self.ctx.malformed(self.display, where, "text is neither a string nor a list")
            return
        if not text.strip() or _FILE_PLACEHOLDER.match(text.strip()):
            placeholder = bool(text.strip())
            chat.skipped["media" if placeholder or any(k in raw for k in _MEDIA_KEYS) else "empty"] += 1
            return
        message = Message(speaker=speaker, is_me=False, text=text,
                          timestamp=self._timestamp(chat, raw), speaker_id=speaker_id)
        message.id = "" if raw.get("id") is None else str(raw["id"])  # the chat id goes in front when the chat closes
        if not message.id:  # hashed when the chat closes, with the time as written: --timezone does not change it
            chat.written[len(chat.messages)] = str(raw.get("date_unixtime") or raw.get("date"))
        if raw.get("reply_to_message_id") is not None and raw.get("reply_to_peer_id") is None:
            message.extra["reply_to"] = str(raw["reply_to_message_id"])
        if raw.get("edited") or raw.get("edited_unixtime"):
            message.extra["edited"] = True
        chat.messages.append(message)

    @staticmethod
    def _skip_reason(raw: dict[str, Any]) -> str | None:
        if "forwarded_from" in raw or "saved_from" in raw:
            return "forwarded"  # someone else's writing, even when the owner passed it on
        if "via_bot" in raw:
            return "via bot"
        if raw.get("media_type") == "sticker":
            return "sticker"
        return None

    def _timestamp(self, chat: _Chat, raw: dict[str, Any]) -> str | None:
        stamp = from_unix(raw.get("date_unixtime"))
        if stamp:
            return stamp
        stamp, assumed = from_local_iso(raw.get("date"), self.ctx.zone)
        chat.assumed_zone = chat.assumed_zone or (assumed and stamp is not None)
        return stamp

    def _finish(self, chat: _Chat) -> Conversation | None:
        if chat.prefix == "" and self.full_export:
            return None  # the root of a full export is not a chat
        if chat.type is None and not chat.count:
            return None
        self.found = True
        if not chat.count:
            return None
        if chat.drop_reason:
            self.ctx.drop(chat.drop_reason, f"{self.display}: {chat.label}")
            return None
        if chat.id is None:
            self.ctx.malformed(self.display, f"chat {chat.label}", "chat without id")
            return None
        chat_id = str(chat.id)
        if not self.owner_id and not self.full_export and chat.type in _ONE_TO_ONE and not self.ctx.owner:
            self._owner_from_contact(chat)
        for index, message in enumerate(chat.messages):
            message.is_me = self._is_me(chat, message)
            if index in chat.written:
                message.id = derived_message_id(chat.written[index], message.is_me, message.text)
            else:
                message.id = f"{chat_id}/{message.id}"
            if "reply_to" in message.extra:
                message.extra["reply_to"] = f"{chat_id}/{message.extra['reply_to']}"
        conversation = Conversation(
            id=f"telegram:{chat_id}", source="telegram", title=self._title(chat), messages=chat.messages,
            kind="messaging", is_group=chat.type in _GROUPS, participants=list(chat.participants),
            skipped=chat.skipped,
        )
        if chat.assumed_zone:
            conversation.extra["timezone_assumed"] = str(self.ctx.zone)
        return conversation

    @staticmethod
    def _title(chat: _Chat) -> str:
        if chat.type == _SAVED:
            return "Saved Messages"
        if chat.name:
            return str(chat.name)
        return "Deleted Account" if chat.type in _ONE_TO_ONE else "Unnamed group"

    def _owner_from_contact(self, chat: _Chat) -> None:
        """A one-chat export of a 1:1 chat: the chat's id is the contact's user id, so the one other
        sender is the owner."""
        others = {m.speaker_id: m.speaker for m in chat.messages if m.speaker_id not in (None, f"user{chat.id}")}
        if len(others) == 1:
            ((self.owner_id, name),) = others.items()
            self.ctx.owner_basis = "inferred: the sender of a 1:1 chat who is not its contact"
            self.ctx.inferred_owner += [self.owner_id, *([name] if name != "Deleted Account" else [])]

    def _is_me(self, chat: _Chat, message: Message) -> bool:
        if chat.type == _SAVED:
            self.ctx.owner_basis = self.ctx.owner_basis or "Saved Messages"
            return True
        if self.full_export and not self.personal_seen:
            self._lookup_owner()
        if self.owner_id:
            return message.speaker_id == self.owner_id
        key = (message.speaker, message.speaker_id)
        if key not in self.by_name:
            self.by_name[key] = message.speaker != "Deleted Account" and self.ctx.is_owner_named(*key)
            self.ctx.owner_basis = "named by --me"
        return self.by_name[key]
