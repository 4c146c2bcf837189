"""Writes Telegram Desktop "Machine-readable JSON" exports (`result.json`) from scripted chats.

Written from the structure described in docs/formats (tdesktop's JSON writer): no real export is
copied. Every trap an ingester must handle can be produced: the one-chat root and the full-export
root (personal_information before or after the chats, or missing), a `text` that is an array of
plain runs and entities, service messages, stickers, "(File not included…)" photos, forwards,
inline-bot results, replies, edits, reactions, deleted accounts (`from: null`), a `date` in the
exporting PC's zone next to `date_unixtime`, old exports with neither `date_unixtime` nor a
"user…" `from_id`, channels and bot chats, Saved Messages, and tdesktop's `\\xNN` escapes.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notme.samples.common import write_zip

FILE_NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
_NOT_A_JPEG = b"\xff\xd8\xff\xe0 not really a jpeg"
_ABOUT = "Here is the data you requested. Remember: Telegram is ad free, it doesn't sell your data."


@dataclass(frozen=True)
class TelegramUser:
    name: str | None  # None: a deleted account
    id: int

    @property
    def from_id(self) -> str:
        return f"user{self.id}"


def user_for(name: str) -> TelegramUser:
    """A stable, made-up Telegram user for a persona name."""
    return TelegramUser(name, 100_000_000 + zlib.crc32(name.encode()) % 900_000_000)


def bold(text: str) -> dict[str, str]:
    return {"type": "bold", "text": text}


def link(url: str) -> dict[str, str]:
    return {"type": "link", "text": url}


def _entities(text: Any) -> list[dict[str, Any]]:
    if isinstance(text, str):
        return [{"type": "plain", "text": text}] if text else []
    if not isinstance(text, list):
        return []  # a broken record, for tests
    return [{"type": "plain", "text": p} if isinstance(p, str) else dict(p) for p in text]


class TelegramChat:
    """One chat's messages, with the clock moving `step_seconds` per message.

    `export_zone` is the exporting PC's zone, used for the zone-less `date` field; `unixtime=False`
    writes an old export (no `date_unixtime`, numeric `from_id`)."""

    def __init__(self, name: str | None, chat_type: str, chat_id: int, start: datetime, *,
                 step_seconds: float = 90.0, export_zone: tzinfo = UTC, unixtime: bool = True) -> None:
        if start.tzinfo is None:
            raise ValueError("start needs a zone")
        self.name, self.type, self.id = name, chat_type, chat_id
        self.clock = start
        self.step = timedelta(seconds=step_seconds)
        self.export_zone = export_zone
        self.unixtime = unixtime
        self.messages: list[Any] = []
        self._next_id = 1

    def _base(self, kind: str, at: datetime | None) -> dict[str, Any]:
        if at is None:
            self.clock += self.step
            at = self.clock
        else:
            self.clock = max(self.clock, at)
        record: dict[str, Any] = {"id": self._next_id, "type": kind,
                                  "date": at.astimezone(self.export_zone).replace(tzinfo=None).isoformat()}
        if self.unixtime:
            record["date_unixtime"] = str(int(at.timestamp()))
        self._next_id += 1
        self.messages.append(record)
        return record

    def _from(self, record: dict[str, Any], sender: TelegramUser, label: str = "from") -> None:
        record[label] = sender.name
        record[f"{label}_id"] = sender.from_id if self.unixtime else sender.id

    def message(self, sender: TelegramUser, text: str | list, *, at: datetime | None = None,
                **fields: Any) -> dict[str, Any]:
        record = self._base("message", at)
        self._from(record, sender)
        record.update(fields)
        record["text"] = text
        record["text_entities"] = _entities(text)
        return record

    def service(self, actor: TelegramUser, action: str, **fields: Any) -> dict[str, Any]:
        record = self._base("service", None)
        self._from(record, actor, "actor")
        record["action"] = action
        record.update(fields)
        record["text"] = ""
        record["text_entities"] = []
        return record

    def unsupported(self) -> dict[str, Any]:
        record = self._base("unsupported", None)
        for key in ("date", "date_unixtime"):
            record.pop(key, None)
        return record

    def sticker(self, sender: TelegramUser, emoji: str = "👍") -> dict[str, Any]:
        return self.message(sender, "", file=FILE_NOT_INCLUDED,
                            thumbnail=FILE_NOT_INCLUDED, media_type="sticker", sticker_emoji=emoji,
                            width=512, height=512)

    def photo(self, sender: TelegramUser, caption: str | list = "") -> dict[str, Any]:
        return self.message(sender, caption, photo=FILE_NOT_INCLUDED, width=1280, height=960)

    def voice(self, sender: TelegramUser) -> dict[str, Any]:
        return self.message(sender, "", file=FILE_NOT_INCLUDED, media_type="voice_message",
                            mime_type="audio/ogg", duration_seconds=7)

    def forward(self, sender: TelegramUser, original_author: str | None, text: str) -> dict[str, Any]:
        return self.message(sender, text, forwarded_from=original_author)

    def via_bot(self, sender: TelegramUser, bot: str, text: str) -> dict[str, Any]:
        return self.message(sender, text, via_bot=bot)

    def reply(self, sender: TelegramUser, text: str | list, to: dict[str, Any]) -> dict[str, Any]:
        return self.message(sender, text, reply_to_message_id=to["id"])

    def edit(self, record: dict[str, Any], text: str, minutes_later: int = 3) -> dict[str, Any]:
        """The message as an export shows it after an edit: the new text and an `edited` time."""
        at = datetime.fromisoformat(record["date"]).replace(tzinfo=self.export_zone) + timedelta(minutes=minutes_later)
        edited = {"edited": at.replace(tzinfo=None).isoformat()}
        if self.unixtime:
            edited["edited_unixtime"] = str(int(at.timestamp()))
        position = list(record).index("from")
        items = list(record.items())
        record.clear()
        record.update(items[:position] + list(edited.items()) + items[position:])
        record["text"], record["text_entities"] = text, _entities(text)
        return record

    def react(self, record: dict[str, Any], emoji: str, *who: TelegramUser) -> dict[str, Any]:
        record.setdefault("reactions", []).append({
            "type": "emoji", "count": len(who), "emoji": emoji,
            "recent": [{"from": u.name, "from_id": u.from_id, "date": record["date"]} for u in who],
        })
        return record

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {}
        if self.type not in ("saved_messages", "replies"):
            record["name"] = self.name
        record |= {"type": self.type, "id": self.id, "messages": self.messages}
        return record


def personal_information(owner: TelegramUser, phone: str = "+351 910 555 100", username: str = "") -> dict[str, Any]:
    first, _, last = (owner.name or "").partition(" ")
    info: dict[str, Any] = {"user_id": owner.id, "first_name": first, "last_name": last, "phone_number": phone}
    if username:
        info["username"] = f"@{username}"
    return info


def render(document: Any) -> str:
    """JSON as tdesktop writes it: one-space indentation, raw UTF-8, U+2028/U+2029 escaped, and
    control characters other than \\n \\r \\t as `\\xNN` (not valid JSON, but what the app writes)."""
    text = json.dumps(document, ensure_ascii=False, indent=1)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    control = {"b": "08", "f": "0C"}
    return re.sub(r"(?<!\\)((?:\\\\)*)\\(u00[01][0-9a-fA-F]|b|f)",
                  lambda m: m.group(1) + "\\x" + control.get(m.group(2), m.group(2)[3:].upper()), text)


def write_export(directory: Path, chats: Sequence[TelegramChat | dict], *, owner: dict | None = None,
                 left_chats: Sequence[TelegramChat | dict] = (), single: bool = False,
                 personal_after_chats: bool = False, filename: str = "result.json",
                 zip_name: str | None = None, media: bool = False) -> Path:
    """Write a one-chat export (`single`, exactly one chat) or a full export; returns what to ingest:
    the folder holding result.json, or the zip when `zip_name` is given (always with a photo, as
    `media` adds to the folder).

    `owner` is personal_information (see `personal_information`); None leaves it out, as when
    "Account information" is unticked in the export settings."""
    directory.mkdir(parents=True, exist_ok=True)
    records = [c.to_dict() if isinstance(c, TelegramChat) else c for c in chats]
    if single:
        if len(records) != 1:
            raise ValueError("a one-chat export holds exactly one chat")
        document: Any = records[0]
    else:
        document = {"about": _ABOUT}
        if owner is not None and not personal_after_chats:
            document["personal_information"] = owner
        document |= {
            "profile_pictures": [],
            "contacts": {"about": "This is your contacts list.", "list": []},
            "frequent_contacts": {"about": "Frequent contacts.", "list": []},
            "chats": {"about": "This page lists all chats from this export.", "list": records},
        }
        if left_chats:
            document["left_chats"] = {
                "about": "This page lists all supergroups and channels from this export that you've left.",
                "list": [c.to_dict() if isinstance(c, TelegramChat) else c for c in left_chats],
            }
        if owner is not None and personal_after_chats:
            document["personal_information"] = owner
    data = render(document)
    # Where tdesktop puts a downloaded photo: beside result.json, or per chat in a full export.
    photo = ("" if single else "chats/chat_001/") + "photos/photo_1@01-03-2025_09-01-30.jpg"
    if zip_name:
        target = directory / zip_name
        return write_zip(target, {f"DataExport/{filename}": data, f"DataExport/{photo}": _NOT_A_JPEG})
    (directory / filename).write_text(data, encoding="utf-8")
    if media:
        (directory / photo).parent.mkdir(parents=True, exist_ok=True)
        (directory / photo).write_bytes(_NOT_A_JPEG)
    return directory


def _turns(session: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(speaker, text) for turn in session for speaker, text in turn.items()]


def write_sample(directory: Path, contacts: list[dict], groups: list[dict], owner: dict) -> Path:
    """A full export of the persona: a 1:1 chat per contact and a supergroup per group, a session
    every few days from 2025-01-06 in the persona's zone, plus Saved Messages, a channel and a bot
    chat (dropped by the ingester), and the format's quirks sprinkled into the first chats."""
    zone = ZoneInfo(owner.get("timezone") or "UTC")
    handles = owner.get("owner_handles") or {}
    owner_id = int(re.sub(r"\D", "", str(handles.get("telegram_id") or "")) or 5550100)
    me = TelegramUser(str(owner.get("owner") or owner.get("name") or "Me"), owner_id)
    start = datetime(2025, 1, 6, 19, 0, tzinfo=zone)
    chats: list[TelegramChat] = []

    for index, contact in enumerate(contacts):
        them = user_for(contact["name"])
        chat = TelegramChat(contact["name"], "personal_chat", them.id, start, export_zone=zone)
        for number, session in enumerate(contact.get("sessions") or []):
            chat.clock = start + timedelta(days=3 * number + index, hours=index % 3)
            sent = []
            for speaker, text in _turns(session):
                sent.append(chat.message(me if speaker == "me" else them, text))
            if index == 0 and number == 0:
                _sprinkle_personal(chat, me, them, sent)
        chats.append(chat)

    for index, group in enumerate(groups):
        members = {name: user_for(name) for name in group.get("members") or []}
        group_id = 1_700_000_000 + zlib.crc32(group["name"].encode()) % 10**8
        chat = TelegramChat(group["name"], "private_supergroup", group_id, start, step_seconds=70, export_zone=zone)
        chat.clock = start - timedelta(days=1)
        chat.service(me, "create_group", title=group["name"], members=list(members))
        for number, session in enumerate(group.get("sessions") or []):
            chat.clock = start + timedelta(days=4 * number + index, hours=1)
            for speaker, text in _turns(session):
                sender = me if speaker == "me" else members.setdefault(speaker, user_for(speaker))
                chat.message(sender, text)
            if index == 0 and number == 0:
                chat.service(me, "pin_message", message_id=chat.messages[-1]["id"])
                chat.message(TelegramUser(None, 999_000_111), "hey all, I'm leaving telegram soon")
        chats.append(chat)

    saved = TelegramChat(None, "saved_messages", owner_id, start + timedelta(days=2), export_zone=zone)
    saved.message(me, "book the climbing gym for Thursday")
    saved.forward(me, "Lisbon Events", "Free concert at the park on Sunday")
    chats.append(saved)
    channel = TelegramChat("Lisbon Events", "public_channel", 1_500_000_001, start, export_zone=zone)
    channel.message(TelegramUser("Lisbon Events", 1_500_000_001), "Free concert at the park on Sunday")
    bot = TelegramChat("Weather Bot", "bot_chat", 600_000_001, start, export_zone=zone)
    bot.message(me, "/forecast lisbon")
    bot.message(TelegramUser("Weather Bot", 600_000_001), "Sunny, 18°C")
    chats += [channel, bot]

    phone = str(handles.get("phone") or "+351 910 555 100")
    return write_export(directory, chats, owner=personal_information(me, phone))


def _sprinkle_personal(chat: TelegramChat, me: TelegramUser, them: TelegramUser, sent: list[dict]) -> None:
    """The quirks of a real 1:1 chat, around the first session."""
    chat.sticker(them, "😂")
    chat.photo(them)
    chat.photo(me, "the view from the top")
    chat.forward(me, "Lisbon Events", "Free concert at the park on Sunday")
    chat.message(me, ["trail map: ", link("https://example.com/trails/sintra"), " — ", bold("Saturday 9:00"), "?"])
    chat.service(them, "phone_call", duration_seconds=312, discard_reason="hangup")
    if sent:
        first_theirs = next((m for m in sent if m.get("from_id") == them.from_id), sent[0])
        chat.reply(me, "yes, that one", to=first_theirs)
        chat.react(first_theirs, "❤", me)
        mine = next((m for m in sent if m.get("from_id") == me.from_id), None)
        if mine is not None:
            chat.edit(mine, mine["text"] + " 🙂")
    chat.message(me, "the shared account key is sk-proj-Q7fZ2mX9aL4cV8bN1kR6tY3w")
