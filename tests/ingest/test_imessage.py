"""Apple Messages chat.db: every trap in the format, on databases written by notme.samples.imessage."""

from __future__ import annotations

import hashlib
import sqlite3
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notme.errors import InputError
from notme.ingest import typedstream
from notme.ingest.pipeline import ingest
from notme.samples.imessage import ChatDB, attributed_body, write_sample, write_unrelated_sqlite
from tests.conftest import corpus_bytes, only, stored

OWNER = "+15550100000"
THEM = "+15550102233"
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def one_to_one(**kw) -> tuple[ChatDB, int, int]:
    db = ChatDB(OWNER, **kw)
    them = db.handle(THEM)
    return db, db.chat([them]), them



def said(conv) -> list[tuple[str, str]]:
    return [(m.speaker, m.text) for m in conv.messages]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_plain_rows_keep_order_owner_handles_and_utc_times(exports):
    db, chat, them = one_to_one()
    first = db.message(chat, "are you at the crag?", at(1), sender=them)
    db.message(chat, "on my way", at(2))  # the owner's row: handle_id 0 (LEFT JOIN)
    report = ingest([db.write(exports / "chat.db")])
    conv = only()
    assert conv.id == f"imessage:iMessage;-;{THEM}" and conv.kind == "messaging" and not conv.is_group
    assert conv.title == THEM and conv.participants == [THEM, "me"]
    assert said(conv) == [(THEM, "are you at the crag?"), ("me", "on my way")]
    assert [m.is_me for m in conv.messages] == [False, True]
    assert [m.speaker_id for m in conv.messages] == [THEM, OWNER]
    assert [m.timestamp for m in conv.messages] == ["2025-03-01T09:01:00.000Z", "2025-03-01T09:02:00.000Z"]
    assert conv.messages[0].id == db.get(first)["guid"]
    assert report.inputs[0].owner_basis == "is_from_me" and report.inputs[0].source == "imessage"


def test_owner_needs_no_name_and_takes_the_name_given_with_me(exports, tmp_path):
    db, chat, them = one_to_one()
    db.message(chat, "hi", at(1), sender=them)
    db.message(chat, "hey", at(2))
    ingest([db.write(exports / "chat.db")], "plain")
    assert [m.speaker for m in only("plain").messages] == [THEM, "me"]
    ingest([exports / "chat.db"], "named", me=["Sam Rivera", "+351 910 555 100"])
    assert [(m.speaker, m.is_me) for m in only("named").messages] == [(THEM, False), ("Sam Rivera", True)]


def test_owner_speaks_under_a_name_never_an_id_phone_or_email_from_another_source(exports):
    db, chat, them = one_to_one()
    db.message(chat, "hi", at(1), sender=them)
    db.message(chat, "hey", at(2))
    path = db.write(exports / "chat.db")
    ingest([path], "named", me=["user5550100", "+351 910 555 100", "sam@example.com", "sam.rivera", "Sam Rivera"])
    assert [m.speaker for m in only("named").messages] == [THEM, "Sam Rivera"]
    assert only("named").participants == [THEM, "Sam Rivera"]
    ingest([path], "handles", me=["user5550100", "5550100", "+351 910 555 100"])
    assert [m.speaker for m in only("handles").messages] == [THEM, "me"]


def test_rows_keep_the_databases_order_same_second_and_unreadable_dates_included(exports):
    db, chat, them = one_to_one()
    db.message(chat, "first", at(1), sender=them)
    db.message(chat, "same second, lower rowid", at(2))
    db.message(chat, "same second, higher rowid", at(2), sender=them)
    broken = db.message(chat, "a clock gone wrong", at(3))
    db.get(broken)["date"] = 9 * 10**18  # year 2286: no timestamp, but the database sorts it last
    ingest([db.write(exports / "chat.db")])
    conv = only()
    assert [m.text for m in conv.messages] == ["first", "same second, lower rowid", "same second, higher rowid",
                                               "a clock gone wrong"]
    assert conv.messages[-1].timestamp is None


