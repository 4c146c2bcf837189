"""Apple Messages (iMessage, SMS, RCS): the macOS database `~/Library/Messages/chat.db`, or `sms.db`
from an iPhone backup (also under its hashed backup name), as a file, in a folder or in a zip.

The database is opened read-only and never locked or changed. One conversation per chat; a
person's 1:1 chats on several handles (phone and e-mail) are one conversation and one speaker,
joined by `handle.person_centric_id`. The owner is `is_from_me`. A body is `text`, or when that is
NULL the current edit (`message_summary_info` → `ec`) or the archived `attributedBody`. Tapbacks,
stickers, group events, attachment-only rows, app bubbles and unsent messages are left out and
counted. Columns differ by macOS version: only the ones present are read.
"""

from __future__ import annotations

import plistlib
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notme.corpus.schema import Conversation, Message
from notme.corpus.text import normalize_identity
from notme.corpus.timestamps import from_apple
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester, Owner
from notme.ingest.inputs import InputTree, basename
from notme.ingest.typedstream import TypedstreamError, attributed_string_text

_SQLITE_HEADER = b"SQLite format 3\x00"
_REQUIRED_TABLES = ("message", "chat", "handle", "chat_message_join")
# Names the database has on a Mac, in an iPhone backup, and in a backup's hashed file layout.
_KNOWN_NAMES = {"chat.db", "sms.db", "3d0d7e5fb2ce288813306e4d4636395e047a3d28"}
_SIDECARS = ("-wal", "-shm")
_CREATE_TABLE = r"CREATE TABLE\s+[\"'`\[]?{}[\"'`\]]?\s*\("
_STYLE_GROUP = 43
# Wait this long for a lock before telling the user someone is writing the database.
_BUSY_SECONDS = 0.5
_OBJECT_REPLACEMENT = "\ufffc"
# What the owner's own messages are attributed to: a name (letters, spaces, a hyphen or apostrophe),
# never a phone, an e-mail or an id such as Telegram's "user111" that another source stored.
_PERSON_NAME = re.compile(r"[^\W\d_]+(?:[ '’-]+[^\W\d_]+)*")

_MESSAGE_COLUMNS = (
    "guid", "text", "attributedBody", "handle_id", "date", "is_from_me", "item_type", "group_action_type",
    "is_system_message", "associated_message_type", "balloon_bundle_id", "cache_has_attachments",
    "is_audio_message", "message_summary_info", "date_edited", "date_retracted", "destination_caller_id", "is_spam",
)
# The prose Messages stores in `text` for a tapback, which also arrives as a plain SMS from phones
# that do not know tapbacks: a backup for rows whose type says nothing.
_TAPBACK_PROSE = re.compile(
    r"(?:(?:Loved|Liked|Disliked|Laughed at|Emphasi[sz]ed|Questioned) (?:“.*”|an? (?:image|attachment|"
    r"movie|audio message|sticker))|Removed an? .{1,40} from “.*”|Reacted .{1,16} to “.*”)",
    re.DOTALL,
)


@dataclass
class _Speaker:
    handle: str  # this handle: a phone (E.164) or an e-mail
    name: str  # the handle shown for the person: their first handle, for all of their handles
    person: str | None  # person_centric_id, shared by one person's handles


@dataclass
class _Thread:
    """The chats that make up one conversation (one chat, or one person's 1:1 chats)."""

    id: str
    title: str
    is_group: bool
    chat_ids: list[int] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    fallback_speaker: str | None = None  # for an incoming row without a handle in a 1:1 chat


