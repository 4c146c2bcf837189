"""DiscordChatExporter JSON: one file per channel (`{"guild", "channel", "dateRange", "messages"}`),
split into `… [part N].json` files with `--partition`; a folder of them, or a zip.

Every file of one channel (its parts, or two exports of it) becomes one conversation,
`discord:<channel id>`, with each message once (the copy edited last, else the one exported last),
in snowflake-id order. DMs have guild id "0" ("@me" in older builds) and are 1:1 unless a third
person speaks (a group DM); server channels and threads are groups. Nothing in the export says who
the owner is: it is the author `--me` names by numeric id, username or `name#1234`; a display name /
nickname (free-form, not unique) only when none of those matched and one author alone carries it.

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
from dataclasses import dataclass, field
from typing import Any

import ijson

from notme.corpus.schema import Conversation, Message, derived_message_id
from notme.corpus.timestamps import from_iso, from_local_iso
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
_HEADER_KEYS = {"guild", "channel", "exportedAt"}  # read from the top of a file, before "messages"
_VALUE_STARTS = {"start_map", "start_array", "string", "number", "null", "boolean"}


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
    """guild, channel and exportedAt from the top of the file, where the exporter writes them; the
    messages after them are not read here."""
    display = tree.display(name)
    header: dict[str, Any] = {}
    try:
        with tree.open(name, counted=False) as stream:  # the progress bar counts the message read only
            events = ijson.parse(stream, use_float=True)
            for prefix, event, value in events:
                if prefix == "" and event == "map_key" and value == "messages" and {"guild", "channel"} <= set(header):
                    break
                if prefix in _HEADER_KEYS and event in _VALUE_STARTS:
                    header[prefix] = _value(events, event, value)
    except PARSE_ERRORS as e:
        raise parse_error(e, display, "guild and channel header") from e
    if not isinstance(header.get("guild"), dict) or not isinstance(header.get("channel"), dict):
        raise InputError(display, "not a DiscordChatExporter JSON export (no guild and channel objects; export "
                                  "with -f Json)")
    return header


def _value(events: Iterator[tuple[str, str, Any]], event: str, value: Any) -> Any:
    """The value that starts with this parser event, built from the events that follow."""
    if event not in ("start_map", "start_array"):
        return value
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for _, event, value in events:
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if not depth:
                break
    return builder.value


@dataclass
class _Author:
    """A person who wrote in the channel, and what --me may name them by."""

    speaker: str  # display name (nickname), else username, else id
    handles: tuple[str, ...]  # username and name#tag
    nicknames: set[str] = field(default_factory=set)


class _ChannelReader:
    """Every file of one channel, read into one conversation."""

    def __init__(self, tree: InputTree, channel_id: str, files: list[tuple[int, str, dict[str, Any]]],
                 ctx: IngestContext) -> None:
        self.tree, self.channel_id, self.files, self.ctx = tree, channel_id, files, ctx
        header = files[-1][2]  # the newest part names the channel as it is now
        self.guild, self.channel = header["guild"], header["channel"]
        self.is_dm = (str(self.guild.get("id")) in _DM_GUILD_IDS or self.guild.get("name") == "Direct Messages"
                      or str(self.channel.get("type") or "").startswith("Direct"))
        self.authors: dict[str, _Author] = {}  # people (not bots) who wrote, by id
        self.assumed_zone = False

    def conversation(self) -> Conversation:
        conversation = Conversation(id=f"discord:{self.channel_id}", source="discord", title="", messages=[],
                                    kind="messaging")
        # Per message, a Message, a reason it was left out, or None (malformed: counted already).
        # A message in two exports of the channel is kept once: the copy edited last, else the one
        # exported last (the later export shows the message as it is now).
        outcomes: list[Message | str | None] = []
        by_id: dict[str, tuple[int, tuple[str, str]]] = {}  # native id → (place in outcomes, preference)
        for _, name, header in self.files:
            display = self.tree.display(name)
            exported = self._utc(header.get("exportedAt"))
            with self.tree.open(name) as stream:
                for index, raw in enumerate(array_items(stream, display, "messages.item", "message"), 1):
                    native_id = str(raw.get("id") or "") if isinstance(raw, dict) else ""
                    preference = (self._utc(raw.get("timestampEdited")) if native_id else "", exported)
                    place = by_id.get(native_id)
                    if place is not None and place[1] >= preference:
                        continue
                    where = f"message {index}"
                    outcome = self.ctx.guarded(display, where, self._message, raw, display, where)
                    if place is not None:
                        outcomes[place[0]] = outcome
                        by_id[native_id] = (place[0], preference)
                        continue
                    if native_id:
                        by_id[native_id] = (len(outcomes), preference)
                    outcomes.append(outcome)
        for outcome in outcomes:
            if isinstance(outcome, str):
                conversation.skipped[outcome] += 1
            elif outcome is not None:
                conversation.messages.append(outcome)
        conversation.messages = _by_snowflake(conversation.messages)
        owners = self._owner_ids()
        for message in conversation.messages:
            message.is_me = message.speaker_id in owners
            if not message.id:  # no native id: the time as written, not the --timezone reading of it
                message.id = derived_message_id(message.extra.pop("_written"), message.is_me, message.text)
        conversation.participants = list(dict.fromkeys(a.speaker for a in self.authors.values()))
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

    def _message(self, raw: Any, display: str, where: str) -> Message | str | None:
        """The message, or why it is left out, or None when it is malformed (counted here)."""
        if not isinstance(raw, dict):
            self.ctx.malformed(display, where, "message is not an object")
            return None
        if raw.get("type") not in _SPEECH:
            return "system message"
        author = raw.get("author")
        if not isinstance(author, dict) or not author.get("id"):
            self.ctx.malformed(display, where, "message without author")
            return None
        if author.get("isBot"):
            return "bot message"
        author_id = str(author["id"])
        speaker = self._author(author_id, author).speaker
        reference = raw.get("reference") if isinstance(raw.get("reference"), dict) else {}
        if raw.get("forwardedMessage") or reference.get("type") == "Forward":
            return "forwarded"
        content = raw.get("content") if isinstance(raw.get("content"), str) else ""
        text = _readable(content, raw.get("mentions"))
        if not text.strip():
            return "media" if any(raw.get(k) for k in ("attachments", "stickers", "embeds")) else "empty"
        message = Message(speaker=speaker, is_me=False, text=text, timestamp=self._timestamp(raw.get("timestamp")),
                          id=str(raw.get("id") or ""), speaker_id=author_id)
        if not message.id:
            message.extra["_written"] = str(raw.get("timestamp"))  # for its derived id; popped when it is set
        if raw.get("type") == "Reply" and reference.get("messageId"):
            message.extra["reply_to"] = str(reference["messageId"])
        if raw.get("timestampEdited"):
            message.extra["edited"] = True
        return message

    def _author(self, author_id: str, author: dict[str, Any]) -> _Author:
        name = str(author.get("name") or "")
        nickname = str(author.get("nickname") or "")
        found = self.authors.get(author_id)
        if found is None:
            discriminator = str(author.get("discriminator") or "")
            tagged = f"{name}#{discriminator}" if name and discriminator.strip("0") else ""
            found = self.authors[author_id] = _Author(nickname or name or author_id, (name, tagged))
        if nickname:
            found.nicknames.add(nickname)
        return found

    def _owner_ids(self) -> set[str]:
        """The owner's author ids: those --me names by id, username or name#tag; else, by display name
        or nickname (free-form: anyone can take the owner's), only when one author alone carries it."""
        by_handle = {a for a, author in self.authors.items() if self.ctx.is_owner_named(a, *author.handles)}
        if by_handle:
            return by_handle
        by_nickname = {a for a, author in self.authors.items() if self.ctx.owner.matches(*author.nicknames)}
        return by_nickname if len(by_nickname) == 1 else set()

    def _timestamp(self, value: Any) -> str | None:
        stamp, assumed = from_local_iso(value, self.ctx.zone)
        self.assumed_zone = self.assumed_zone or (assumed and stamp is not None)
        return stamp

    def _utc(self, value: Any) -> str:
        """An ISO time as UTC for comparing two copies; "" when there is none."""
        return from_iso(value, self.ctx.zone) or ""


def _by_snowflake(messages: list[Message]) -> list[Message]:
    """Messages in the order of their snowflake ids (which grow with time, and tell apart two
    messages of the same millisecond); stable, and a message without one stays after the one
    before it."""
    keys, last = [], 0
    for message in messages:
        last = int(message.id) if message.id.isdecimal() else last
        keys.append(last)
    return [messages[i] for i in sorted(range(len(messages)), key=keys.__getitem__)]


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