def test_a_body_stored_as_a_blob_is_read_and_an_odd_row_is_skipped_or_fatal_with_strict(exports):
    db, chat, them = one_to_one()
    db.message(chat, "fine", at(1), sender=them)
    db.get(db.message(chat, "x", at(2)))["text"] = "blob body é".encode()  # BLOB, not TEXT
    odd = db.message(chat, "x", at(3), sender=them)
    db.get(odd)["text"] = b"\xff\xfe not utf-8"
    db.message(chat, "after it", at(4), sender=them)
    path = db.write(exports / "chat.db")
    with pytest.raises(InputError, match=f"message {odd}: unexpected UnicodeDecodeError"):
        ingest([path], strict=True)
    report = ingest([path])
    assert [m.text for m in only().messages] == ["fine", "blob body é", "after it"]
    assert report.inputs[0].dropped == {"malformed: unexpected UnicodeDecodeError ('utf-8' codec can't decode byte "
                                        "0xff in position 0: invalid start byte)": 1}


def test_body_only_in_attributed_body_is_decoded_short_and_long(exports):
    db, chat, them = one_to_one()
    short = "see you at 8"
    long = "a long one about the route: " + "crimp, crimp, sloper, big move to the jug. " * 4
    huge = "é" * 20_000  # 40,000 bytes: the 4-byte length form
    db.message(chat, short, at(1), sender=them, body="attributed")
    db.message(chat, long, at(2), body="attributed")
    db.message(chat, huge, at(3), sender=them, body="attributed")
    assert db.get(1)["text"] is None and db.get(2)["text"] is None
    assert b"\x84\x01+\x81" in db.get(2)["attributedBody"] and b"\x84\x01+\x82" in db.get(3)["attributedBody"]
    ingest([db.write(exports / "chat.db")])
    assert [m.text for m in only().messages] == [short, long.strip(), huge]


@pytest.mark.parametrize("text", ["ok", "x" * 127, "y" * 128, "ñ" * 300, "z" * 40_000, "\ufffcwith a photo"])
@pytest.mark.parametrize("string_class", ["NSString", "NSMutableString"])
def test_typedstream_decoder_and_its_scan_fallback_agree(text, string_class, monkeypatch):
    blob = attributed_body(text, string_class=string_class)
    assert blob.startswith(b"\x04\x0bstreamtyped\x81\xe8\x03")
    assert typedstream.attributed_string_text(blob) == text
    assert typedstream.scan_string(blob) == text
    monkeypatch.setattr(typedstream, "_library", None)
    assert typedstream.attributed_string_text(blob) == text


def test_typedstream_rejects_what_is_not_an_archived_string():
    with pytest.raises(typedstream.TypedstreamError, match="not a typedstream"):
        typedstream.attributed_string_text(b"bplist00\x00")
    with pytest.raises(typedstream.TypedstreamError, match="past the end"):
        typedstream.attributed_string_text(attributed_body("a" * 300)[:80])


def test_unreadable_attributed_body_is_skipped_or_fatal_with_strict(exports):
    db, chat, them = one_to_one()
    db.message(chat, "fine", at(1), sender=them)
    broken = db.message(chat, "lost", at(2), body="attributed")
    db.get(broken)["attributedBody"] = b"\x04\x0bstreamtyped\x81\xe8\x03\x84\x01@garbage"
    path = db.write(exports / "chat.db")
    with pytest.raises(InputError, match=f"message {broken}: unreadable attributedBody"):
        ingest([path], strict=True)
    report = ingest([path])
    assert [m.text for m in only().messages] == ["fine"]
    assert report.inputs[0].dropped == {"malformed: unreadable attributedBody (no NSString in the archive)": 1}


def test_object_replacement_is_stripped_and_attachment_only_rows_are_skipped(exports):
    db, chat, them = one_to_one()
    db.attachment(chat, at(1), caption="the view from the office")
    db.attachment(chat, at(2), sender=them)
    db.message(chat, "\ufffc", at(3), sender=them, is_audio_message=1)
    ingest([db.write(exports / "chat.db")])
    conv = only()
    assert said(conv) == [("me", "the view from the office")]
    assert conv.skipped == {"attachment only": 2}


def test_tapbacks_and_stickers_are_skipped_by_type_and_by_their_fallback_prose(exports):
    db, chat, them = one_to_one()
    mine = db.message(chat, "new shoes arrived", at(1))
    db.tapback(chat, mine, at(2), kind=2001, sender=them)  # Liked “…”
    db.tapback(chat, mine, at(3), kind=3001, sender=them)  # removed
    db.tapback(chat, mine, at(4), kind=2006, sender=them, emoji="👟")  # custom emoji
    db.message(chat, "", at(5), sender=them, associated_message_type=1000,
               associated_message_guid=f"p:0/{db.get(mine)['guid']}")  # a sticker on the bubble
    # From a phone that does not know tapbacks: plain SMS text, type 0.
    db.message(chat, "Loved “new shoes arrived”", at(6), sender=them, body="plain")
    db.message(chat, "I loved “Dune” though", at(7), sender=them)
    ingest([db.write(exports / "chat.db")])
    conv = only()
    assert said(conv) == [("me", "new shoes arrived"), (THEM, "I loved “Dune” though")]
    assert conv.skipped == {"tapback": 4, "sticker": 1}