class IMessage(Ingester):
    name = "imessage"
    title = "Apple Messages database (chat.db)"
    kind = "messaging"
    priority = 10
    how_to_export = ("macOS: ~/Library/Messages/chat.db (copy it with chat.db-wal beside it, or give the "
                     "terminal Full Disk Access); iPhone: sms.db from an unencrypted or decrypted backup")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        found = [n for n in names if tree.head(n, len(_SQLITE_HEADER)) == _SQLITE_HEADER and self._is_messages(tree, n)]
        taken = set(found)
        # Its log files, and the Attachments folder beside it when the whole Messages folder is given.
        attachment_folders = tuple(f"{n.rpartition('/')[0]}/Attachments/".lstrip("/") for n in found)
        companions = [n for n in names if n not in taken and (
            (n.endswith(_SIDECARS) and n[:-4] in taken) or (attachment_folders and n.startswith(attachment_folders))
        )]
        return found + companions

    @staticmethod
    def _is_messages(tree: InputTree, name: str) -> bool:
        if tree.kind != "zip":
            try:
                db = sqlite3.connect(f"{tree.local_file(name).resolve().as_uri()}?mode=ro&immutable=1", uri=True)
                try:
                    return not _missing_tables(db)
                finally:
                    db.close()
            except (sqlite3.Error, OSError):
                pass  # damaged: claimed below if it looks like one, so that read says what is wrong
        # Extracting every SQLite file of a zipped phone backup would be slow: a known name is enough
        # (read says clearly if the tables are missing); others must show the tables' CREATE
        # statements near the start.
        if basename(name) in _KNOWN_NAMES:
            return True
        head = tree.head(name, 1 << 20)
        return all(re.search(_CREATE_TABLE.format(t).encode(), head) for t in _REQUIRED_TABLES)

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        ctx.owner_basis = "is_from_me"
        chosen = set(entries)
        for name in entries:
            if name.endswith(_SIDECARS) and name[:-4] in chosen:
                continue  # read with its database
            in_attachments = name.startswith("Attachments/") or "/Attachments/" in name
            if in_attachments and tree.head(name, len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                continue  # pictures and files sent: no text
            yield from self._read_database(tree, name, ctx)

    def _read_database(self, tree: InputTree, name: str, ctx: IngestContext) -> Iterator[Conversation]:
        display = tree.display(name)
        path = _local_copy(tree, name)
        reader = _Reader(display, ctx)
        try:
            db = _open(path, display)
            try:
                yield from reader.conversations(db)
            finally:
                db.close()
        except sqlite3.Error as e:
            raise _input_error(display, e, reader.place) from e


def _local_copy(tree: InputTree, name: str) -> Path:
    """A real file for SQLite; from a zip, its -wal/-shm are extracted beside it."""
    path = tree.local_file(name)
    if tree.kind == "zip":
        for suffix in _SIDECARS:
            if name + suffix in tree.names:
                tree.local_file(name + suffix)
    return path


def _open(path: Path, display: str) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        # The newest rows sit in the write-ahead log until Messages checkpoints it, and immutable=1
        # would ignore the log: open read-only with normal locking instead. A WAL reader never blocks
        # Messages' writes, and read-only never changes the database or its log.
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=_BUSY_SECONDS)
    else:
        _refuse_if_being_written(path, uri)
        # immutable=1: no lock is taken and no -shm/-journal file is made beside the user's database.
        db = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True)
    try:
        missing = _missing_tables(db)  # "file is not a database" surfaces here
    except sqlite3.Error:
        db.close()
        raise
    if missing:
        db.close()
        raise InputError(display, f"a SQLite database, but not an iMessage chat.db: no table '{missing[0]}'")
    return db


def _refuse_if_being_written(path: Path, uri: str) -> None:
    """An immutable reader sees no locks, so a database another program is writing (in rollback-
    journal mode) would be read half-written. A brief read-only probe with locking finds that out
    ("database is locked"). A WAL-mode database without its -wal has no writer, so it needs none."""
    with path.open("rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[18] != 1:
        return
    probe = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=_BUSY_SECONDS)
    try:
        probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        probe.close()


def _missing_tables(db: sqlite3.Connection) -> list[str]:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return [t for t in _REQUIRED_TABLES if t not in tables]


def _input_error(display: str, error: sqlite3.Error, place: str | None) -> InputError:
    reason = str(error)
    if "locked" in reason or "busy" in reason:
        return InputError(display, f"the database is locked by another program ({reason}): quit Messages, "
                                   "or copy chat.db with chat.db-wal and chat.db-shm to another folder and "
                                   "ingest the copy", where=place)
    if "not a database" in reason:
        return InputError(display, f"not a readable SQLite database ({reason}); an encrypted iPhone backup "
                                   "must be decrypted first", where=place)
    return InputError(display, f"cannot read the database ({reason}): the file is truncated or damaged; "
                               "copy it again", where=place)


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


