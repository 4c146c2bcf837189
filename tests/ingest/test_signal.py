"""Signal through signal-export and signalbackup-tools: every trap, on exports written by
notme.samples.signal."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notme.errors import InputError
from notme.ingest.inputs import InputTree
from notme.ingest.pipeline import ingest
from notme.ingest.sources.signal import Signal
from notme.samples.common import write_zip
from notme.samples.signal import SignalChat, SignalTxtThread, write_export, write_sample, write_txt_export
from tests.conftest import corpus_bytes, stored

LISBON = ZoneInfo("Europe/Lisbon")
NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2025, 7, 1, 18, 0)  # naive local time, as both tools write it


def chat(name: str = "MayaChen", start: datetime = START) -> SignalChat:
    return SignalChat(name, start, step_seconds=60)


def texts(conv) -> list[tuple[str, bool, str]]:
    return [(m.speaker, m.is_me, m.text) for m in conv.messages]


def by_id() -> dict:
    return {c.id: c for c in stored()}


# ---------------------------------------------------------------- signal-export (sigexport)


def test_sigexport_chat_owner_is_me_and_trailing_spaces_go(exports):
    c = chat()
    c.say("MayaChen", "are you home for dinner?")
    c.me("yes. 19:30.\nmaking the miso salmon.")
    report = ingest([write_export(exports, [c])], zone=LISBON)
    (conv,) = stored()
    assert conv.id == "signal:MayaChen" and conv.title == "MayaChen" and conv.source == "signal"
    assert conv.kind == "messaging" and conv.is_group is False
    assert conv.participants == ["Me", "MayaChen"]
    assert texts(conv) == [("MayaChen", False, "are you home for dinner?"),
                           ("Me", True, "yes. 19:30.\nmaking the miso salmon.")]
    assert report.inputs[0].owner_basis == 'sender "Me"'
    assert report.inputs[0].source == "signal"


def test_sigexport_local_times_take_the_given_zone(exports):
    c = chat()
    c.me("summer evening")  # 18:01 Lisbon summer time (UTC+1)
    c.row("Me", "with microseconds", microseconds=250000)
    ingest([write_export(exports, [c])], zone=LISBON)
    (conv,) = stored()
    assert [m.timestamp for m in conv.messages] == ["2025-07-01T17:01:00.000Z", "2025-07-01T17:02:00.250Z"]
    assert conv.extra["timezone_assumed"] == "Europe/Lisbon"


def test_sigexport_what_the_owner_did_not_type_is_left_out_and_counted(exports):
    c = chat()
    c.me("kept")
    c.call("MayaChen", "Missed voice call")
    c.call("Me", "Outgoing video call (accepted, 12m 4s)")
    c.call("Me", "Incoming call", flagged=True)
    c.deleted("MayaChen")
    c.sticker("MayaChen", "🐱")
    c.attachment("Me", "IMG_2041.jpg")
    c.system("Safety number changed")
    c.row("Me", "")
    c.me("also kept")
    ingest([write_export(exports, [c])], zone=LISBON)
    (conv,) = stored()
    assert texts(conv) == [("Me", True, "kept"), ("Me", True, "also kept")]
    assert conv.skipped == {"call": 3, "deleted message": 1, "sticker": 1, "media placeholder": 1,
                            "system line": 1, "empty": 1}


def test_sigexport_attachment_with_a_caption_keeps_the_caption(exports):
    c = chat()
    c.attachment("Me", "IMG_2042.jpg", caption="the view from the crag")
    ingest([write_export(exports, [c])], zone=LISBON)
    assert texts(stored()[0]) == [("Me", True, "the view from the crag")]


def test_sigexport_someone_typing_about_a_call_is_kept(exports):
    c = chat()
    c.me("Missed your call, sorry")
    c.me("Outgoing call")  # exactly what sigexport writes for a call with no details: a call row
    ingest([write_export(exports, [c])], zone=LISBON)
    (conv,) = stored()
    assert texts(conv) == [("Me", True, "Missed your call, sorry")]
    assert conv.skipped == {"call": 1}


def test_sigexport_quote_is_not_part_of_the_reply(exports):
    c = chat()
    c.say("MayaChen", "the movers can do the 14th or the 21st")
    c.me("14th.", quote="the movers can do the 14th or the 21st")
    inline = c.me("21st then.", quote="or the 21st?\nsecond line")
    inline["body"] = inline["quote"] + inline["body"]  # older rows carry the quote inside the body
    ingest([write_export(exports, [c])], zone=LISBON)
    (conv,) = stored()
    assert [m.text for m in conv.messages] == ["the movers can do the 14th or the 21st", "14th.", "21st then."]


def test_sigexport_reactions_are_kept_as_emoji_only(exports):
    c = chat()
    c.me("sent the yellow V5", reactions=[("MayaChen", "🔥"), ("SamRivera", "💪")])
    ingest([write_export(exports, [c])], zone=LISBON)
    (message,) = stored()[0].messages
    assert message.text == "sent the yellow V5"
    assert message.extra["reactions"] == ["🔥", "💪"]
    assert "MayaChen" not in str(message.to_dict())


def test_sigexport_group_is_told_by_more_than_one_other_sender(exports):
    group = chat("BlocSaturdays")
    group.say("RuiCosta", "who's in saturday?")
    group.say("AnaLopes", "in")
    group.me("in. 10h.")
    one_to_one = chat("RuiCosta")
    one_to_one.say("RuiCosta", "lend me your pad?")
    one_to_one.me("yes")
    ingest([write_export(exports, [group, one_to_one])], zone=LISBON)
    convs = by_id()
    assert convs["signal:BlocSaturdays"].is_group is True
    assert convs["signal:BlocSaturdays"].participants == ["Me", "RuiCosta", "AnaLopes"]
    assert convs["signal:RuiCosta"].is_group is False


def test_sigexport_companion_files_are_claimed_not_ignored(exports):
    c = chat()
    c.attachment("Me", "IMG 1.jpg", caption="look")
    report = ingest([write_export(exports, [c])], zone=LISBON)
    assert (exports / "MayaChen" / "chat.md").is_file() and (exports / "MayaChen" / "media" / "IMG 1.jpg").is_file()
    assert report.ignored == []


def test_a_chat_folder_beside_other_exports_claims_only_its_own_files(exports):
    c = chat()
    c.attachment("Me", "IMG_1.jpg", caption="look")
    write_export(exports, [c])
    chat_folder = exports / "MayaChen"
    (chat_folder / "WhatsApp Chat with Maya.txt").write_text("01/07/2025, 18:00 - Maya: hi\n")
    (chat_folder / "notes.json").write_text("{}")
    tree = InputTree(chat_folder)
    assert Signal().claims(tree, tree.names) == ["chat.md", "data.json", "index.html", "media/IMG_1.jpg"]


@pytest.mark.parametrize("layout", ["output folder", "zip", "chat folder", "data.json file"])
def test_sigexport_every_layout_is_detected(exports, layout):
    c = chat()
    c.me("hello from signal")
    if layout == "zip":
        target = write_export(exports, [c], zip_name="signal.zip", root="signal-export")
    else:
        write_export(exports, [c])
        target = {"output folder": exports, "chat folder": exports / "MayaChen",
                  "data.json file": exports / "MayaChen" / "data.json"}[layout]
    report = ingest([target], zone=LISBON)
    assert [i.source for i in report.inputs] == ["signal"]
    (conv,) = stored()
    assert conv.id == "signal:MayaChen" and texts(conv) == [("Me", True, "hello from signal")]


@pytest.mark.parametrize("given", [".", "data.json"])
def test_sigexport_relative_path_or_dot_takes_the_real_folder_name(exports, monkeypatch, given):
    c = chat()
    c.me("hello")
    write_export(exports, [c])
    monkeypatch.chdir(exports / "MayaChen")
    ingest([Path(given)], zone=LISBON)
    assert stored()[0].id == "signal:MayaChen"


def test_sigexport_chat_with_no_folder_name_is_an_error_not_an_empty_id(exports):
    c = chat()
    c.me("hello")
    target = write_zip(exports / " .zip", {"data.json": c.data_json()})  # data.json at the top of a nameless zip
    with pytest.raises(InputError, match="cannot tell which chat this is"):
        ingest([target], zone=LISBON)
    assert corpus_bytes() == b""


def test_sigexport_ids_stay_when_the_zone_changes_or_a_sender_is_renamed(exports, tmp_path):
    group = chat("BlocSaturdays")
    group.say("RuiCosta", "who's in?")
    group.me("in")
    first = write_export(tmp_path / "a", [group])
    ingest([first], zone=ZoneInfo("Europe/Berlin"))
    report = ingest([first], zone=LISBON)
    assert report.inputs[0].conversations == {"updated": 1} and len(stored()[0].messages) == 2
    group.rows[0]["sender"] = "Rui"  # the contact renamed before the next export
    group.say("Rui", "10h then")
    ingest([write_export(exports, [group])], zone=LISBON)
    assert [m.text for m in stored()[0].messages] == ["who's in?", "in", "10h then"]


def test_sigexport_times_in_the_repeated_hour_do_not_run_backwards(exports):
    c = chat(start=datetime(2025, 10, 26, 1, 40))  # Lisbon goes from 02:00 WEST back to 01:00 WET
    c.say("MayaChen", "still out?")
    c.at(datetime(2025, 10, 26, 1, 10)).me("on the last train")
    c.at(datetime(2025, 10, 26, 2, 5)).me("home")
    ingest([write_export(exports, [c])], zone=LISBON)
    assert [m.timestamp for m in stored()[0].messages] == [
        "2025-10-26T00:41:00.000Z", "2025-10-26T01:10:00.000Z", "2025-10-26T02:05:00.000Z"]


def test_sigexport_reingest_adds_nothing_and_a_later_export_adds_only_new_messages(exports, tmp_path):
    c = chat()
    c.say("MayaChen", "how was climbing?")
    c.me("sent it.")
    first = write_export(tmp_path / "first", [c])
    ingest([first], zone=LISBON)
    before = corpus_bytes()
    report = ingest([first], zone=LISBON)
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert corpus_bytes().split(b"\0")[0] == before.split(b"\0")[0]

    c.me("on my way.")
    report = ingest([write_export(exports, [c])], zone=LISBON)
    assert report.inputs[0].conversations == {"updated": 1}
    assert [m.text for m in stored()[0].messages] == ["how was climbing?", "sent it.", "on my way."]


def test_sigexport_malformed_line_is_counted_or_fatal_with_strict(exports):
    c = chat()
    c.me("first")
    c.me("second")
    c.lines = c.data_json().splitlines()
    c.lines.insert(1, '{"date": "2025-07-01T18:0')  # a half-written line
    c.lines.append('["not", "a", "row"]')
    folder = write_export(exports, [c])
    with pytest.raises(InputError) as caught:
        ingest([folder], zone=LISBON, strict=True)
    assert "data.json" in str(caught.value) and "line 2" in str(caught.value)
    report = ingest([folder], zone=LISBON)
    assert [m.text for m in stored()[0].messages] == ["first", "second"]
    assert report.inputs[0].dropped == {"malformed: not a valid JSON line": 1, "malformed: row is not an object": 1}


def test_sigexport_corrupt_file_names_the_file_and_changes_nothing(exports, tmp_path):
    good = chat("RuiCosta")
    good.me("already stored")
    ingest([write_export(tmp_path / "good", [good])], zone=LISBON)
    before = corpus_bytes()
    c = chat()
    c.me("x")
    folder = write_export(exports, [c])
    data = folder / "MayaChen" / "data.json"
    data.write_bytes(b'{"date": "2025-07-01T18:00:00", "sender": "Me", "bo\x00\xff\n\xfe garbage\n')
    with pytest.raises(InputError) as caught:
        ingest([folder], zone=LISBON)
    assert str(data) in str(caught.value) and "line 1" in str(caught.value)
    assert corpus_bytes() == before


def test_forcing_signal_on_something_else_says_so(exports):
    other = exports / "notes.json"
    other.write_text('{"hello": "world"}')
    with pytest.raises(InputError, match=r"no signal-export data\.json"):
        ingest([other], source="signal", zone=LISBON)
    c = chat()
    c.me("forced and read")
    write_export(exports / "out", [c])
    ingest([exports / "out" / "MayaChen" / "data.json"], source="signal", zone=LISBON)
    assert texts(stored()[0]) == [("Me", True, "forced and read")]


def test_write_sample_renders_the_persona_with_its_quirks(exports):
    owner = {"owner": "Sam Rivera", "timezone": "Europe/Lisbon"}
    contacts = [
        {"name": "Maya Chen", "sessions": [[{"them": "home for dinner?"}, {"me": "yes. 19:30."}],
                                           [{"them": "which sock"}, {"me": "green one."}, {"me": "it's gone."}]]},
        {"name": "Inês Rivera", "sessions": [[{"them": "new office!"}, {"me": "you wear black."}]]},
    ]
    groups = [{"name": "Bloc Saturdays", "members": ["Rui Costa", "Ana Lopes"],
               "sessions": [[{"Rui Costa": "who's in saturday?"}, {"Ana Lopes": "in"}, {"me": "in. 10h."}]]}]
    report = ingest([write_sample(exports, contacts, groups, owner)], zone=LISBON)
    convs = by_id()
    assert sorted(convs) == ["signal:BlocSaturdays", "signal:InêsRivera", "signal:MayaChen"]
    maya = convs["signal:MayaChen"]
    assert texts(maya) == [
        ("MayaChen", False, "home for dinner?"),
        ("Me", True, "yes. 19:30.\nthe api key for the flat's thermostat is <api-key>"),
        ("MayaChen", False, "which sock"),
        ("Me", True, "green one."),
        ("Me", True, "it's gone."),
    ]
    assert maya.messages[1].extra["reactions"] == ["👍"]
    assert maya.messages[0].timestamp == "2025-01-06T18:30:00.000Z"  # Lisbon is UTC in January
    assert maya.skipped == {"call": 2, "deleted message": 1}
    assert convs["signal:InêsRivera"].skipped == {"sticker": 1, "media placeholder": 1}
    assert convs["signal:BlocSaturdays"].is_group and convs["signal:BlocSaturdays"].skipped == {"system line": 1}
    assert report.inputs[0].scrubbed == {"api_key": 1}
    assert report.ignored == []


# ---------------------------------------------------------------- signalbackup-tools --exporttxt


def thread(name: str = "Maya Chen", thread_id: int = 12, start: datetime = START) -> SignalTxtThread:
    return SignalTxtThread(name, thread_id, start, step_seconds=60)


def test_txt_thread_with_me_multiline_body_and_status_lines(exports):
    t = thread()
    t.say("Maya Chen", "are you home for dinner?", reactions=[("Sam Rivera", "👍"), ("Maya Chen", "❤️")])
    t.say("Sam Rivera", "yes. 19:30.\nmaking the miso salmon.\n\ndon't buy anything (really: nothing)")
    t.call("Missed voice call")
    t.status("Maya Chen set the disappearing message timer to 1 week")
    t.file("Sam Rivera", "IMG_2041.jpg")
    t.file("Maya Chen", "menu.pdf", caption="this one?")
    t.poll("Maya Chen", "dinner?", [(1, "miso salmon"), (0, "pasta")])
    t.say("Sam Rivera", "salmon.")
    report = ingest([write_txt_export(exports, [t])], me=["Sam Rivera"], zone=LISBON)
    (conv,) = stored()
    assert conv.id == "signal:thread-12" and conv.title == "Maya Chen" and conv.is_group is False
    assert texts(conv) == [
        ("Maya Chen", False, "are you home for dinner?"),
        ("Sam Rivera", True, "yes. 19:30.\nmaking the miso salmon.\n\ndon't buy anything (really: nothing)"),
        ("Maya Chen", False, "this one?"),
        ("Sam Rivera", True, "salmon."),
    ]
    assert conv.skipped == {"call": 1, "system line": 1, "media placeholder": 2, "poll": 1}
    assert conv.messages[0].timestamp == "2025-07-01T17:01:00.000Z"  # 18:01 Lisbon summer time
    assert conv.extra["timezone_assumed"] == "Europe/Lisbon"
    assert report.inputs[0].owner_basis == "named by --me"


def test_txt_times_follow_the_zone(exports):
    t = thread()
    t.say("Sam Rivera", "morning")
    ingest([write_txt_export(exports, [t])], me=["Sam Rivera"], zone=NEW_YORK)
    assert stored()[0].messages[0].timestamp == "2025-07-01T22:01:00.000Z"  # 18:01 in New York (UTC-4)


def test_txt_without_me_gives_the_clear_error(exports):
    t = thread("Bloc Saturdays")  # a two-person group: no thread is named after its contact
    t.say("Maya Chen", "hi")
    t.say("Sam Rivera", "hi")
    folder = write_txt_export(exports, [t])
    with pytest.raises(InputError, match="cannot tell which participant is you"):
        ingest([folder], zone=LISBON)
    with pytest.raises(InputError, match="none of the owner's names"):
        ingest([folder], me=["Samuel"], zone=LISBON)
    assert stored() == []


def test_txt_owner_is_inferred_as_the_other_speaker_of_the_threads_named_after_their_contact(exports):
    threads = [thread("Maya Chen", 3), thread("Rui Costa", 4), thread("Bloc Saturdays", 7)]
    threads[0].say("Maya Chen", "dinner?")
    threads[0].say("Sam Rivera", "yes")
    threads[1].say("Sam Rivera", "pad?")
    threads[1].say("Rui Costa", "sure")
    threads[2].say("Rui Costa", "saturday?")
    threads[2].say("Ana Lopes", "in")
    threads[2].say("Sam Rivera", "in")
    report = ingest([write_txt_export(exports, threads)], zone=LISBON)
    assert report.inputs[0].owner_basis == "inferred: the other speaker of a thread named after its contact"
    assert report.owner == ["Sam Rivera"]
    convs = by_id()
    assert [m.is_me for m in convs["signal:thread-7"].messages] == [False, False, True]
    assert convs["signal:thread-7"].is_group is True and convs["signal:thread-3"].is_group is False


def test_txt_two_person_groups_do_not_make_a_contact_the_owner(exports):
    threads = [thread("Maya Chen", 3), thread("Climbing", 4), thread("Book club", 5)]
    threads[0].say("Maya Chen", "dinner?")
    threads[0].say("Sam Rivera", "yes")
    threads[1].say("Maya Chen", "saturday?")  # groups whose other members never spoke
    threads[1].say("Rui Costa", "in")
    threads[2].say("Maya Chen", "chapter 3?")
    threads[2].say("Ana Lopes", "done")
    report = ingest([write_txt_export(exports, threads)], zone=LISBON)
    assert report.owner == ["Sam Rivera"]  # not Maya Chen, who speaks in every thread
    assert [m.is_me for m in by_id()["signal:thread-4"].messages] == [False, False]


def test_txt_ids_stay_when_the_zone_changes_or_a_contact_is_renamed(exports, tmp_path):
    t = thread("Maya Chen", 12)
    t.say("Maya Chen", "boarding")
    t.say("Sam Rivera", "safe flight")
    first = write_txt_export(tmp_path / "a", [t])
    ingest([first], me=["Sam Rivera"], zone=ZoneInfo("Europe/Berlin"))
    report = ingest([first], me=["Sam Rivera"], zone=LISBON)  # the laptop travelled: only the times change
    assert report.inputs[0].conversations == {"updated": 1} and len(stored()[0].messages) == 2
    renamed = thread("Maya C.", 12)  # the same thread, the contact saved under another name since
    renamed.say("Maya C.", "boarding")
    renamed.say("Sam Rivera", "safe flight")
    renamed.say("Maya C.", "landed")
    ingest([write_txt_export(exports, [renamed])], me=["Sam Rivera"], zone=LISBON)
    assert [m.text for m in stored()[0].messages] == ["boarding", "safe flight", "landed"]


def test_txt_times_in_the_repeated_hour_do_not_run_backwards(exports):
    t = thread(start=datetime(2025, 10, 26, 1, 40))  # Lisbon goes from 02:00 WEST back to 01:00 WET
    t.say("Maya Chen", "still out?")  # 01:41 WEST
    t.at(datetime(2025, 10, 26, 1, 10)).say("Sam Rivera", "on the last train")  # 01:10 WET: the clock went back
    t.at(datetime(2025, 10, 26, 1, 30)).say("Maya Chen", "text me")
    t.at(datetime(2025, 10, 26, 2, 5)).say("Sam Rivera", "home")
    ingest([write_txt_export(exports, [t])], me=["Sam Rivera"], zone=LISBON)
    assert [m.timestamp for m in stored()[0].messages] == [
        "2025-10-26T00:41:00.000Z", "2025-10-26T01:10:00.000Z", "2025-10-26T01:30:00.000Z", "2025-10-26T02:05:00.000Z"]


def test_txt_and_sigexport_in_one_folder_and_zip(exports):
    c = chat()
    c.me("from sigexport")
    t = thread()
    t.say("Sam Rivera", "from signalbackup-tools")
    write_export(exports / "desktop", [c])
    write_txt_export(exports / "android", [t])
    report = ingest([exports], me=["Sam Rivera"], zone=LISBON)
    assert sorted(c.id for c in stored()) == ["signal:MayaChen", "signal:thread-12"]
    assert report.ignored == []


def test_txt_zip_is_detected(exports):
    t = thread()
    t.say("Sam Rivera", "zipped")
    report = ingest([write_txt_export(exports, [t], zip_name="signal-txt.zip")], me=["Sam Rivera"], zone=LISBON)
    assert [i.source for i in report.inputs] == ["signal"]
    assert texts(stored()[0]) == [("Sam Rivera", True, "zipped")]


def test_txt_reingest_adds_nothing_and_later_export_merges(exports, tmp_path):
    t = thread()
    t.say("Maya Chen", "how was climbing?")
    t.say("Sam Rivera", "sent it.")
    ingest([write_txt_export(tmp_path / "a", [t])], me=["Sam Rivera"], zone=LISBON)
    report = ingest([write_txt_export(tmp_path / "a2", [t])], me=["Sam Rivera"], zone=LISBON)
    assert report.inputs[0].conversations == {"unchanged": 1}
    t.say("Sam Rivera", "on my way.")
    report = ingest([write_txt_export(exports, [t])], me=["Sam Rivera"], zone=LISBON)
    assert report.inputs[0].conversations == {"updated": 1}
    assert [m.text for m in stored()[0].messages] == ["how was climbing?", "sent it.", "on my way."]


def test_txt_text_before_the_first_dated_line_is_malformed(exports):
    t = thread()
    t.say("Sam Rivera", "fine")
    t.lines.insert(0, "garbage header")
    path = write_txt_export(exports, [t]) / t.file_name  # not detected: read only when forced
    with pytest.raises(InputError, match="line 1"):
        ingest([path], me=["Sam Rivera"], zone=LISBON, strict=True, source="signal")
    report = ingest([path], me=["Sam Rivera"], zone=LISBON, source="signal")
    assert report.inputs[0].dropped == {"malformed: text before the first dated line": 1}
    assert texts(stored()[0]) == [("Sam Rivera", True, "fine")]