def test_group_events_are_skipped(exports):
    db = ChatDB(OWNER)
    a, b = db.handle("+15550103344"), db.handle("ana@example.com")
    chat = db.chat([a, b], group=True, name="Crag crew")
    db.group_event(chat, at(1), item_type=2, group_title="Crag crew")
    db.group_event(chat, at(2), sender=a, item_type=1, group_action_type=0, other_handle=b)
    db.group_event(chat, at(3), sender=b, item_type=3)
    db.message(chat, "photo removed", at(4), sender=a, body="plain", group_action_type=1)
    db.message(chat, "saturday?", at(5), sender=a)
    ingest([db.write(exports / "chat.db")])
    conv = only()
    assert said(conv) == [("+15550103344", "saturday?")]
    assert conv.skipped == {"system event": 4}


def test_edited_message_takes_the_last_edit_and_keeps_the_earlier_versions(exports):
    db, chat, _ = one_to_one()
    row = db.message(chat, "meet at 7", at(1))
    db.edit(row, ["meet at 8", "meet at 8 at the gym"], at(2))
    assert db.get(row)["text"] is None and db.get(row)["attributedBody"] is None
    ingest([db.write(exports / "chat.db")])
    (message,) = only().messages
    assert message.text == "meet at 8 at the gym"
    assert message.extra == {"alternatives": ["meet at 7", "meet at 8"], "edited": True}


def test_edited_row_that_kept_its_text_uses_the_text(exports):
    db, chat, _ = one_to_one()
    row = db.message(chat, "see you at 6", at(1))
    db.edit(row, ["see you at 6:30"], at(2))
    db.get(row)["text"] = "see you at 6:30"
    ingest([db.write(exports / "chat.db")])
    (message,) = only().messages
    assert message.text == "see you at 6:30" and message.extra["alternatives"] == ["see you at 6"]


def test_unsent_messages_are_skipped(exports, tmp_path):
    db, chat, _ = one_to_one()
    gone = db.message(chat, "wrong chat sorry", at(1))
    db.unsend(gone, at(2))
    db.message(chat, "anyway", at(3))
    ingest([db.write(exports / "chat.db")])
    assert said(only()) == [("me", "anyway")] and only().skipped == {"unsent message": 1}

    old, chat, _ = one_to_one(omit_columns={"message": {"date_retracted", "message_summary_info"}})
    gone = old.message(chat, "typo", at(1))
    old.get(gone).update(text=None, attributedBody=None, date_edited=old.apple_time(at(2)))
    old.message(chat, "anyway", at(3))
    ingest([old.write(tmp_path / "older" / "chat.db")], "older")
    assert only("older").skipped == {"unsent message": 1}


def test_app_bubbles_without_text_are_skipped_and_link_previews_kept(exports):
    db, chat, them = one_to_one()
    db.app_message(chat, at(1), sender=them)
    db.app_message(chat, at(2), text="https://example.com/topo.pdf", bundle="com.apple.messages.URLBalloonProvider")
    ingest([db.write(exports / "chat.db")])
    assert said(only()) == [("me", "https://example.com/topo.pdf")] and only().skipped == {"app message": 1}


def test_junk_is_skipped(exports):
    db, chat, them = one_to_one()
    db.message(chat, "Your parcel is waiting: pay the fee at example.net", at(1), sender=them, is_spam=1)
    db.message(chat, "real one", at(2), sender=them)
    ingest([db.write(exports / "chat.db")])
    assert said(only()) == [(THEM, "real one")] and only().skipped == {"junk (filtered as spam)": 1}


def test_incoming_row_without_handle_takes_the_contact_of_its_chat(exports):
    db, chat, them = one_to_one()
    db.rows["chat_handle_join"].clear()  # membership missing: the chat's identifier still names them
    db.message(chat, "no handle on this row", at(1), sender=0)
    db.message(chat, "with handle", at(2), sender=them)
    ingest([db.write(exports / "chat.db")])
    conv = only()
    assert conv.title == THEM and said(conv) == [(THEM, "no handle on this row"), (THEM, "with handle")]
    assert [m.is_me for m in conv.messages] == [False, False]