class _Reader:
    """One database: its handles and chats first (small), then each conversation's rows."""

    def __init__(self, display: str, ctx: IngestContext) -> None:
        self.display = display
        self.ctx = ctx
        self.owner_name = _owner_name(ctx.owner)
        self.place: str | None = None

    def conversations(self, db: sqlite3.Connection) -> Iterator[Conversation]:
        db.row_factory = sqlite3.Row
        self.place = "table handle"
        speakers = self._speakers(db)
        self.place = "table chat"
        threads = self._threads(db, speakers)
        self.place = "table message_attachment_join"
        attached = self._attached(db)
        present = _columns(db, "message")
        select = ", ".join(f"m.{c}" if c in present else f"NULL AS {c}" for c in _MESSAGE_COLUMNS)
        for thread in threads:
            self.place = f"chat {thread.id}"
            marks = ", ".join("?" for _ in thread.chat_ids)
            rows = db.execute(
                f"SELECT m.ROWID AS rowid, {select} FROM chat_message_join j JOIN message m ON m.ROWID = j.message_id "
                f"WHERE j.chat_id IN ({marks}) ORDER BY m.date, m.ROWID", thread.chat_ids,
            )
            conversation = self._conversation(thread, rows, speakers, attached)
            if conversation is not None:
                yield conversation
        self.place = "table message"
        for (rowid,) in db.execute(
            "SELECT ROWID FROM message WHERE ROWID NOT IN (SELECT message_id FROM chat_message_join)"
        ):
            self.ctx.drop("message in no chat", f"message {rowid}")
        self.place = None

    @staticmethod
    def _speakers(db: sqlite3.Connection) -> dict[int, _Speaker]:
        """Handle ROWID → speaker; a person's handles all take the name of their first handle."""
        person = "person_centric_id" if "person_centric_id" in _columns(db, "handle") else "NULL"
        speakers: dict[int, _Speaker] = {}
        first_of_person: dict[str, str] = {}
        for row in db.execute(f"SELECT ROWID, id, {person} FROM handle ORDER BY ROWID"):
            rowid, handle, person_id = row[0], str(row[1] or f"handle {row[0]}"), row[2] or None
            name = first_of_person.setdefault(person_id, handle) if person_id else handle
            speakers[rowid] = _Speaker(handle, name, person_id)
        return speakers

    def _threads(self, db: sqlite3.Connection, speakers: dict[int, _Speaker]) -> list[_Thread]:
        present = _columns(db, "chat")
        select = ", ".join(c if c in present else f"NULL AS {c}"
                           for c in ("guid", "style", "chat_identifier", "display_name"))
        members: dict[int, list[int]] = defaultdict(list)
        if "chat_handle_join" in _tables(db):
            for chat_id, handle_id in db.execute("SELECT chat_id, handle_id FROM chat_handle_join ORDER BY rowid"):
                members[chat_id].append(handle_id)
        by_identifier = {}
        for handle_id, speaker in speakers.items():
            by_identifier.setdefault(speaker.handle, handle_id)
        threads: dict[str, _Thread] = {}
        for row in db.execute(f"SELECT ROWID, {select} FROM chat ORDER BY ROWID"):
            chat_id, guid, style, identifier, display_name = row
            guid = str(guid or f"chat-{chat_id}")
            handle_ids = [h for h in members.get(chat_id, []) if h in speakers]
            if not handle_ids and identifier in by_identifier and style != _STYLE_GROUP:
                handle_ids = [by_identifier[identifier]]
            names = list(dict.fromkeys(speakers[h].name for h in handle_ids))
            is_group = style == _STYLE_GROUP or len(names) > 1
            person = speakers[handle_ids[0]].person if len(handle_ids) == 1 and not is_group else None
            thread_id = f"imessage:person:{person}" if person else f"imessage:{guid}"
            if is_group:
                title = str(display_name or "") or ", ".join(names) or str(identifier or "")
            else:
                title = names[0] if names else str(identifier or "")
            thread = threads.setdefault(thread_id, _Thread(thread_id, title, is_group,
                                                           fallback_speaker=None if is_group else title))
            thread.chat_ids.append(chat_id)
            thread.members = list(dict.fromkeys([*thread.members, *names]))
        return list(threads.values())

    @staticmethod
    def _attached(db: sqlite3.Connection) -> set[int]:
        if "message_attachment_join" not in _tables(db):
            return set()
        return {row[0] for row in db.execute("SELECT DISTINCT message_id FROM message_attachment_join")}

    def _conversation(self, thread: _Thread, rows: Any, speakers: dict[int, _Speaker],
                      attached: set[int]) -> Conversation | None:
        conversation = Conversation(
            id=thread.id, source="imessage", title=thread.title, messages=[], kind="messaging",
            is_group=thread.is_group, participants=[*thread.members, self.owner_name],
        )
        seen: set[int] = set()
        for row in rows:  # in time order, then ROWID, as the query sorts them
            if row["rowid"] in seen:  # one message joined to two chats of the same person
                continue
            seen.add(row["rowid"])
            # One odd row (a body stored as a blob, a value of the wrong type) is skipped and
            # counted, not the end of the whole database.
            message = self.ctx.guarded(self.display, f"message {row['rowid']}", self._message,
                                       row, thread, speakers, attached, conversation)
            if message is not None:
                conversation.messages.append(message)
        if not seen:
            return None
        conversation.participants = list(dict.fromkeys(
            [*thread.members, *(m.speaker for m in conversation.messages if not m.is_me), self.owner_name]
        ))
        return conversation

    def _message(self, row: sqlite3.Row, thread: _Thread, speakers: dict[int, _Speaker], attached: set[int],
                 conversation: Conversation) -> Message | None:
        skip = _skip_reason(row)
        if skip:
            conversation.skipped[skip] += 1
            return None
        summary = _summary(row["message_summary_info"])
        text, earlier = row["text"], []
        if isinstance(text, bytes):  # a body stored as a blob; not UTF-8 is malformed
            text = text.decode("utf-8")
        if not text:
            edits = _edit_history(summary)
            if edits:
                text, earlier = edits[-1], edits[:-1]
            elif row["attributedBody"]:
                try:
                    text = attributed_string_text(bytes(row["attributedBody"]))
                except TypedstreamError as e:
                    self.ctx.malformed(self.display, f"message {row['rowid']}", f"unreadable attributedBody ({e})")
                    return None
        elif summary.get("ec"):
            earlier = [t for t in (_edit_history(summary) or [])[:-1] if t != text]
        typed = (text or "").replace(_OBJECT_REPLACEMENT, "").strip()
        if not typed:
            conversation.skipped[_why_empty(row, summary, text, attached)] += 1
            return None
        if _TAPBACK_PROSE.fullmatch(typed):
            conversation.skipped["tapback"] += 1
            return None
        is_me = bool(row["is_from_me"])
        if is_me:
            speaker, speaker_id = self.owner_name, row["destination_caller_id"] or None
        else:
            known = speakers.get(row["handle_id"] or 0)
            if known and self._is_own_handle(known.handle, row["destination_caller_id"]):
                # A note to self: Messages stores it sent and received; the sent row is kept.
                conversation.skipped["own message received back"] += 1
                return None
            speaker_id = known.name if known else thread.fallback_speaker
            speaker = speaker_id or "unknown sender"
        message = Message(speaker=speaker, is_me=is_me, text=text, timestamp=from_apple(row["date"]),
                          id=str(row["guid"] or ""), speaker_id=speaker_id)
        if earlier:
            # The versions before the last edit: other versions of this message, like a regenerated answer.
            message.extra["alternatives"] = list(dict.fromkeys(earlier))
        if summary.get("ec") or (row["date_edited"] or 0) > 0:
            message.extra["edited"] = True
        return message

    def _is_own_handle(self, handle: str, own: str | None) -> bool:
        return (bool(own) and normalize_identity(handle) == normalize_identity(own)) or self.ctx.owner.matches(handle)


