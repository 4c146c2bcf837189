"""DiscordChatExporter JSON: every trap in the format, on exports written by notme.samples.discord."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from notme.errors import InputError
from notme.ingest.pipeline import ingest
from notme.samples import telegram
from notme.samples.discord import DiscordChannel, DiscordUser, write_export, write_sample
from tests.conftest import corpus_bytes, only, stored, texts

START = datetime(2025, 3, 1, 21, 0, tzinfo=UTC)
ME = DiscordUser("555010000000000100", "sam.rivera", "Sam Rivera")
PRIYA = DiscordUser("400000000000000001", "priya.nair", "Priya Nair")
RUI = DiscordUser("400000000000000002", "rui.costa", "Rui Costa")
BOT = DiscordUser("400000000000000099", "Stagebot", is_bot=True)
SERVER = {"id": "800000000000000001", "name": "Bloc Saturdays", "iconUrl": ""}


def dm(**kw) -> DiscordChannel:
    return DiscordChannel(None, "900000000000000001", "Priya Nair", START, **kw)


def server_channel(name: str = "general", **kw) -> DiscordChannel:
    return DiscordChannel(SERVER, "900000000000000002", name, START, **kw)




def test_dm_is_one_to_one_with_the_owner_named_by_me_and_utc_times(exports):
    c = dm(export_zone=ZoneInfo("America/Sao_Paulo"))
    first = c.message(PRIYA, "the migration holds a lock")
    c.message(ME, "seen. killing it.")
    report = ingest([write_export(exports, [c])], me=["Sam Rivera"])
    conv = only()
    assert (conv.id, conv.source, conv.kind, conv.title) == ("discord:900000000000000001", "discord", "messaging",
                                                              "Priya Nair")
    assert conv.is_group is False and conv.participants == ["Priya Nair", "Sam Rivera"]
    assert texts(conv) == [(False, "the migration holds a lock"), (True, "seen. killing it.")]
    assert first["timestamp"] == "2025-03-01T18:01:15.000-03:00"
    assert [m.timestamp for m in conv.messages] == ["2025-03-01T21:01:15.000Z", "2025-03-01T21:02:30.000Z"]
    assert conv.messages[0].id == first["id"] and conv.messages[0].speaker_id == PRIYA.id
    assert report.inputs[0].owner_basis == "named by --me"


@pytest.mark.parametrize("me", ["sam.rivera", "Sam Rivera", "555010000000000100", "sam.rivera#4821"])
def test_owner_can_be_named_by_username_display_name_tag_or_id(exports, me):
    owner = DiscordUser(ME.id, ME.name, ME.nickname, discriminator="4821")
    c = dm()
    c.message(PRIYA, "hi")
    c.message(owner, "hello")
    ingest([write_export(exports, [c])], me=[me])
    assert texts(only()) == [(False, "hi"), (True, "hello")]


def test_someone_else_with_the_owners_display_name_is_not_the_owner(exports):
    namesake = DiscordUser("400000000000000007", "sammy.r", "Sam Rivera")  # a nickname anyone can take
    c = server_channel()
    c.message(namesake, "hi, I'm the other Sam")
    c.message(ME, "hello")
    folder = write_export(exports, [c])
    ingest([folder], me=["Sam Rivera", ME.id])  # the demo's --me: the owner's name and their id
    assert texts(only()) == [(False, "hi, I'm the other Sam"), (True, "hello")]
    # By name alone, two authors carry it: neither is taken for the owner.
    with pytest.raises(InputError, match="none of the owner's names"):
        ingest([folder], "by-name", me=["Sam Rivera"])


def test_without_me_or_with_a_wrong_me_is_a_clear_error(exports):
    c = dm()
    c.message(PRIYA, "hi")
    c.message(ME, "hello")
    folder = write_export(exports, [c])
    with pytest.raises(InputError, match="cannot tell which participant is you") as caught:
        ingest([folder])
    assert "'Priya Nair'" in str(caught.value)
    with pytest.raises(InputError, match=r"none of the owner's names \('Maya'\)"):
        ingest([folder], me=["Maya"])
    assert corpus_bytes() == b""


def test_server_channel_is_a_group_titled_with_server_and_channel(exports):
    c = server_channel()
    c.message(RUI, "who's in saturday?")
    c.message(ME, "in. 10h.")
    ingest([write_export(exports, [c])], me=["Sam Rivera"])
    conv = only()
    assert (conv.id, conv.title, conv.is_group) == ("discord:900000000000000002", "Bloc Saturdays #general", True)
    assert conv.participants == ["Rui Costa", "Sam Rivera"]


def test_dm_with_a_third_person_or_a_group_dm_type_is_a_group(exports, tmp_path):
    c = dm()
    c.message(PRIYA, "hi")
    c.message(ME, "hello")
    c.message(RUI, "me too")
    ingest([write_export(exports, [c])], me=["Sam Rivera"])
    assert only().is_group is True
    pair = DiscordChannel(None, "900000000000000003", "Priya, Rui", START, channel_type="DirectGroupTextChat")
    pair.message(PRIYA, "hi")
    pair.message(ME, "hello")
    ingest([write_export(tmp_path / "group-dm", [pair])], me=["Sam Rivera"])
    assert {c.id: c.is_group for c in stored()}["discord:900000000000000003"] is True


def test_older_dm_guild_id_at_me_is_a_dm(exports):
    c = DiscordChannel({"id": "@me", "name": "Direct Messages", "iconUrl": ""}, "900000000000000001", "Priya Nair",
                       START, channel_type="DirectTextChat")
    c.message(PRIYA, "hi")
    c.message(ME, "hello")
    ingest([write_export(exports, [c])], me=["Sam Rivera"])
    conv = only()
    assert (conv.title, conv.is_group) == ("Priya Nair", False)


def test_system_messages_bots_forwards_and_media_only_are_left_out_and_counted(exports):
    c = server_channel()
    c.system("GuildMemberJoin", RUI)
    question = c.message(RUI, "who's in saturday?")
    c.pin(ME, question)
    c.system("Call", ME)
    c.system("ThreadCreated", RUI, "saturday plans")
    c.message(BOT, "Welcome Rui! Read #rules first.")
    c.attachment(RUI, "IMG_2041.jpg")
    c.attachment(ME, "route.png", "this one")
    c.sticker(RUI, "wave")
    c.message(RUI, "", embeds=[{"title": "Gym opening hours", "url": "https://example.com"}])
    c.forward(ME, "Free concert on Sunday")
    c.message(ME, "")
    c.message(ME, "in. 10h.")
    ingest([write_export(exports, [c])], me=["Sam Rivera"])
    conv = only()
    assert texts(conv) == [(False, "who's in saturday?"), (True, "this one"), (True, "in. 10h.")]
    assert conv.skipped == {"system message": 4, "bot message": 1, "media": 3, "forwarded": 1, "empty": 1}
    assert "Stagebot" not in conv.participants


def test_raw_mentions_become_names_and_custom_emoji_their_name(exports):
    c = server_channel()
    c.message(ME, f"{PRIYA.raw_mention} look <:pog:123456> <a:dance:654321> <@999> <@&42> <#77>", mentions=[PRIYA])
    c.message(PRIYA, "@Sam Rivera seen")  # what the default (markdown) export already writes
    ingest([write_export(exports, [c])], me=["Sam Rivera"])
    assert [m.text for m in only().messages] == ["@Priya Nair look :pog: :dance: <@999> <@&42> <#77>",
                                                 "@Sam Rivera seen"]


def test_reply_and_edit_are_kept_as_message_details(exports):
    c = dm()
    question = c.message(PRIYA, "lunch?")
    c.reply(ME, "thai place", to=question, edited_minutes=2)
    ingest([write_export(exports, [c])], me=["Sam Rivera"])
    mine = only().messages[1]
    assert mine.extra == {"reply_to": question["id"], "edited": True}


def test_a_timestamp_without_offset_is_read_in_the_given_zone_and_says_so(exports):
    c = dm()
    c.message(PRIYA, "hi")["timestamp"] = "2025-03-01T10:00:00"
    c.message(ME, "hello")
    ingest([write_export(exports, [c])], me=["Sam Rivera"], zone=ZoneInfo("America/New_York"))
    conv = only()
    assert [m.timestamp for m in conv.messages] == ["2025-03-01T15:00:00.000Z", "2025-03-01T21:02:30.000Z"]
    assert conv.extra["timezone_assumed"] == "America/New_York"


def test_messages_follow_their_snowflake_ids_in_the_same_millisecond_and_without_a_time(exports):
    c = dm()
    first = c.message(PRIYA, "first")
    second = c.message(ME, "second", at=datetime.fromisoformat(first["timestamp"]))  # the same millisecond
    c.messages.reverse()  # written out of order (an export merged by hand)
    c.message(PRIYA, "third, no time")["timestamp"] = None
    c.message(ME, "fourth")
    assert int(first["id"]) < int(second["id"])
    ingest([write_export(exports, [c])], me=["Sam Rivera"])
    assert [m.text for m in only().messages] == ["first", "second", "third, no time", "fourth"]
    assert only().messages[2].timestamp is None


def test_a_message_without_id_keeps_its_derived_id_in_another_zone(exports):
    c = dm()
    c.message(PRIYA, "hi")
    c.message(ME, "hello")
    for record in c.messages:
        del record["id"]
        record["timestamp"] = record["timestamp"][:19]  # no offset: read in --timezone
    folder = write_export(exports, [c])
    ingest([folder], me=["Sam Rivera"], zone=ZoneInfo("Europe/Berlin"))
    report = ingest([folder], me=["Sam Rivera"], zone=ZoneInfo("Europe/Lisbon"))
    assert report.inputs[0].conversations == {"updated": 1}
    assert texts(only()) == [(False, "hi"), (True, "hello")]


def test_partitions_of_one_channel_merge_into_one_conversation_in_order(exports):
    c = server_channel()
    for i in range(5):
        c.message(ME if i % 2 else RUI, f"message {i}")
    folder = write_export(exports, [c], partition=2)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["Bloc Saturdays - Text Channels - general [900000000000000002] [part 2].json",
                     "Bloc Saturdays - Text Channels - general [900000000000000002] [part 3].json",
                     "Bloc Saturdays - Text Channels - general [900000000000000002].json"]
    report = ingest([folder], me=["Sam Rivera"])
    assert report.inputs[0].conversations == {"added": 1}
    assert [m.text for m in only().messages] == [f"message {i}" for i in range(5)]


def test_two_exports_of_one_channel_give_each_message_once(exports):
    c = dm()
    for i in range(3):
        c.message(PRIYA, f"early {i}")
    write_export(exports / "january", [c])
    c.message(ME, "later")
    write_export(exports / "february", [c])
    ingest([exports], me=["Sam Rivera"])
    assert texts(only()) == [(False, "early 0"), (False, "early 1"), (False, "early 2"), (True, "later")]


def test_two_exports_of_one_channel_keep_the_copy_edited_last(exports):
    c = dm()
    c.message(PRIYA, "lunch?")
    plan = c.message(ME, "tuesday")
    write_export(exports / "a", [c])  # read first
    plan.update(content="wednesday", timestampEdited="2025-03-01T22:00:00.000+00:00")
    write_export(exports / "b", [c])
    ingest([exports], me=["Sam Rivera"])
    assert texts(only()) == [(False, "lunch?"), (True, "wednesday")]
    assert only().messages[1].extra == {"edited": True}


def test_two_exports_of_one_channel_keep_the_copy_exported_last(exports):
    c = dm()
    note = c.message(ME, "see you at 8, as first exported")
    write_export(exports / "a", [c])  # read first
    note["content"] = "see you at 8"  # changed with no edit time: only exportedAt tells the copies apart
    (later,) = write_export(exports / "b", [c]).iterdir()
    later.write_text(later.read_text().replace('"exportedAt": "2025-03-02', '"exportedAt": "2025-03-09'))
    ingest([exports], me=["Sam Rivera"])
    assert texts(only()) == [(True, "see you at 8")]


@pytest.mark.parametrize("layout", ["file", "folder", "zip"])
def test_every_layout_is_detected_and_read(exports, layout):
    c = dm()
    c.message(ME, "hello")
    target = write_export(exports, [c], zip_name="discord.zip" if layout == "zip" else None)
    if layout == "file":
        (target,) = target.iterdir()
    report = ingest([target], me=["Sam Rivera"])
    assert [i.source for i in report.inputs] == ["discord"]
    assert texts(only()) == [(True, "hello")]


def test_a_folder_with_telegram_and_discord_exports_is_split_between_them(exports):
    c = dm()
    c.message(ME, "from discord")
    write_export(exports / "discord", [c])
    chat = telegram.TelegramChat("Ana Costa", "personal_chat", 200300400, START)
    chat.message(telegram.TelegramUser("Sam Rivera", 5550100), "from telegram")
    telegram.write_export(exports / "telegram", [chat], owner=telegram.personal_information(
        telegram.TelegramUser("Sam Rivera", 5550100)))
    report = ingest([exports], me=["Sam Rivera"])
    assert sorted(i.source for i in report.inputs) == ["discord", "telegram"]
    assert sorted((c.source, c.messages[0].text) for c in stored()) == [("discord", "from discord"),
                                                                       ("telegram", "from telegram")]


def test_source_forcing_and_json_that_is_not_an_export(exports):
    c = dm()
    c.message(ME, "hello")
    (file,) = write_export(exports, [c]).iterdir()
    renamed = file.rename(exports / "priya.txt")
    with pytest.raises(InputError, match="not a chat export notme recognises"):
        ingest([renamed], me=["Sam Rivera"])
    ingest([renamed], source="discord", me=["Sam Rivera"])
    assert texts(only()) == [(True, "hello")]
    other = exports / "other.json"
    other.write_text('{"messages": [{"content": "hi"}]}')
    with pytest.raises(InputError, match="not a DiscordChatExporter JSON export"):
        ingest([other], source="discord", me=["Sam Rivera"])


def test_truncated_file_names_the_file_and_message_and_changes_nothing(exports, tmp_path):
    good = dm()
    good.message(ME, "already stored")
    ingest([write_export(tmp_path / "good", [good])], me=["Sam Rivera"])
    before = corpus_bytes()
    c = server_channel()
    for i in range(30):
        c.message(ME if i % 2 else RUI, f"message {i} " + "words " * 20)
    (file,) = write_export(exports, [c]).iterdir()
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as caught:
        ingest([exports], me=["Sam Rivera"])
    assert "general [900000000000000002].json" in str(caught.value)
    assert "after message" in str(caught.value)
    assert corpus_bytes() == before


def test_malformed_message_is_skipped_or_fatal_with_strict(exports):
    c = dm()
    c.message(ME, "fine")
    c.messages.append("not a message")
    c.message(PRIYA, "also fine")["author"] = None
    folder = write_export(exports, [c])
    with pytest.raises(InputError, match="message 2: message is not an object"):
        ingest([folder], me=["Sam Rivera"], strict=True)
    report = ingest([folder], me=["Sam Rivera"])
    assert texts(only()) == [(True, "fine")]
    assert report.inputs[0].dropped == {"malformed: message is not an object": 1,
                                        "malformed: message without author": 1}


def test_reingest_adds_nothing_and_an_updated_export_adds_only_the_new(exports, tmp_path):
    c = dm()
    c.message(PRIYA, "hi")
    c.message(ME, "hello")
    first = write_export(exports, [c])
    ingest([first], me=["Sam Rivera"])
    before = corpus_bytes()
    report = ingest([first])  # the owner is remembered by the corpus
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert corpus_bytes().split(b"\0")[0] == before.split(b"\0")[0]

    c.message(PRIYA, "lunch?")
    c.message(ME, "thai place")
    report = ingest([write_export(tmp_path / "later", [c])])
    assert report.inputs[0].conversations == {"updated": 1}
    assert texts(only()) == [(False, "hi"), (True, "hello"), (False, "lunch?"), (True, "thai place")]


def test_write_sample_renders_the_persona_with_its_quirks(exports):
    contacts = [{"name": "Priya Nair", "relation": "coworker", "phone": "+351 910 555 103",
                 "sessions": [[{"them": "the migration holds a lock"}, {"me": "seen. killing it."}],
                              [{"them": "lunch?"}, {"me": "thai place"}]]}]
    groups = [{"name": "Bloc Saturdays", "members": ["Rui Costa", "Ana Lopes"],
               "sessions": [[{"Rui Costa": "who's in saturday?"}, {"me": "in. 10h."}, {"Ana Lopes": "in"}]]}]
    owner = {"owner": "Sam Rivera", "timezone": "Europe/Lisbon",
             "owner_handles": {"discord_id": "555010000000000100"}}
    folder = write_sample(exports, contacts, groups, owner)
    again = write_sample(exports.parent / "again", contacts, groups, owner)
    assert [p.read_bytes() for p in sorted(folder.iterdir())] == [p.read_bytes() for p in sorted(again.iterdir())]
    report = ingest([folder], me=["555010000000000100"])
    item = report.inputs[0]
    assert item.skipped == {"system message": 4, "bot message": 1, "media": 3}
    assert item.scrubbed == {"api_key": 1}
    chats = {c.title: c for c in stored()}
    assert set(chats) == {"Priya Nair", "Bloc Saturdays #general"}
    direct = chats["Priya Nair"]
    assert direct.is_group is False and direct.messages[0].timestamp == "2025-01-06T21:01:15.000Z"
    assert texts(direct)[:2] == [(False, "the migration holds a lock"), (True, "seen. killing it.")]
    assert direct.messages[2].extra == {"reply_to": direct.messages[0].id, "edited": True}
    group = chats["Bloc Saturdays #general"]
    assert (True, "@Rui Costa the deploy checklist is pinned") in texts(group)
    assert (True, "staging key for the checklist: <api-key>") in texts(group)
    # Without groups (as the bundled demo calls it) the quirks go to a small server channel.
    write_sample(exports.parent / "no-groups", contacts, [], owner)
    report = ingest([exports.parent / "no-groups"], corpus_name="other", me=["Sam Rivera"])
    assert report.inputs[0].skipped["bot message"] == 1
    assert {c.title for c in stored("other")} == {"Priya Nair", "Side Projects #general"}
