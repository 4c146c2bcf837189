"""Writes DiscordChatExporter JSON exports (one file per channel) from scripted channels.

Written from the structure described in docs/formats (DiscordChatExporter's JSON writer): no real
export is copied. Every trap an ingester must handle can be produced: DMs (guild "0" or "@me") and
server channels, group DMs, system messages (joins, pins, calls), bots and webhooks, replies,
edits, reactions, attachment-only and sticker-only messages, forwards, raw `<@id>` mentions and
custom emoji, timestamps with the exporting machine's offset, partitioned files (`[part N]`).
"""

from __future__ import annotations

import json
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notme.samples.common import write_files

_DISCORD_EPOCH_MS = 1_420_070_400_000
_AVATAR = "https://cdn.discordapp.com/embed/avatars/0.png"
DM_GUILD = {"id": "0", "name": "Direct Messages", "iconUrl": _AVATAR}


@dataclass(frozen=True)
class DiscordUser:
    id: str
    name: str  # the unique username
    nickname: str | None = None  # display name or server nickname; the exporter writes the name when none
    is_bot: bool = False
    discriminator: str = "0000"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "discriminator": self.discriminator,
                "nickname": self.nickname or self.name, "color": None, "isBot": self.is_bot,
                "roles": [], "avatarUrl": _AVATAR}

    def mention(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "discriminator": self.discriminator,
                "nickname": self.nickname or self.name, "isBot": self.is_bot}

    @property
    def raw_mention(self) -> str:
        return f"<@{self.id}>"


def username(display: str) -> str:
    plain = unicodedata.normalize("NFKD", display).encode("ascii", "ignore").decode()
    return ".".join(plain.lower().replace(".", " ").split()) or "user"


def user_for(display: str, *, is_bot: bool = False) -> DiscordUser:
    """A stable, made-up account for a persona name."""
    return DiscordUser(str(400_000_000_000_000_000 + zlib.crc32(display.encode()) * 1000 + 1),
                       username(display), display, is_bot)


def guild(name: str) -> dict[str, Any]:
    return {"id": str(800_000_000_000_000_000 + zlib.crc32(name.encode()) * 1000), "name": name, "iconUrl": _AVATAR}