def _owner_name(owner: Owner) -> str:
    """The speaker name for the owner's messages: their first identity that is a person's name."""
    return next((i.strip() for i in owner.identities if _PERSON_NAME.fullmatch(i.strip())), "me")


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _skip_reason(row: sqlite3.Row) -> str | None:
    associated = row["associated_message_type"] or 0
    if 2000 <= associated < 4000:
        return "tapback"  # 2000–2005 add, 2006+ custom emoji or sticker, 3000+ removal
    if associated == 1000:
        return "sticker"
    if associated:
        return f"associated message (type {associated})"
    if (row["item_type"] or 0) != 0 or (row["group_action_type"] or 0) != 0 or row["is_system_message"]:
        return "system event"
    if row["is_spam"]:
        return "junk (filtered as spam)"
    return None


def _why_empty(row: sqlite3.Row, summary: dict[str, Any], text: str | None, attached: set[int]) -> str:
    if (row["date_retracted"] or 0) > 0 or summary.get("rp"):
        return "unsent message"
    if row["balloon_bundle_id"]:
        return "app message"
    if _OBJECT_REPLACEMENT in (text or "") or row["cache_has_attachments"] or row["is_audio_message"] \
            or row["rowid"] in attached:
        return "attachment only"
    if (row["date_edited"] or 0) > 0:
        return "unsent message"  # before date_retracted existed, an unsend left an edited, empty row
    return "empty"


def _summary(blob: Any) -> dict[str, Any]:
    if not blob:
        return {}
    try:
        value = plistlib.loads(bytes(blob))
    except Exception:  # an unreadable summary only loses the edit history
        return {}
    return value if isinstance(value, dict) else {}


def _edit_history(summary: dict[str, Any]) -> list[str] | None:
    """The message's text after each edit (the original first, the current last), from `ec`:
    {part index: [{"d": seconds since 2001, "t": typedstream}, …]}. Several edited parts are joined."""
    history = summary.get("ec")
    if not isinstance(history, dict) or not history:
        return None
    parts = []
    for key in sorted(history, key=lambda k: int(k) if str(k).isdigit() else 0):
        versions = []
        for entry in history[key] if isinstance(history[key], list) else []:
            blob = entry.get("t") if isinstance(entry, dict) else None
            if isinstance(blob, bytes):
                try:
                    versions.append(attributed_string_text(blob))
                except TypedstreamError:
                    continue
        if versions:
            parts.append(versions)
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return ["\n".join(p[-1] for p in parts)]
