"""Writes macOS Messages databases (`chat.db`, or an iPhone backup's `sms.db`) from scripted chats.

Written from the structure described in docs/formats (tables, columns, typedstream bodies, edit
history plists); no real database or real attributedBody blob is copied. Every trap an ingester
must handle can be produced: `text` NULL with the body only in `attributedBody` (short and 128+
byte bodies, the 1-, 2- and 4-byte length forms), outgoing rows with `handle_id` 0, tapbacks and
their removal, custom-emoji tapbacks, the `Loved “…”` fallback text arriving as plain SMS, group
events, U+FFFC attachment rows, app bubbles, edits (`message_summary_info` → `ec`), unsends, one
person on two handles joined by `person_centric_id`, group chats (style 43), the pre-High Sierra
seconds epoch and older schemas without the newer columns, and rows left in the write-ahead log.
"""

from __future__ import annotations

import plistlib
import re
import shutil
import sqlite3
import unicodedata
import uuid
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

APPLE_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)
STYLE_GROUP, STYLE_ONE_TO_ONE = 43, 45
OBJECT_REPLACEMENT = "\ufffc"

# Tapback kinds (associated_message_type) and the fallback prose Messages stores in `text`.
TAPBACKS = {2000: "Loved", 2001: "Liked", 2002: "Disliked", 2003: "Laughed at", 2004: "Emphasized",
            2005: "Questioned"}


# --- typedstream (NSArchiver "streamtyped") -----------------------------------------------------

class _Typedstream:
    """A minimal little-endian typedstream writer: enough for an archived NSAttributedString.

    Type encodings and class names are "shared strings" (written once, then referenced by number);
    objects, classes and C strings share a second reference table, numbered in stream order
    (an object's number is taken before its class chain is written).
    """

    _NEW, _NIL, _END = 0x84, 0x85, 0x86
    _FIRST_REFERENCE = -110  # reference 0 is written as the byte 0x92

    def __init__(self) -> None:
        self.out = bytearray([4, 11]) + b"streamtyped"
        self.integer(1000)  # the system version every Mac OS X archive carries
        self._strings: dict[bytes, int] = {}
        self._objects = 0
        self._classes: dict[str, int] = {}

    def integer(self, value: int) -> None:
        # One byte unless the value collides with the tags (-128..-111) or needs more room:
        # 0x81 + 2 bytes, 0x82 + 4 bytes, little-endian.
        if -110 <= value <= 127:
            self.out += value.to_bytes(1, "little", signed=True)
        elif -0x8000 <= value <= 0x7FFF:
            self.out += b"\x81" + value.to_bytes(2, "little", signed=True)
        else:
            self.out += b"\x82" + value.to_bytes(4, "little", signed=True)

    def raw_string(self, data: bytes) -> None:
        self.integer(len(data))
        self.out += data

    def shared_string(self, data: bytes) -> None:
        if data in self._strings:
            self.integer(self._strings[data] + self._FIRST_REFERENCE)
            return
        self.out.append(self._NEW)
        self.raw_string(data)
        self._strings[data] = len(self._strings)

    def begin_object(self, *class_chain: tuple[str, int]) -> None:
        """An object of the first class; each later class is the superclass of the one before."""
        self.out.append(self._NEW)
        self._objects += 1
        for name, version in class_chain:
            if name in self._classes:
                self.integer(self._classes[name] + self._FIRST_REFERENCE)
                return
            self.out.append(self._NEW)
            self.shared_string(name.encode())
            self.integer(version)
            self._classes[name] = self._objects
            self._objects += 1
        self.out.append(self._NIL)

    def end_object(self) -> None:
        self.out.append(self._END)

    def c_string(self, data: bytes) -> None:
        self.out.append(self._NEW)
        self.shared_string(data)
        self._objects += 1

    def ns_string(self, text: str) -> None:
        self.shared_string(b"@")
        self.begin_object(("NSString", 1), ("NSObject", 0))
        self.shared_string(b"+")
        self.raw_string(text.encode("utf-8"))
        self.end_object()

    def ns_number(self, value: int) -> None:
        self.shared_string(b"@")
        self.begin_object(("NSNumber", 0), ("NSValue", 0), ("NSObject", 0))
        self.shared_string(b"*")
        self.c_string(b"i")
        self.shared_string(b"i")
        self.integer(value)
        self.end_object()

    def ns_dictionary(self, entries: dict[str, str | int]) -> None:
        self.shared_string(b"@")
        self.begin_object(("NSDictionary", 0), ("NSObject", 0))
        self.shared_string(b"i")
        self.integer(len(entries))
        for key, value in entries.items():
            self.ns_string(key)
            if isinstance(value, int):
                self.ns_number(value)
            else:
                self.ns_string(value)
        self.end_object()