def test_a_note_to_self_is_kept_once(exports, tmp_path):
    db = ChatDB(OWNER)
    myself = db.handle(OWNER)
    chat = db.chat([myself])
    db.message(chat, "buy chalk", at(1))
    db.message(chat, "buy chalk", at(1), sender=myself)  # the same message, received
    ingest([db.write(exports / "chat.db")])
    assert said(only()) == [("me", "buy chalk")] and only().skipped == {"own message received back": 1}

    db, chat, them = one_to_one()  # the owner's other handle, known from --me
    db.message(chat, "from my old number", at(1), sender=them)
    report = ingest([db.write(tmp_path / "other" / "chat.db")], "other", me=["Sam", "+1 555 010 2233"])
    assert stored("other") == [] and report.inputs[0].skipped == {"own message received back": 1}


def test_group_chats_named_and_unnamed(exports):
    db = ChatDB(OWNER)
    a, b = db.handle("+15550103344"), db.handle("ana@example.com")
    named = db.chat([a, b], group=True, name="Crag crew")
    unnamed = db.chat([a, b], group=True)
    db.message(named, "rope or no rope", at(1), sender=b)
    db.message(named, "rope", at(2))
    db.message(unnamed, "who has chalk", at(3), sender=a, body="attributed")
    ingest([db.write(exports / "chat.db")])
    by_title = {c.title: c for c in stored()}
    assert set(by_title) == {"Crag crew", "+15550103344, ana@example.com"}
    crew = by_title["Crag crew"]
    assert crew.is_group and crew.id == f"imessage:{db.rows['chat'][named - 1]['guid']}"
    assert crew.participants == ["+15550103344", "ana@example.com", "me"]
    assert said(crew) == [("ana@example.com", "rope or no rope"), ("me", "rope")]
    assert said(by_title["+15550103344, ana@example.com"]) == [("+15550103344", "who has chalk")]


def test_one_persons_handles_are_one_speaker_and_one_conversation(exports):
    db = ChatDB(OWNER)
    person = "6F1C2A9E-0B7D-4F3A-9C55-1E2D3C4B5A69"
    phone = db.handle(THEM, person=person)
    email = db.handle("ines@example.com", person=person)
    by_phone, by_email = db.chat([phone]), db.chat([email])
    db.message(by_phone, "landed", at(1), sender=phone)
    db.message(by_email, "from the laptop now", at(3), sender=email)
    db.message(by_phone, "welcome back", at(2))
    db.message(by_email, "ok", at(4))
    ingest([db.write(exports / "chat.db")])
    conv = only()
    assert conv.id == f"imessage:person:{person}" and conv.title == THEM
    assert said(conv) == [(THEM, "landed"), ("me", "welcome back"), (THEM, "from the laptop now"), ("me", "ok")]
    assert conv.participants == [THEM, "me"]


def test_old_database_in_seconds_without_the_newer_columns(exports):
    db, chat, them = one_to_one(legacy=True)
    db.message(chat, "from 2016", at(1), sender=them)
    db.message(chat, "yes", at(2))
    assert db.get(1)["date"] < 1e12
    path = db.write(exports / "chat.db")
    with sqlite3.connect(path) as check:
        columns = {row[1] for row in check.execute("PRAGMA table_info(message)")}
    assert "date_edited" not in columns and "message_summary_info" not in columns
    ingest([path])
    assert [(m.text, m.timestamp) for m in only().messages] == [
        ("from 2016", "2025-03-01T09:01:00.000Z"), ("yes", "2025-03-01T09:02:00.000Z")]


def test_rows_still_in_the_write_ahead_log_are_read_and_nothing_is_written(exports):
    db, chat, them = one_to_one()
    db.message(chat, "checkpointed", at(1), sender=them)
    db.message(chat, "only in the WAL", at(2))
    path = db.write(exports / "chat.db", in_wal=1)
    before = {p.name: digest(p) for p in exports.iterdir() if p.name != "chat.db-shm"}
    assert set(before) == {"chat.db", "chat.db-wal"}
    report = ingest([path])
    assert [m.text for m in only().messages] == ["checkpointed", "only in the WAL"]
    assert {p.name: digest(p) for p in exports.iterdir() if p.name != "chat.db-shm"} == before
    assert report.ignored == []


