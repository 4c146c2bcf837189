"""DiscordChatExporter JSON: one file per channel (`{"guild", "channel", "dateRange", "messages"}`),
split into `… [part N].json` files with `--partition`; a folder of them, or a zip.

Every file of one channel (its parts, or two exports of it) becomes one conversation,
`discord:<channel id>`, with each message once. DMs have guild id "0" ("@me" in older builds) and
are 1:1 unless a third person speaks (a group DM); server channels and threads are groups.
Nothing in the export says who the owner is: it is the author `--me` names (username, display
name / nickname, `name#1234`, or the numeric id).

Kept: `Default` and `Reply` messages by people. Left out and counted: every other message type
(joins, pins, calls, thread and name changes: "system message"), bot and webhook messages ("bot
message": generated text, and a model that learns to answer bots learns nothing about the
owner), forwards, and messages with only attachments, stickers or embeds ("media").
Mentions left raw (`<@123>`, from `--markdown false`) become `@name` through the message's
`mentions`, as the default export already writes them; custom emoji `<:name:id>` become `:name:`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import ijson

from notme.corpus.schema import Conversation, Message
from notme.corpus.timestamps import from_iso
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester
from notme.ingest.inputs import InputTree, basename
from notme.ingest.jsonstream import PARSE_ERRORS, array_items, parse_error

_SPEECH = {"Default", "Reply"}
_DM_GUILD_IDS = {"0", "@me"}
_GROUP_DM = "DirectGroupTextChat"
_PART = re.compile(r"\[part (\d+)\]", re.IGNORECASE)
_GUILD = re.compile(r'"guild"\s*:\s*\{')
_CHANNEL = re.compile(r'"channel"\s*:\s*\{')
_MESSAGES = re.compile(r'"messages"\s*:\s*\[')
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_CUSTOM_EMOJI = re.compile(r"<a?:(\w+):\d+>")


class Discord(Ingester):
    name = "discord"
    title = "DiscordChatExporter JSON"
    kind = "messaging"
    priority = 10
    how_to_export = ("DiscordChatExporter (GUI, or CLI `export -c CHANNEL -f Json` / `exportdm -f Json`; it needs "
                     "your user token, which Discord's terms forbid): pass the .json files or their folder")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        return [n for n in names if n.lower().endswith(".json") and self._looks_like(tree.head_text(n))]

    @staticmethod
    def _looks_like(head: str) -> bool:
        return bool(_GUILD.search(head) and _CHANNEL.search(head) and _MESSAGES.search(head))

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        ctx.owner_basis = "named by --me"
        channels: dict[str, list[tuple[int, str, dict[str, Any]]]] = defaultdict(list)
        for name in entries:
            header = _header(tree, name)
            channel_id = str(header["channel"].get("id") or "")
            if not channel_id:
                ctx.malformed(tree.display(name), "channel", "channel without id")
                continue
            part = _PART.search(basename(name))
            channels[channel_id].append((int(part.group(1)) if part else 1, name, header))
        for channel_id, files in sorted(channels.items()):
            files.sort(key=lambda f: (f[0], f[1]))
            yield _ChannelReader(tree, channel_id, files, ctx).conversation()


def _header(tree: InputTree, name: str) -> dict[str, Any]:
    """guild, channel (and dateRange) from the top of the file; they come before the messages."""
    display = tree.display(name)
    header: dict[str, Any] = {}
    try:
        with tree.open(name, counted=False) as stream:  # the progress bar counts the message read only
            for key, value in ijson.kvitems(stream, "", use_float=True):
                if key in ("guild", "channel"):
                    header[key] = value
                if "guild" in header and "channel" in header:
                    break
    except PARSE_ERRORS as e:
        raise parse_error(e, display, "guild and channel header") from e
    if not isinstance(header.get("guild"), dict) or not isinstance(header.get("channel"), dict):
        raise InputError(display, "not a DiscordChatExporter JSON export (no guild and channel objects; export "
                                  "with -f Json)")
    return header


class _ChannelReader:
    """Every file of one channel, read into one conversation."""

    def __init__(self, tree: InputTree, channel_id: str, files: list[tuple[int, str, dict[str, Any]]],
                 ctx: IngestContext) -> None:
        self.tree, self.channel_id, self.files, self.ctx = tree, channel_id, files, ctx
        header = files[-1][2]  # the newest part names the channel as it is now
        self.guild, self.channel = header["guild"], header["channel"]
        self.is_dm = (str(self.guild.get("id")) in _DM_GUILD_IDS or self.guild.get("name") == "Direct Messages"
                      or str(self.channel.get("type") or "").startswith("Direct"))
        self.authors: dict[str, str] = {}  # people (not bots) who wrote, id → display name
        self.owner_ids: dict[str, bool] = {}
        self.assumed_zone = False

    def conversation(self) -> Conversation:
        conversation = Conversation(id=f"discord:{self.channel_id}", source="discord", title="", messages=[],
                                    kind="messaging")
        seen: set[str] = set()
        for _, name, _ in self.files:
            display = self.tree.display(name)
            with self.tree.open(name) as stream:
                for index, raw in enumerate(array_items(stream, display, "messages.item", "message"), 1):
                    native_id = str(raw.get("id") or "") if isinstance(raw, dict) else ""
                    if native_id in seen:
                        continue  # the same message in two exports of the channel
                    if native_id:
                        seen.add(native_id)
                    message = None
                    with self.ctx.guard(display, f"message {index}"):
                        message = self._message(raw, conversation, display, f"message {index}")
                    if message is not None:
                        conversation.messages.append(message)
        conversation.messages.sort(key=lambda m: m.timestamp or "")  # stable: parts in order stay in order
        conversation.participants = list(dict.fromkeys(self.authors.values()))
        conversation.is_group = not self.is_dm or self.channel.get("type") == _GROUP_DM or len(self.authors) > 2
        conversation.title = self._title()
        if self.assumed_zone:
            conversation.extra["timezone_assumed"] = str(self.ctx.zone)
        return conversation

    def _title(self) -> str:
        channel = str(self.channel.get("name") or self.channel_id)
        if self.is_dm:
            return channel
        return f"{self.guild.get('name') or 'Discord'} #{channel}"

    def _message(self, raw: Any, conversation: Conversation, display: str, where: str) -> Message | None:
        if not isinstance(raw, dict):
            self.ctx.malformed(display, where, "message is not an object")
            return None
        if raw.get("type") not in _SPEECH:
            conversation.skipped["system message"] += 1
            return None
        author = raw.get("author")
        if not isinstance(author, dict) or not author.get("id"):
            self.ctx.malformed(display, where, "message without author")
            return None
        if author.get("isBot"):
            conversation.skipped["bot message"] += 1
            return None
        author_id = str(author["id"])
        speaker = str(author.get("nickname") or author.get("name") or author_id)
        self.authors.setdefault(author_id, speaker)
        reference = raw.get("reference") if isinstance(raw.get("reference"), dict) else {}
        if raw.get("forwardedMessage") or reference.get("type") == "Forward":
            conversation.skipped["forwarded"] += 1
            return None
        content = raw.get("content") if isinstance(raw.get("content"), str) else ""
        text = _readable(content, raw.get("mentions"))
        if not text.strip():
            has_media = any(raw.get(k) for k in ("attachments", "stickers", "embeds"))
            conversation.skipped["media" if has_media else "empty"] += 1
            return None
        message = Message(speaker=speaker, is_me=self._is_owner(author_id, author), text=text,
                          timestamp=self._timestamp(raw.get("timestamp")), id=str(raw.get("id") or ""),
                          speaker_id=author_id)
        if raw.get("type") == "Reply" and reference.get("messageId"):
            message.extra["reply_to"] = str(reference["messageId"])
        if raw.get("timestampEdited"):
            message.extra["edited"] = True
        return message

    def _is_owner(self, author_id: str, author: dict[str, Any]) -> bool:
        if author_id not in self.owner_ids:
            name = str(author.get("name") or "")
            discriminator = str(author.get("discriminator") or "")
            tagged = f"{name}#{discriminator}" if name and discriminator.strip("0") else None
            self.owner_ids[author_id] = self.ctx.is_owner_named(name, author.get("nickname"), author_id, tagged)
        return self.owner_ids[author_id]

    def _timestamp(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        try:
            naive = datetime.fromisoformat(value.strip()).tzinfo is None
        except ValueError:
            return None
        if naive:
            self.assumed_zone = True
        return from_iso(value, self.ctx.zone)


def _readable(content: str, mentions: Any) -> str:
    """Raw mentions and custom emoji as the Discord client shows them."""
    if "<" not in content:
        return content
    names = {}
    for user in mentions if isinstance(mentions, list) else []:
        if isinstance(user, dict) and user.get("id"):
            names[str(user["id"])] = str(user.get("nickname") or user.get("name") or "")
    content = _USER_MENTION.sub(lambda m: f"@{names[m.group(1)]}" if names.get(m.group(1)) else m.group(), content)
    return _CUSTOM_EMOJI.sub(r":\1:", content)