def attributed_body(text: str, runs: Sequence[dict[str, str | int]] | None = None,
                    *, string_class: str = "NSString") -> bytes:
    """An `attributedBody` blob: an archived NSAttributedString holding `text`.

    `runs` are the attribute dictionaries, one per run; the text is split into runs at each U+FFFC
    (an attachment) as Messages does. By default every run is message part 0.
    `string_class="NSMutableString"` writes the mutable subclass some messages carry.
    """
    pieces = _runs_of(text)
    runs = list(runs) if runs is not None else [{"__kIMMessagePartAttributeName": 0} for _ in pieces]
    if len(runs) != len(pieces):
        raise ValueError(f"{len(pieces)} runs in the text, {len(runs)} attribute dictionaries given")
    stream = _Typedstream()
    stream.shared_string(b"@")
    stream.begin_object(("NSAttributedString", 0), ("NSObject", 0))
    stream.shared_string(b"@")
    if string_class == "NSString":
        stream.begin_object(("NSString", 1), ("NSObject", 0))
    else:
        stream.begin_object((string_class, 1), ("NSString", 1), ("NSObject", 0))
    stream.shared_string(b"+")
    stream.raw_string(text.encode("utf-8"))
    stream.end_object()
    for index, (piece, attributes) in enumerate(zip(pieces, runs, strict=True), 1):
        # Each run: the number of its attribute dictionary and its length in UTF-16 units.
        stream.shared_string(b"iI")
        stream.integer(index)
        stream.integer(len(piece.encode("utf-16-le")) // 2)
        stream.ns_dictionary(attributes)
    stream.end_object()
    return bytes(stream.out)


def _runs_of(text: str) -> list[str]:
    pieces = [p for p in re.split(f"({OBJECT_REPLACEMENT})", text) if p]
    return pieces or [""]


# --- the database ---------------------------------------------------------------------------------

_LEGACY_MISSING = {
    "handle": {"person_centric_id"},
    "message": {"date_edited", "date_retracted", "message_summary_info", "associated_message_emoji",
                "thread_originator_guid", "thread_originator_part", "reply_to_guid", "destination_caller_id",
                "part_count"},
    "chat": {"group_id"},
}

_SCHEMA = {
    "handle": """ROWID INTEGER PRIMARY KEY AUTOINCREMENT UNIQUE, id TEXT NOT NULL, country TEXT,
        service TEXT NOT NULL, uncanonicalized_id TEXT, person_centric_id TEXT, UNIQUE (id, service)""",
    "chat": """ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, style INTEGER,
        state INTEGER, account_id TEXT, properties BLOB, chat_identifier TEXT, service_name TEXT,
        room_name TEXT, account_login TEXT, is_archived INTEGER DEFAULT 0, last_addressed_handle TEXT,
        display_name TEXT, group_id TEXT""",
    "message": """ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, text TEXT,
        replace INTEGER DEFAULT 0, service_center TEXT, handle_id INTEGER DEFAULT 0, subject TEXT,
        country TEXT, attributedBody BLOB, version INTEGER DEFAULT 0, type INTEGER DEFAULT 0,
        service TEXT, account TEXT, account_guid TEXT, error INTEGER DEFAULT 0, date INTEGER,
        date_read INTEGER, date_delivered INTEGER, is_delivered INTEGER DEFAULT 0,
        is_finished INTEGER DEFAULT 0, is_from_me INTEGER DEFAULT 0, is_read INTEGER DEFAULT 0,
        is_system_message INTEGER DEFAULT 0, is_audio_message INTEGER DEFAULT 0,
        cache_has_attachments INTEGER DEFAULT 0, cache_roomnames TEXT, item_type INTEGER DEFAULT 0,
        other_handle INTEGER DEFAULT 0, group_title TEXT, group_action_type INTEGER DEFAULT 0,
        balloon_bundle_id TEXT, payload_data BLOB, expressive_send_style_id TEXT,
        associated_message_guid TEXT, associated_message_type INTEGER DEFAULT 0,
        associated_message_emoji TEXT, thread_originator_guid TEXT, thread_originator_part TEXT,
        reply_to_guid TEXT, destination_caller_id TEXT, message_summary_info BLOB,
        date_edited INTEGER DEFAULT 0, date_retracted INTEGER DEFAULT 0, part_count INTEGER,
        is_spam INTEGER DEFAULT 0""",
    "chat_message_join": """chat_id INTEGER REFERENCES chat (ROWID) ON DELETE CASCADE,
        message_id INTEGER REFERENCES message (ROWID) ON DELETE CASCADE, message_date INTEGER DEFAULT 0,
        PRIMARY KEY (chat_id, message_id)""",
    "chat_handle_join": """chat_id INTEGER REFERENCES chat (ROWID) ON DELETE CASCADE,
        handle_id INTEGER REFERENCES handle (ROWID) ON DELETE CASCADE, UNIQUE(chat_id, handle_id)""",
    "attachment": """ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL,
        created_date INTEGER DEFAULT 0, filename TEXT, uti TEXT, mime_type TEXT,
        transfer_state INTEGER DEFAULT 0, is_outgoing INTEGER DEFAULT 0, transfer_name TEXT,
        total_bytes INTEGER DEFAULT 0, is_sticker INTEGER DEFAULT 0, hide_attachment INTEGER DEFAULT 0""",
    "message_attachment_join": """message_id INTEGER REFERENCES message (ROWID) ON DELETE CASCADE,
        attachment_id INTEGER REFERENCES attachment (ROWID) ON DELETE CASCADE,
        UNIQUE(message_id, attachment_id)""",
}
_INDEXES = [  # (name, table, columns)
    ("chat_message_join_idx_chat_id", "chat_message_join", ("chat_id",)),
    ("message_idx_handle", "message", ("handle_id", "date")),
    ("chat_handle_join_idx_handle_id", "chat_handle_join", ("handle_id",)),
]


def e164(phone: str) -> str:
    """A phone number as chat.db stores handles: "+351 910 555 101" → "+351910555101"."""
    return re.sub(r"[^\d+]", "", phone)


def _column_names(definition: str) -> list[str]:
    names = []
    for part in re.split(r",\s*(?![^()]*\))", definition):
        word = part.split()[0]
        if word not in ("UNIQUE", "PRIMARY"):
            names.append(word)
    return names


class ChatDB:
    """A Messages database built row by row; `write` renders it.

    Times are aware datetimes. The owner's rows are `is_from_me = 1` with `handle_id = 0`; the owner's
    own phone or e-mail is `destination_caller_id`, as on a Mac signed in to iMessage.
    """

    def __init__(self, owner_handle: str = "+15550100000", *, legacy: bool = False,
                 omit_columns: dict[str, Iterable[str]] | None = None, seed: int = 1) -> None:
        self.owner_handle = owner_handle
        self.legacy = legacy  # seconds since 2001 and the columns of an older macOS
        self.omitted: dict[str, set[str]] = {t: set(c) for t, c in (_LEGACY_MISSING if legacy else {}).items()}
        for table, columns in (omit_columns or {}).items():
            self.omitted.setdefault(table, set()).update(columns)
        self._uuids = _uuid_source(seed)
        self.rows: dict[str, list[dict[str, Any]]] = {table: [] for table in _SCHEMA}

    # -- ids and times

    def guid(self) -> str:
        return self._uuids().upper()

    def apple_time(self, moment: datetime) -> int:
        seconds = (moment - APPLE_EPOCH).total_seconds()
        return int(seconds) if self.legacy else round(seconds * 1e9)

    def _add(self, table: str, row: dict[str, Any]) -> int:
        rows = self.rows[table]
        if "ROWID" in _column_names(_SCHEMA[table]):
            row = {"ROWID": len(rows) + 1, **row}
        rows.append(row)
        return row.get("ROWID", len(rows))

    # -- handles and chats

    def handle(self, handle_id: str, *, person: str | None = None, service: str = "iMessage") -> int:
        """A contact's phone (E.164) or e-mail; `person` is the person_centric_id shared by one
        person's handles."""
        return self._add("handle", {
            "id": handle_id, "country": "pt" if handle_id.startswith("+351") else "us",
            "service": service, "uncanonicalized_id": None, "person_centric_id": person,
        })

    def chat(self, members: Sequence[int], *, group: bool = False, name: str = "",
             service: str = "iMessage", guid: str | None = None) -> int:
        if group:
            identifier = f"chat{zlib.crc32(repr((members, name, len(self.rows['chat']))).encode()):010d}"
            guid = guid or f"{service};+;{identifier}"
        else:
            (member,) = members
            identifier = self.rows["handle"][member - 1]["id"]
            guid = guid or f"{service};-;{identifier}"
        chat_id = self._add("chat", {
            "guid": guid, "style": STYLE_GROUP if group else STYLE_ONE_TO_ONE, "state": 3,
            "account_id": self.guid(), "properties": None, "chat_identifier": identifier,
            "service_name": service, "room_name": identifier if group else None,
            "account_login": f"E:{self.owner_handle}" if "@" in self.owner_handle else f"P:{self.owner_handle}",
            "is_archived": 0, "last_addressed_handle": self.owner_handle, "display_name": name,
            "group_id": self.guid(),
        })
        for member in members:
            self._add("chat_handle_join", {"chat_id": chat_id, "handle_id": member})
        return chat_id

    # -- messages

    def message(self, chat: int, text: str | None, at: datetime, *, sender: int | None = None,
                body: str = "text", add_to_chat: bool = True, **columns: Any) -> int:
        """One row. `sender` None is the owner. `body`: "text" (the `text` column and an
        attributedBody, as older macOS wrote), "attributed" (`text` NULL: the body only in
        attributedBody, as recent macOS often does), "plain" (no attributedBody), "none"."""
        service = self.rows["chat"][chat - 1]["service_name"]
        date = self.apple_time(at)
        row = {
            "guid": self.guid(), "text": text if body in ("text", "plain") else None,
            "handle_id": 0 if sender is None else sender, "service": service,
            "account": f"e:{self.owner_handle}" if "@" in self.owner_handle else f"p:{self.owner_handle}",
            "date": date, "date_read": 0 if sender is None else date + self.apple_time_delta(40),
            "date_delivered": date + self.apple_time_delta(2) if sender is None else 0,
            "is_delivered": 1, "is_finished": 1, "is_from_me": int(sender is None), "is_read": 1,
            "attributedBody": attributed_body(text) if text is not None and body in ("text", "attributed") else None,
            "destination_caller_id": self.owner_handle,
            "part_count": len(_runs_of(text)) if text else 1,
            "cache_roomnames": self.rows["chat"][chat - 1]["room_name"],
        } | columns
        rowid = self._add("message", row)
        if add_to_chat:
            self._add("chat_message_join", {"chat_id": chat, "message_id": rowid, "message_date": date})
        return rowid

    def apple_time_delta(self, seconds: float) -> int:
        return int(seconds) if self.legacy else int(seconds * 1e9)

    def get(self, rowid: int) -> dict[str, Any]:
        return self.rows["message"][rowid - 1]

    def tapback(self, chat: int, target: int, at: datetime, *, kind: int = 2001, sender: int | None = None,
                emoji: str | None = None) -> int:
        """A reaction row pointing at `target`: 2000–2005 add, 3000–3005 remove, 2006 a custom emoji."""
        original = self.get(target)["text"] or "…"
        if kind in TAPBACKS:
            prose = f"{TAPBACKS[kind]} “{original}”"
        elif 3000 <= kind < 3006:
            prose = f"Removed a {TAPBACKS[kind - 1000].lower().removesuffix(' at')} from “{original}”"
        else:
            prose = f"Reacted {emoji or '🎉'} to “{original}”"
        return self.message(chat, prose, at, sender=sender, body="plain",
                            associated_message_guid=f"p:0/{self.get(target)['guid']}",
                            associated_message_type=kind, associated_message_emoji=emoji)

    def attachment(self, chat: int, at: datetime, *, caption: str = "", sender: int | None = None,
                   transfer_name: str = "IMG_0412.HEIC", mime_type: str = "image/heic") -> int:
        """A picture: U+FFFC where it sits in the body, then the caption if any."""
        attachment_guid = self.guid()
        text = OBJECT_REPLACEMENT + caption
        runs = [{"__kIMFileTransferGUIDAttributeName": attachment_guid, "__kIMMessagePartAttributeName": 0}]
        if caption:
            runs.append({"__kIMMessagePartAttributeName": 1})
        rowid = self.message(chat, text, at, sender=sender, cache_has_attachments=1,
                             attributedBody=attributed_body(text, runs))
        attachment_id = self._add("attachment", {
            "guid": attachment_guid, "created_date": self.apple_time(at),
            "filename": f"~/Library/Messages/Attachments/4f/15/{attachment_guid}/{transfer_name}",
            "uti": "public.heic", "mime_type": mime_type, "transfer_state": 5, "is_outgoing": int(sender is None),
            "transfer_name": transfer_name, "total_bytes": 1_482_113, "is_sticker": 0, "hide_attachment": 0,
        })
        self._add("message_attachment_join", {"message_id": rowid, "attachment_id": attachment_id})
        return rowid

    def edit(self, rowid: int, versions: Sequence[str], at: datetime, *, part: int = 0) -> None:
        """The message was edited: `versions` are the texts after each edit (the last is current).
        The row keeps NULL `text`; the history goes into `message_summary_info` → `ec`."""
        row = self.get(rowid)
        original = row["text"] or ""
        history = [{"d": (at - APPLE_EPOCH).total_seconds() - 60, "t": attributed_body(original), "bcg": row["guid"]}]
        for index, version in enumerate(versions, 1):
            history.append({"d": (at - APPLE_EPOCH).total_seconds() + index, "t": attributed_body(version),
                            "bcg": self.guid()})
        row.update(text=None, attributedBody=None, date_edited=self.apple_time(at),
                   message_summary_info=plistlib.dumps({"ec": {str(part): history}, "ep": [part], "otr": {}},
                                                       fmt=plistlib.FMT_BINARY))

    def unsend(self, rowid: int, at: datetime) -> None:
        """Unsent within two minutes: the body is gone; the summary lists the retracted part."""
        self.get(rowid).update(text=None, attributedBody=None, date_edited=self.apple_time(at),
                               date_retracted=self.apple_time(at),
                               message_summary_info=plistlib.dumps({"rp": [0], "otr": {}}, fmt=plistlib.FMT_BINARY))

    def group_event(self, chat: int, at: datetime, *, sender: int | None = None, item_type: int = 1,
                    group_action_type: int = 0, group_title: str | None = None, other_handle: int = 0) -> int:
        """Someone added or removed (item_type 1), the group renamed (2), someone left (3)."""
        return self.message(chat, None, at, sender=sender, body="none", item_type=item_type,
                            group_action_type=group_action_type, group_title=group_title,
                            other_handle=other_handle)

    def app_message(self, chat: int, at: datetime, *, sender: int | None = None, text: str | None = None,
                    bundle: str = "com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:"
                                  "com.apple.Jellyfish.MessagesExtension") -> int:
        """An app bubble (Apple Pay, a game, Digital Touch…): U+FFFC and a payload, or a link preview
        (`com.apple.messages.URLBalloonProvider`) whose text is the URL the sender pasted."""
        return self.message(chat, text if text is not None else OBJECT_REPLACEMENT, at, sender=sender,
                            balloon_bundle_id=bundle, payload_data=b"bplist00\xd0\x08\x00\x00\x00\x00\x00\x00\x01"
                            b"\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                            b"\x00\x00\x00\x00\x00\x09")

    # -- rendering

    def columns(self, table: str) -> list[str]:
        return [c for c in _column_names(_SCHEMA[table]) if c not in self.omitted.get(table, ())]

    def _schema_sql(self, table: str) -> str:
        parts = [p.strip() for p in re.split(r",\s*(?![^()]*\))", _SCHEMA[table])]
        omitted = self.omitted.get(table, set())
        kept = [p for p in parts if p.split()[0] in ("UNIQUE", "PRIMARY") or p.split()[0] not in omitted]
        return f"CREATE TABLE {table} ({', '.join(kept)})"

    def write(self, path: Path, *, in_wal: int = 0) -> Path:
        """Write the database file. The last `in_wal` messages are committed to a write-ahead log
        that is copied beside it (`chat.db-wal`, `chat.db-shm`) before any checkpoint, as when the
        Messages folder is copied while Messages runs."""
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        messages = self.rows["message"]
        late = {row["ROWID"] for row in messages[len(messages) - in_wal:]} if in_wal else set()
        if not in_wal:
            with _closing(sqlite3.connect(path)) as db:
                self._create(db)
                self._insert(db, lambda table, row: True)
                db.commit()
            return path
        scratch = path.with_name(f".{path.name}.building")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
        with _closing(sqlite3.connect(scratch)) as db:
            self._create(db)
            self._insert(db, lambda table, row: not _is_late(table, row, late))
            db.commit()
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA wal_autocheckpoint=0")
            self._insert(db, lambda table, row: _is_late(table, row, late))
            db.commit()
            for suffix in ("", "-wal", "-shm"):
                shutil.copyfile(f"{scratch}{suffix}", f"{path}{suffix}")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
        return path

    def _create(self, db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE _SqliteDatabaseProperties (key TEXT, value TEXT, UNIQUE(key))")
        db.execute("INSERT INTO _SqliteDatabaseProperties VALUES ('_ClientVersion', '17000')")
        for table in _SCHEMA:
            db.execute(self._schema_sql(table))
        for name, table, columns in _INDEXES:
            if not set(columns) & self.omitted.get(table, set()):
                db.execute(f"CREATE INDEX {name} ON {table}({', '.join(columns)})")

    def _insert(self, db: sqlite3.Connection, wanted) -> None:
        for table, rows in self.rows.items():
            allowed = set(self.columns(table))
            for row in rows:
                if not wanted(table, row):
                    continue
                record = {k: v for k, v in row.items() if k in allowed}
                names = ", ".join(record)
                marks = ", ".join("?" for _ in record)
                db.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(record.values()))


def _is_late(table: str, row: dict[str, Any], late: set[int]) -> bool:
    if table == "message":
        return row["ROWID"] in late
    if table == "chat_message_join":
        return row["message_id"] in late
    return False


class _closing:
    """sqlite3's context manager commits but does not close; this closes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.close()


def _uuid_source(seed: int):
    """Deterministic ids, so a sample written twice is the same database."""
    counter = iter(range(1 << 62))

    def next_uuid() -> str:
        return str(uuid.UUID(int=((seed & 0xFFFFFFFF) << 64) | next(counter)))

    return next_uuid


def write_unrelated_sqlite(path: Path) -> Path:
    """Another app's SQLite database (not Messages), for detection tests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with _closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes (body) VALUES ('groceries: eggs, rice')")
        db.commit()
    return path


# --- the persona sample -----------------------------------------------------------------------------

def _own_handle(owner: dict[str, Any]) -> str:
    """The owner's phone (E.164) or else e-mail, from the persona ({"owner_handles": {...}}),
    {"handles": {...}} or {"phone", "email"}."""
    handles = owner.get("owner_handles") or owner.get("handles") or owner
    phone, email = handles.get("phone"), handles.get("email")
    return e164(phone) if phone else str(email or "owner@example.com")


def _email_for(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return ".".join(re.sub(r"[^a-z]", "", w) for w in ascii_name.split()) + "@example.com"


def _secret(seed: str) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    value = zlib.crc32(seed.encode())
    chars = []
    for _ in range(24):
        value = (value * 1103515245 + 12345) & 0x7FFFFFFF
        chars.append(alphabet[value % len(alphabet)])
    return "sk-proj-" + "".join(chars)


def write_sample(directory: Path, contacts: Sequence[dict[str, Any]], groups: Sequence[dict[str, Any]],
                 owner: dict[str, Any]) -> Path:
    """The persona's 1:1 and group chats as a Mac's `chat.db`; returns its path.

    `owner` is the persona (`owner_handles`, `timezone`) or {"phone", "email"}: the owner's phone
    (else e-mail) is their own handle on every row (`destination_caller_id`), never a speaker.
    Sessions start on 2025-01-06 and every few days after, in the evening in the persona's zone,
    messages a minute or two apart. Quirks, as a real database has them: about half the bodies only
    in attributedBody; on the first contact's chat a tapback, a photo with a caption, a secret pasted
    by mistake and an edited owner message; their second session from their e-mail handle (one
    person by person_centric_id); each group starts with a rename event.
    """
    owner_handle = _own_handle(owner)
    db = ChatDB(owner_handle, seed=zlib.crc32(owner_handle.encode()))
    tz = ZoneInfo(str(owner.get("timezone") or "Europe/Lisbon"))
    handles: dict[str, int] = {}
    typed: dict[int, str] = {}  # ROWID → text, whichever column the body went to

    def handle_of(name: str) -> int:
        if name not in handles:
            phone = _phone_of(contacts, name)
            person = str(uuid.uuid5(uuid.NAMESPACE_URL, f"person:{name}")).upper()
            handles[name] = db.handle(e164(phone) if phone else _email_for(name), person=person)
        return handles[name]

    def add(chat: int, text: str, at: datetime, sender: int | None) -> int:
        rowid = db.message(chat, text, at, sender=sender, body="attributed" if len(typed) % 2 else "text")
        typed[rowid] = text
        return rowid

    day = 0
    for index, contact in enumerate(contacts):
        them = handle_of(contact["name"])
        chats = {them: db.chat([them])}
        sessions = contact.get("sessions") or []
        for number, session in enumerate(sessions):
            at = datetime(2025, 1, 6, 19, 5 + 7 * (index % 7), tzinfo=tz) + timedelta(days=day)
            day += 3
            sender = them
            if index == 0 and number == 1:
                # The same person on their e-mail: another handle and chat, one person_centric_id.
                person = db.rows["handle"][them - 1]["person_centric_id"]
                sender = db.handle(_email_for(contact["name"]), person=person)
                chats[sender] = db.chat([sender])
            chat = chats[sender]
            mine = []
            for turn in session:
                ((who, text),) = turn.items()
                at += timedelta(seconds=60 + 47 * (len(text) % 3))
                rowid = add(chat, text, at, None if who == "me" else sender)
                if who == "me":
                    mine.append(rowid)
                elif index == 0 and number == 0 and len(mine) == 1:
                    db.tapback(chat, mine[0], at + timedelta(seconds=20), kind=2000, sender=sender)
            if index == 0 and number == len(sessions) - 1 and mine:
                # Sent too early, then edited to what the persona says.
                current = typed[mine[-1]]
                db.get(mine[-1])["text"] = current.rstrip(".!?") + " wait"
                db.edit(mine[-1], [current], at + timedelta(seconds=40))
            if index == 0 and number == 0:
                db.attachment(chat, at + timedelta(minutes=2), caption="the view from the office today")
                db.message(chat, f"oops wrong chat, that was the staging key {_secret(owner_handle)}",
                           at + timedelta(minutes=3))
    for number_of_group, group in enumerate(groups):
        members = [handle_of(m) for m in group.get("members") or []]
        chat = db.chat(members, group=True, name=str(group.get("name") or ""))
        for number, session in enumerate(group.get("sessions") or []):
            at = datetime(2025, 1, 7, 20, 10 * (number_of_group % 5), tzinfo=tz) + timedelta(days=4 * number)
            if number == 0:
                db.group_event(chat, at, item_type=2, group_title=group.get("name"))
            for turn in session:
                ((who, text),) = turn.items()
                at += timedelta(seconds=60 + 29 * (len(text) % 4))
                add(chat, text, at, None if who == "me" else handle_of(who))
    return db.write(directory / "chat.db")


def _phone_of(contacts: Sequence[dict[str, Any]], name: str) -> str | None:
    return next((c.get("phone") for c in contacts if c.get("name") == name), None)