def test_a_database_without_log_is_read_immutably_leaving_no_files_beside_it(exports):
    db, chat, them = one_to_one()
    db.message(chat, "hello", at(1), sender=them)
    path = db.write(exports / "chat.db")
    before = digest(path)
    ingest([path])
    assert sorted(p.name for p in exports.iterdir()) == ["chat.db"] and digest(path) == before


def test_locked_database_gives_a_clear_error_and_changes_nothing(exports):
    db, chat, them = one_to_one()
    db.message(chat, "hello", at(1), sender=them)
    path = db.write(exports / "chat.db")
    before = corpus_bytes()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(InputError) as caught:
            ingest([path])
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert str(path) in str(caught.value)
    assert "locked" in str(caught.value) and "quit Messages" in str(caught.value)
    assert corpus_bytes() == before


@pytest.mark.parametrize("layout", ["file", "folder", "zip"])
def test_detected_as_a_file_a_folder_or_a_zip_with_its_log(exports, tmp_path, layout):
    db, chat, them = one_to_one()
    db.message(chat, "in the database", at(1), sender=them)
    db.message(chat, "in the log", at(2))
    messages = tmp_path / "Messages"
    path = db.write(messages / "chat.db", in_wal=1)
    write_unrelated_sqlite(messages / "notes.sqlite")
    (messages / "Attachments").mkdir()
    (messages / "Attachments" / "IMG_0412.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    target = {"file": path, "folder": messages}.get(layout)
    if layout == "zip":
        target = exports / "Messages.zip"
        with zipfile.ZipFile(target, "w") as archive:
            for file in sorted(messages.rglob("*")):
                if file.is_file():
                    archive.write(file, f"Messages/{file.relative_to(messages)}")
    report = ingest([target])
    assert [i.source for i in report.inputs] == ["imessage"]
    assert [m.text for m in only().messages] == ["in the database", "in the log"]
    if layout != "file":  # the Attachments folder belongs to the database; the other app's file does not
        assert [Path(p).name for p in report.ignored] == ["notes.sqlite"]


@pytest.mark.parametrize("name", ["sms.db", "3d/3d0d7e5fb2ce288813306e4d4636395e047a3d28", "Library/SMS/copy.db"])
def test_iphone_backup_sms_db_is_found_by_content(exports, name):
    db, chat, them = one_to_one()
    db.message(chat, "from the phone", at(1), sender=them)
    db.write(exports / "backup" / name)
    write_unrelated_sqlite(exports / "backup" / "ab" / "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12")
    report = ingest([exports / "backup"])
    assert [i.source for i in report.inputs] == ["imessage"]
    assert [m.text for m in only().messages] == ["from the phone"]


def test_a_sqlite_file_that_is_not_messages_is_not_claimed_and_forcing_says_why(exports):
    other = write_unrelated_sqlite(exports / "chat.db")
    with pytest.raises(InputError, match="not a chat export notme recognises"):
        ingest([exports])
    with pytest.raises(InputError) as caught:
        ingest([other], source="imessage")
    assert str(caught.value) == f"{other}: a SQLite database, but not an iMessage chat.db: no table 'message'"


def test_forced_source_reads_a_database_under_any_name(exports):
    db, chat, them = one_to_one()
    db.message(chat, "renamed copy", at(1), sender=them)
    report = ingest([db.write(exports / "messages-backup.sqlite")], source="imessage")
    assert report.inputs[0].source == "imessage" and only().messages[0].text == "renamed copy"


def test_truncated_database_names_the_file_and_changes_nothing(exports, tmp_path):
    db, chat, them = one_to_one()
    db.message(chat, "stored first", at(0), sender=them)
    ingest([db.write(tmp_path / "good" / "chat.db")])
    before = corpus_bytes()
    for i in range(400):
        db.message(chat, f"message number {i} " + "padding " * 20, at(i + 1), sender=them, body="attributed")
    path = db.write(exports / "chat.db")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError) as caught:
        ingest([path])
    assert str(caught.value).startswith(f"{path}: ")
    assert "database disk image is malformed" in str(caught.value) and "truncated or damaged" in str(caught.value)
    assert corpus_bytes() == before


