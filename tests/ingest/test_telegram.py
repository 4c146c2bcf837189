"""Telegram Desktop export: every trap in the format, on exports written by notme.samples.telegram."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from notme.errors import InputError
from notme.ingest.pipeline import ingest
from notme.ingest.sources.telegram import _FixedEscapes
from notme.samples.telegram import (
    FILE_NOT_INCLUDED,
    TelegramChat,
    TelegramUser,
    bold,
    link,
    personal_information,
    write_export,
    write_sample,
)
from tests.conftest import corpus_bytes, only, stored, texts

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ME = TelegramUser("Sam Rivera", 5550100)
ANA = TelegramUser("Ana Costa", 200300400)
JOANA = TelegramUser("Joana Reis", 200300401)


def chat(name: str | None = "Ana Costa", chat_type: str = "personal_chat", chat_id: int = ANA.id,
         **kw) -> TelegramChat:
    return TelegramChat(name, chat_type, chat_id, START, **kw)


def full_export(folder, chats, **kw):
    return write_export(folder, chats, owner=personal_information(ME), **kw)




def by_title() -> dict:
    return {c.title: c for c in stored()}


def test_one_chat_export_names_the_owner_with_me_and_keeps_ids_order_and_utc_times(exports):
    c = chat()
    c.message(ANA, "climbing on saturday?")
    c.message(ME, "yes. 10h.")
    report = ingest([write_export(exports, [c], single=True)], me=["Sam Rivera"])
    conv = only()
    assert (conv.id, conv.source, conv.kind, conv.title) == ("telegram:200300400", "telegram", "messaging", "Ana Costa")
    assert conv.is_group is False and conv.participants == ["Ana Costa", "Sam Rivera"]
    assert texts(conv) == [(False, "climbing on saturday?"), (True, "yes. 10h.")]
    assert [m.id for m in conv.messages] == ["200300400/1", "200300400/2"]
    assert [m.speaker_id for m in conv.messages] == ["user200300400", "user5550100"]
    assert [m.timestamp for m in conv.messages] == ["2025-03-01T09:01:30.000Z", "2025-03-01T09:03:00.000Z"]
    assert report.inputs[0].owner_basis == "named by --me"


def test_one_chat_export_owner_can_be_named_by_user_id(exports):
    c = chat()
    c.message(ANA, "hi")
    c.message(ME, "hello")
    ingest([write_export(exports, [c], single=True)], me=["user5550100"])
    assert texts(only()) == [(False, "hi"), (True, "hello")]


def test_one_chat_export_of_a_1_1_chat_takes_the_sender_who_is_not_the_contact_as_owner(exports):
    c = chat()  # a personal chat's id is the contact's user id
    c.message(ANA, "hi")
    c.message(ME, "hello")
    report = ingest([write_export(exports, [c], single=True)])
    assert texts(only()) == [(False, "hi"), (True, "hello")]
    assert report.inputs[0].owner_basis == "inferred: the sender of a 1:1 chat who is not its contact"
    assert {"user5550100", "Sam Rivera"} <= set(report.owner)


def test_one_chat_export_of_a_group_without_me_or_with_a_wrong_me_is_a_clear_error(exports):
    group = chat("Bloc Saturdays", "private_group", 1700000001)
    group.message(ANA, "hi")
    group.message(ME, "hello")
    folder = write_export(exports, [group], single=True)
    with pytest.raises(InputError, match="cannot tell which participant is you") as caught:
        ingest([folder])
    assert "'Ana Costa'" in str(caught.value) and "'Sam Rivera'" in str(caught.value)
    c = chat()
    c.message(ANA, "hi")
    c.message(ME, "hello")
    with pytest.raises(InputError, match=r"none of the owner's names \('Maya'\)"):
        ingest([write_export(exports / "one", [c], single=True)], me=["Maya"])  # a name given is not overruled
    assert corpus_bytes() == b""


def test_full_export_takes_the_owner_from_personal_information(exports):
    personal = chat()
    personal.message(ANA, "did you book the gym?")
    personal.message(ME, "booked.")
    group = chat("Bloc Saturdays", "private_supergroup", 1700000001)
    group.message(JOANA, "who's in")
    group.message(ME, "in")
    left = chat("Old climbing group", "private_supergroup", 1700000002)
    left.message(ME, "bye all")
    report = ingest([full_export(exports, [personal, group], left_chats=[left])])
    chats = by_title()
    assert texts(chats["Ana Costa"]) == [(False, "did you book the gym?"), (True, "booked.")]
    assert texts(chats["Bloc Saturdays"]) == [(False, "who's in"), (True, "in")]
    assert texts(chats["Old climbing group"]) == [(True, "bye all")]
    assert chats["Bloc Saturdays"].is_group and not chats["Ana Costa"].is_group
    assert report.inputs[0].owner_basis == "personal_information"
    assert {"user5550100", "Sam Rivera"} <= set(report.owner)


def test_personal_information_after_the_chats_is_found_by_a_second_read(exports):
    c = chat()
    c.message(ANA, "hi")
    c.message(ME, "hello")
    folder = full_export(exports, [c], personal_after_chats=True)
    assert folder.joinpath("result.json").read_text().index('"chats"') < \
        folder.joinpath("result.json").read_text().index('"personal_information"')
    report = ingest([folder])
    assert texts(only()) == [(False, "hi"), (True, "hello")]
    assert report.inputs[0].owner_basis == "personal_information"


def test_full_export_without_personal_information_needs_me(exports):
    c = chat()
    c.message(ANA, "hi")
    c.message(ME, "hello")
    folder = write_export(exports, [c], owner=None)
    with pytest.raises(InputError, match="cannot tell which participant is you"):
        ingest([folder])
    report = ingest([folder], me=["Sam Rivera"])
    assert texts(only()) == [(False, "hi"), (True, "hello")]
    assert report.inputs[0].owner_basis == "named by --me"


def test_array_text_with_link_and_bold_entities_is_concatenated(exports):
    c = chat()
    record = c.message(ME, ["trail map: ", link("https://example.com/sintra"), " — ", bold("Saturday 9:00"), "?"])
    c.message(ANA, [bold("ok")])
    ingest([full_export(exports, [c])])
    assert isinstance(record["text"], list) and record["text_entities"][1]["type"] == "link"
    assert texts(only()) == [(True, "trail map: https://example.com/sintra — Saturday 9:00?"), (False, "ok")]


def test_date_unixtime_wins_over_the_local_date(exports):
    c = chat(export_zone=ZoneInfo("Asia/Tokyo"))
    record = c.message(ME, "sent at 09:01:30 UTC")
    ingest([full_export(exports, [c])], zone=ZoneInfo("America/New_York"))
    assert record["date"] == "2025-03-01T18:01:30"  # the exporting PC's wall clock, no zone
    conv = only()
    assert conv.messages[0].timestamp == "2025-03-01T09:01:30.000Z"
    assert "timezone_assumed" not in conv.extra


def test_old_export_without_unixtime_reads_date_in_the_given_zone_and_says_so(exports):
    lisbon = ZoneInfo("Europe/Lisbon")
    c = TelegramChat("Ana Costa", "personal_chat", ANA.id, datetime(2025, 7, 1, 9, 0, tzinfo=lisbon),
                     export_zone=lisbon, unixtime=False)
    record = c.message(ME, "summer time")
    c.message(ANA, "yes")
    ingest([write_export(exports, [c], single=True)], me=["user5550100"], zone=lisbon)
    assert record["from_id"] == 5550100 and "date_unixtime" not in record
    conv = only()
    assert texts(conv) == [(True, "summer time"), (False, "yes")]
    assert conv.messages[0].timestamp == "2025-07-01T08:01:30.000Z"
    assert conv.extra["timezone_assumed"] == "Europe/Lisbon"


def test_a_message_without_id_keeps_its_derived_id_in_another_zone(exports):
    lisbon = ZoneInfo("Europe/Lisbon")
    c = TelegramChat("Ana Costa", "personal_chat", ANA.id, datetime(2025, 7, 1, 9, 0, tzinfo=lisbon),
                     export_zone=lisbon, unixtime=False)
    c.message(ME, "summer time")
    c.message(ANA, "yes")
    for record in c.messages:
        del record["id"]
    folder = write_export(exports, [c], single=True)
    ingest([folder], me=["user5550100"], zone=lisbon)
    report = ingest([folder], me=["user5550100"], zone=ZoneInfo("Europe/Berlin"))  # the laptop travelled
    assert report.inputs[0].conversations == {"updated": 1}
    assert texts(only()) == [(True, "summer time"), (False, "yes")]


def test_what_nobody_typed_is_left_out_and_counted(exports):
    c = chat()
    c.service(ME, "phone_call", duration_seconds=60, discard_reason="hangup")
    c.message(ANA, "are you coming")
    c.sticker(ANA, "😂")
    c.photo(ANA)
    c.photo(ME, "the view from the top")
    c.voice(ANA)
    c.message(ANA, FILE_NOT_INCLUDED)
    c.forward(ME, "Lisbon Events", "Free concert on Sunday")
    c.forward(ME, None, "forwarded from a hidden account")
    c.via_bot(ME, "@gif", "funny cat")
    c.message(ME, "")
    c.unsupported()
    c.message(ME, "on my way")
    ingest([full_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(False, "are you coming"), (True, "the view from the top"), (True, "on my way")]
    assert conv.skipped == {"service message": 1, "sticker": 1, "media": 3, "forwarded": 2, "via bot": 1,
                            "empty": 1, "unsupported message": 1}


def test_deleted_account_speaks_as_deleted_account(exports):
    group = chat("Bloc Saturdays", "private_group", 1700000001)
    group.service(ME, "invite_members", members=[None])
    record = group.message(TelegramUser(None, 999), "I'm leaving telegram")
    group.message(ME, "bye then")
    ingest([full_export(exports, [group])])
    assert "from" in record and record["from"] is None
    conv = only()
    assert conv.skipped == {"service message": 1}
    assert [(m.speaker, m.speaker_id, m.is_me) for m in conv.messages] == [
        ("Deleted Account", "user999", False), ("Sam Rivera", "user5550100", True)]
    assert conv.participants == ["Deleted Account", "Sam Rivera"]


def test_saved_messages_are_the_owners_notes_with_no_me_needed(exports):
    saved = chat(None, "saved_messages", ME.id)
    saved.message(ME, "book the gym for thursday")
    saved.forward(ME, "Lisbon Events", "Free concert on Sunday")
    report = ingest([write_export(exports, [saved], single=True)])
    conv = only()
    assert (conv.id, conv.title, conv.is_group) == ("telegram:5550100", "Saved Messages", False)
    assert texts(conv) == [(True, "book the gym for thursday")]
    assert conv.skipped == {"forwarded": 1}
    assert report.inputs[0].owner_basis == "Saved Messages"


def test_channels_bot_chats_and_replies_are_dropped_with_their_reason(exports):
    keep = chat()
    keep.message(ME, "kept")
    channel = chat("Lisbon Events", "public_channel", 1500000001)
    channel.message(TelegramUser("Lisbon Events", 1500000001), "Free concert")
    private_channel = chat("My notes channel", "private_channel", 1500000002)
    private_channel.message(ME, "a post")
    bot = chat("Weather Bot", "bot_chat", 600000001)
    bot.message(ME, "/forecast")
    replies = chat(None, "replies", 1271266957)
    replies.message(ANA, "replying to your comment")
    report = ingest([full_export(exports, [keep, channel, private_channel, bot, replies])])
    assert [c.title for c in stored()] == ["Ana Costa"]
    assert report.inputs[0].dropped == {"channel": 2, "bot chat": 1, "replies chat": 1}


@pytest.mark.parametrize("chat_type", ["private_group", "private_supergroup", "public_supergroup"])
def test_every_group_type_is_a_group(exports, chat_type):
    group = chat("Bloc Saturdays", chat_type, 1700000001)
    group.message(JOANA, "who's in")
    group.message(ME, "in")
    ingest([full_export(exports, [group])])
    conv = only()
    assert conv.is_group is True and conv.participants == ["Joana Reis", "Sam Rivera"]


def test_reply_and_edit_keep_the_final_text_and_the_link(exports):
    c = chat()
    question = c.message(ANA, "saturday?")
    answer = c.reply(ME, "yes", to=question)
    c.edit(answer, "yes, 10h")
    ingest([full_export(exports, [c])])
    assert "edited" in answer and "edited_unixtime" in answer
    mine = only().messages[1]
    assert mine.text == "yes, 10h"
    assert mine.extra == {"reply_to": "200300400/1", "edited": True}


def test_tdesktop_x_escapes_line_separators_and_escaped_backslashes_are_read(exports):
    c = chat()
    c.message(ME, "bell\x07here")
    c.message(ME, "path C:\\xfiles\\new")
    c.message(ME, "one\u2028two")
    folder = full_export(exports, [c])
    raw = folder.joinpath("result.json").read_text()
    assert "bell\\x07here" in raw and "C:\\\\xfiles" in raw and "one\\u2028two" in raw
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)  # what tdesktop writes is not valid JSON
    ingest([folder])
    assert [m.text for m in only().messages] == ["bell\x07here", "path C:\\xfiles\\new", "one\ntwo"]


def test_escape_fix_survives_any_read_boundary():
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            piece, self.data = self.data[:1], self.data[1:]
            return piece

    source = b'["a\\x0Bb", "c\\\\xd", "e\\\\\\x1Ff"]'
    fixed = io.BufferedReader(_FixedEscapes(Trickle(source))).read()
    assert json.loads(fixed) == ["a\x0bb", "c\\xd", "e\\\x1ff"]


@pytest.mark.parametrize("layout", ["file", "folder", "zip"])
def test_every_layout_is_detected_and_read(exports, layout):
    c = chat()
    c.message(ME, "hello")
    target = full_export(exports, [c], zip_name="export.zip" if layout == "zip" else None, media=True)
    if layout == "file":
        target = target / "result.json"
    if layout == "folder":
        (target / "notes.txt").write_text("not part of the export")
    report = ingest([target])
    assert [i.source for i in report.inputs] == ["telegram"]
    # The media folders beside result.json go with it; nothing else does.
    assert report.ignored == ([str(target / "notes.txt")] if layout == "folder" else [])
    assert texts(only()) == [(True, "hello")]


def test_source_forcing_reads_a_renamed_file_and_rejects_other_json(exports):
    c = chat()
    c.message(ME, "hello")
    folder = write_export(exports, [c], single=True, filename="chat-with-ana.data")
    with pytest.raises(InputError, match="not a chat export notme recognises"):
        ingest([folder / "chat-with-ana.data"], me=["Sam Rivera"])
    ingest([folder / "chat-with-ana.data"], source="telegram", me=["Sam Rivera"])
    assert texts(only()) == [(True, "hello")]
    other = exports / "other.json"
    other.write_text('{"name": "not telegram", "items": [1, 2]}')
    with pytest.raises(InputError, match="not a Telegram export"):
        ingest([other], source="telegram")


def test_truncated_export_names_the_file_and_the_chat_and_changes_nothing(exports, tmp_path):
    c = chat()
    c.message(ME, "already stored")
    ingest([full_export(tmp_path / "good", [c])])
    before = corpus_bytes()
    big = chat()
    for i in range(40):
        big.message(ANA if i % 2 else ME, f"message number {i} " + "words " * 20)
    folder = full_export(exports, [big])
    data = folder.joinpath("result.json").read_bytes()
    folder.joinpath("result.json").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as caught:
        ingest([folder])
    message = str(caught.value)
    assert "result.json" in message and "chat 'Ana Costa' (200300400), after message" in message
    assert corpus_bytes() == before


def test_malformed_message_is_skipped_or_fatal_with_strict(exports):
    c = chat()
    c.message(ME, "fine")
    c.messages.append("not a message")
    c.message(ANA, [{"type": "bold", "text": "also fine"}])
    c.message(ANA, 42)
    folder = full_export(exports, [c])
    with pytest.raises(InputError, match="message 2: message is not an object"):
        ingest([folder], strict=True)
    report = ingest([folder])
    assert texts(only()) == [(True, "fine"), (False, "also fine")]
    assert report.inputs[0].dropped == {"malformed: message is not an object": 1,
                                        "malformed: text is neither a string nor a list": 1}


def test_a_chat_whose_messages_is_an_object_is_counted_not_lost(exports):
    c = chat()
    c.message(ME, "kept")
    odd = {"name": "Bloc Saturdays", "type": "private_group", "id": 1700000001,
           "messages": {"1": {"id": 1, "type": "message", "from": "Sam Rivera", "text": "lost"}}}
    folder = full_export(exports, [c, odd])
    with pytest.raises(InputError, match=r"chat 'Bloc Saturdays' \(1700000001\): messages is not an array"):
        ingest([folder], strict=True)
    report = ingest([folder])
    assert texts(only()) == [(True, "kept")]
    assert report.inputs[0].dropped == {"malformed: messages is not an array": 1}


def test_reingest_adds_nothing_and_a_later_one_chat_export_adds_only_the_new(exports, tmp_path):
    c = chat()
    c.message(ANA, "hi")
    c.message(ME, "hello")
    first = full_export(exports, [c])
    ingest([first])
    before = corpus_bytes()
    report = ingest([first])
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert corpus_bytes().split(b"\0")[0] == before.split(b"\0")[0]

    c.message(ANA, "saturday?")
    c.message(ME, "yes")
    # A one-chat export has no personal_information: the owner is known from the full export.
    report = ingest([write_export(tmp_path / "later", [c], single=True)])
    assert report.inputs[0].conversations == {"updated": 1}
    assert texts(only()) == [(False, "hi"), (True, "hello"), (False, "saturday?"), (True, "yes")]


def test_write_sample_renders_the_persona_with_its_quirks(exports):
    contacts = [{"name": "Sr. Almeida", "relation": "landlord", "phone": "+351 910 555 105",
                 "sessions": [[{"them": "Bom dia. The water is cut on Wednesday."}, {"me": "noted, thank you."}],
                              [{"me": "the rent goes out tomorrow."}, {"them": "No problem."}]]}]
    groups = [{"name": "Bloc Saturdays", "members": ["Rui Costa", "Ana Lopes"],
               "sessions": [[{"Rui Costa": "who's in saturday?"}, {"me": "in. 10h."}, {"Ana Lopes": "in"}]]}]
    owner = {"owner": "Sam Rivera", "timezone": "Europe/Lisbon",
             "owner_handles": {"phone": "+351 910 555 100", "telegram_id": "user5550100"}}
    folder = write_sample(exports, contacts, groups, owner)
    assert write_sample(exports.parent / "again", contacts, groups, owner).joinpath("result.json").read_bytes() \
        == folder.joinpath("result.json").read_bytes()
    report = ingest([folder])
    item = report.inputs[0]
    assert item.owner_basis == "personal_information"
    assert item.dropped == {"channel": 1, "bot chat": 1}
    assert item.skipped == {"service message": 3, "sticker": 1, "media": 1, "forwarded": 2}
    assert item.scrubbed == {"api_key": 1}
    chats = by_title()
    assert set(chats) == {"Sr. Almeida", "Bloc Saturdays", "Saved Messages"}
    landlord = chats["Sr. Almeida"]
    assert landlord.messages[0].timestamp == "2025-01-06T19:01:30.000Z"  # 19:01:30 in Lisbon, UTC+0 in January
    assert landlord.messages[1].text == "noted, thank you. 🙂" and landlord.messages[1].extra == {"edited": True}
    assert (True, "trail map: https://example.com/trails/sintra — Saturday 9:00?") in texts(landlord)
    assert (True, "the shared account key is <api-key>") in texts(landlord)
    (reply,) = [m for m in landlord.messages if "reply_to" in m.extra]
    assert (reply.is_me, reply.text, reply.extra["reply_to"]) == (True, "yes, that one", landlord.messages[0].id)
    assert ("Deleted Account", False) in [(m.speaker, m.is_me) for m in chats["Bloc Saturdays"].messages]