class DiscordChannel:
    """One channel's messages; the clock moves `step_seconds` per message. `guild_info` None is a DM.
    `export_zone` is the exporting machine's zone (timestamps carry its offset)."""

    def __init__(self, guild_info: dict[str, Any] | None, channel_id: str, name: str, start: datetime, *,
                 channel_type: str | None = None, category: str | None = None, step_seconds: float = 75.0,
                 export_zone: tzinfo = UTC) -> None:
        if start.tzinfo is None:
            raise ValueError("start needs a zone")
        self.guild = guild_info or DM_GUILD
        self.id, self.name = channel_id, name
        self.type = channel_type or ("DirectTextChat" if guild_info is None else "GuildTextChat")
        self.category = category or ("Private" if guild_info is None else "Text Channels")
        self.clock = start
        self.step = timedelta(seconds=step_seconds)
        self.export_zone = export_zone
        self.messages: list[Any] = []
        self._serial = 0

    def _stamp(self, at: datetime) -> str:
        return at.astimezone(self.export_zone).isoformat(timespec="milliseconds")

    def message(self, author: DiscordUser, content: str, *, kind: str = "Default", at: datetime | None = None,
                attachments: Sequence[str] = (), stickers: Sequence[str] = (), embeds: Sequence[dict] = (),
                mentions: Sequence[DiscordUser] = (), reference: dict | None = None,
                edited_minutes: int | None = None, pinned: bool = False, **extra: Any) -> dict[str, Any]:
        if at is None:
            self.clock += self.step
            at = self.clock
        self.clock = max(self.clock, at)
        self._serial += 1
        snowflake = str(((int(at.timestamp() * 1000) - _DISCORD_EPOCH_MS) << 22) + self._serial)
        record: dict[str, Any] = {
            "id": snowflake, "type": kind, "timestamp": self._stamp(at),
            "timestampEdited": self._stamp(at + timedelta(minutes=edited_minutes)) if edited_minutes else None,
            "callEndedTimestamp": None, "isPinned": pinned, "content": content, "author": author.to_dict(),
            "attachments": [{"id": f"{snowflake}{i}", "url": f"https://cdn.discordapp.com/attachments/{self.id}/"
                             f"{snowflake}/{name}", "fileName": name, "fileSizeBytes": 184_320}
                            for i, name in enumerate(attachments)],
            "embeds": list(embeds),
            "stickers": [{"id": f"7{snowflake[1:]}", "name": name, "format": "Apng",
                          "sourceUrl": f"https://cdn.discordapp.com/stickers/{name}.png"} for name in stickers],
            "reactions": [], "mentions": [u.mention() for u in mentions],
        }
        if reference is not None:
            record["reference"] = reference
        record.update(extra)
        self.messages.append(record)
        return record

    def _reference(self, to: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
        reference = {"messageId": to["id"], "channelId": self.id, "guildId": self.guild["id"]}
        return reference | ({"type": kind} if kind else {})

    def reply(self, author: DiscordUser, content: str, to: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return self.message(author, content, kind="Reply", reference=self._reference(to), **kw)

    def system(self, kind: str, author: DiscordUser, content: str = "", **kw: Any) -> dict[str, Any]:
        """A notification: GuildMemberJoin, ChannelPinnedMessage, Call, RecipientAdd…"""
        return self.message(author, content, kind=kind, **kw)

    def pin(self, author: DiscordUser, pinned: dict[str, Any]) -> dict[str, Any]:
        pinned["isPinned"] = True
        return self.system("ChannelPinnedMessage", author, "Pinned a message.", reference=self._reference(pinned))

    def attachment(self, author: DiscordUser, file_name: str = "IMG_2041.jpg", content: str = "") -> dict[str, Any]:
        return self.message(author, content, attachments=[file_name])

    def sticker(self, author: DiscordUser, name: str = "wave") -> dict[str, Any]:
        return self.message(author, "", stickers=[name])

    def forward(self, author: DiscordUser, original: str) -> dict[str, Any]:
        return self.message(author, "", reference={"type": "Forward", "messageId": "1", "channelId": "2",
                                                   "guildId": None},
                            forwardedMessage={"content": original, "timestamp": self._stamp(self.clock)})

    def react(self, record: dict[str, Any], emoji: str, *who: DiscordUser) -> dict[str, Any]:
        record["reactions"].append({"emoji": {"id": "", "name": emoji, "code": "emoji", "isAnimated": False,
                                              "imageUrl": "https://cdn.jsdelivr.net/emoji.svg"},
                                    "count": len(who), "users": [u.mention() for u in who]})
        return record

    def file_name(self) -> str:
        return f"{self.guild['name']} - {self.category} - {self.name} [{self.id}]"

    def to_dict(self, messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        messages = self.messages if messages is None else messages
        return {
            "guild": dict(self.guild),
            "channel": {"id": self.id, "type": self.type, "categoryId": str(int(self.id) - 1),
                        "category": self.category, "name": self.name, "topic": None},
            "dateRange": {"after": None, "before": None},
            "exportedAt": self._stamp(self.clock + timedelta(days=1)),
            "messages": messages,
            "messageCount": len(messages),
        }


def write_export(directory: Path, channels: Sequence[DiscordChannel], *, partition: int = 0,
                 zip_name: str | None = None) -> Path:
    """One file per channel (or `partition` messages per file, as `--partition` does); returns the
    folder, or the zip when `zip_name` is given."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for channel in channels:
        size = partition or max(len(channel.messages), 1)
        chunks = [channel.messages[i:i + size] for i in range(0, len(channel.messages), size)] or [[]]
        for number, chunk in enumerate(chunks, 1):
            suffix = f" [part {number}]" if number > 1 else ""
            files[f"{channel.file_name()}{suffix}.json"] = json.dumps(channel.to_dict(chunk), ensure_ascii=False,
                                                                      indent=2)
    return write_files(directory, files, zip_name)


def _turns(session: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(speaker, text) for turn in session for speaker, text in turn.items()]


def write_sample(directory: Path, contacts: list[dict], groups: list[dict], owner: dict) -> Path:
    """A folder with a DM for the first contact and a server channel for the first group (or, with no
    group, a small server channel the owner shares with that contact), a session every few days
    from 2025-01-06 in the persona's zone, with a pin, a member join, an attachment-only message, a
    sticker, a reply, an edit, a reaction, a raw mention, a bot and a secret sprinkled in."""
    zone = ZoneInfo(owner.get("timezone") or "UTC")
    handles = owner.get("owner_handles") or {}
    display = str(owner.get("owner") or owner.get("name") or "Me")
    me = DiscordUser(str(handles.get("discord_id") or "555010000000000100"), username(display), display)
    bot = user_for("Stagebot", is_bot=True)
    start = datetime(2025, 1, 6, 21, 0, tzinfo=zone)
    channels = []
    contact = contacts[0] if contacts else None
    them = user_for(contact["name"]) if contact else None

    if contact and them:
        dm = DiscordChannel(None, str(int(them.id) + 7), contact["name"], start, export_zone=zone)
        for number, session in enumerate(contact.get("sessions") or []):
            dm.clock = start + timedelta(days=3 * number)
            sent = [dm.message(me if who == "me" else them, text) for who, text in _turns(session)]
            if number == 0 and sent:
                theirs = next((m for m in sent if m["author"]["id"] == them.id), sent[0])
                dm.attachment(them, "screenshot_staging_lock.png")
                dm.reply(me, "got it, on it", to=theirs, edited_minutes=2)
                dm.react(theirs, "👀", me)
                dm.pin(them, theirs)
        channels.append(dm)

    server = guild(groups[0]["name"] if groups else "Side Projects")
    general = DiscordChannel(server, str(int(server["id"]) + 11), "general", start - timedelta(days=2),
                             export_zone=zone)
    newcomer = them or me
    if groups:
        members = {name: user_for(name) for name in groups[0].get("members") or []}
        newcomer = next(iter(members.values()), newcomer)
        for name in members:
            general.system("GuildMemberJoin", members[name])
        for number, session in enumerate(groups[0].get("sessions") or []):
            general.clock = start + timedelta(days=4 * number, hours=1)
            for who, text in _turns(session):
                general.message(me if who == "me" else members.setdefault(who, user_for(who)), text)
    else:
        general.system("GuildMemberJoin", me)
        general.message(me, "project notes go here from now on")
        if them:
            general.system("GuildMemberJoin", them)
    general.message(bot, f"Welcome {newcomer.nickname}! Read #rules first.")
    first = general.message(me, f"{newcomer.raw_mention} the deploy checklist is pinned", mentions=[newcomer])
    general.pin(me, first)
    general.attachment(newcomer, "checklist.pdf")
    general.sticker(newcomer, "thumbs_up")
    general.reply(newcomer, "thanks, reading it now", to=first)
    general.message(me, "staging key for the checklist: sk-proj-H4rT8vQ2nW6yL1cZ9pX5mB3k")
    channels.append(general)
    return write_export(directory, channels)