def test_encrypted_or_corrupt_file_with_forced_source_says_it_is_not_a_database(exports):
    db, chat, them = one_to_one()
    db.message(chat, "secret", at(1), sender=them)
    path = db.write(exports / "sms.db")
    data = path.read_bytes()
    path.write_bytes(bytes((b * 7 + 3) & 0xFF for b in data[:4096]) + data[4096:])  # no SQLite header left
    with pytest.raises(InputError, match="not a chat export"):
        ingest([path])
    with pytest.raises(InputError) as caught:
        ingest([path], source="imessage")
    assert str(caught.value) == (f"{path}: not a readable SQLite database (file is not a database); "
                                 "an encrypted iPhone backup must be decrypted first")


def test_messages_in_no_chat_are_counted(exports):
    db, chat, them = one_to_one()
    db.message(chat, "kept", at(1), sender=them)
    stray = db.message(chat, "orphan", at(2), sender=them, add_to_chat=False)
    report = ingest([db.write(exports / "chat.db")])
    assert [m.text for m in only().messages] == ["kept"]
    assert report.inputs[0].dropped == {"message in no chat": 1}
    assert report.inputs[0].examples == {"message in no chat": [f"message {stray}"]}


def test_reingest_adds_nothing_and_updated_database_adds_only_the_new(exports, tmp_path):
    db, chat, them = one_to_one()
    db.message(chat, "hello", at(1), sender=them)
    db.message(chat, "hi", at(2))
    first = db.write(exports / "chat.db")
    ingest([first])
    report = ingest([first])
    assert report.inputs[0].conversations == {"unchanged": 1}

    db.message(chat, "later that week", at(3000), sender=them, body="attributed")
    other = db.chat([db.handle("+15550109999")])
    db.message(other, "new contact", at(3001), sender=db.rows["handle"][-1]["ROWID"])
    report = ingest([db.write(tmp_path / "later" / "chat.db")])
    assert report.inputs[0].conversations == {"updated": 1, "added": 1}
    (updated,) = [c for c in stored() if c.title == THEM]
    assert [m.text for m in updated.messages] == ["hello", "hi", "later that week"]


def test_write_sample_renders_the_persona_with_its_quirks(exports):
    owner = {"owner": "Sam Rivera", "timezone": "Europe/Lisbon",
             "owner_handles": {"phone": "+351 910 555 100", "email": "sam.rivera@example.com"}}
    contacts = [{"name": "Inês Rivera", "relation": "sister", "phone": "+351 910 555 102", "sessions": [
        [{"them": "first week done"}, {"me": "nice."}, {"them": "everyone wears black"}, {"me": "you wear black."}],
        [{"me": "mom's birthday is the 12th."}, {"them": "half each?"}, {"me": "yes. 60 each."}],
    ]}]
    groups = [{"name": "Rivera family", "members": ["Inês Rivera", "Lucía Rivera"], "sessions": [
        [{"Lucía Rivera": "Look at my tomatoes 🍅"}, {"me": "huge."}, {"Inês Rivera": "they're huge mom"}],
    ]}]
    path = write_sample(exports / "imessage", contacts, groups, owner)
    assert path.name == "chat.db"
    assert path.read_bytes() == write_sample(exports / "again", contacts, groups, owner).read_bytes()
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM message WHERE text IS NULL AND attributedBody IS NOT NULL"
                             ).fetchone()[0] >= 3
        assert check.execute("SELECT DISTINCT destination_caller_id FROM message").fetchall() == [("+351910555100",)]
    report = ingest([path], me=["Sam Rivera"])
    by_title = {c.title: c for c in stored()}
    sister, family = by_title["+351910555102"], by_title["Rivera family"]
    assert sister.id.startswith("imessage:person:") and family.is_group
    assert said(sister) == [
        ("+351910555102", "first week done"), ("Sam Rivera", "nice."),
        ("+351910555102", "everyone wears black"), ("Sam Rivera", "you wear black."),
        ("Sam Rivera", "the view from the office today"),
        ("Sam Rivera", "oops wrong chat, that was the staging key <api-key>"),
        ("Sam Rivera", "mom's birthday is the 12th."), ("+351910555102", "half each?"),
        ("Sam Rivera", "yes. 60 each."),
    ]
    assert sister.messages[-1].extra == {"alternatives": ["yes. 60 each wait"], "edited": True}
    assert sister.messages[0].timestamp == "2025-01-06T19:06:00.000Z"
    assert sister.skipped == {"tapback": 1} and family.skipped == {"system event": 1}
    assert said(family) == [("lucia.rivera@example.com", "Look at my tomatoes 🍅"), ("Sam Rivera", "huge."),
                            ("+351910555102", "they're huge mom")]
    assert report.inputs[0].scrubbed == {"api_key": 1}
