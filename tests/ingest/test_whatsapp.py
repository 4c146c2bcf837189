"""WhatsApp "Export chat": every trap in the format, on exports written by notme.samples.whatsapp."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notme.errors import InputError
from notme.ingest.pipeline import ingest
from notme.samples.whatsapp import (
    ANDROID,
    FINNISH,
    GERMAN,
    HUNGARIAN,
    IOS,
    NNBSP,
    PORTUGUESE,
    SPANISH,
    US_ANDROID,
    US_IOS,
    YEAR_FIRST,
    Style,
    WhatsAppChat,
    synthetic_messages,
    write_chat,
    write_sample,
)
from tests.conftest import corpus_bytes, stored

ZONE = ZoneInfo("Europe/Berlin")  # UTC+1 in winter: wall clock 21:05 is 20:05Z
SAM, ANA, RUI = "Sam Rivera", "Ana Lopes", "Rui Costa"
T0 = datetime(2025, 1, 16, 21, 5, 9)  # day 16: the file says day first (or month first) by itself


def chat(name: str = ANA, style: Style = ANDROID, start: datetime = T0) -> WhatsAppChat:
    return WhatsAppChat(name, style, start=start)


def run(*paths: Path, **kw):
    kw.setdefault("me", [SAM])
    kw.setdefault("zone", ZONE)
    return ingest(list(paths), **kw)


def only():
    (found,) = stored()
    return found


def texts(conv) -> list[tuple[str, bool, str]]:
    return [(m.speaker, m.is_me, m.text) for m in conv.messages]


def by_title(title: str):
    (found,) = [c for c in stored() if c.title == title]
    return found


# ------------------------------------------------------------------------------- line grammar


def test_android_24h_day_first_txt(exports):
    c = chat()
    c.encryption_notice()
    c.say(ANA, "dinner at 8?")
    c.say(SAM, "yes. bringing wine.")
    report = run(c.write_txt(exports))
    conv = only()
    assert (conv.id, conv.title, conv.kind, conv.is_group) == ("whatsapp:ana lopes", ANA, "messaging", False)
    assert conv.participants == [ANA, SAM]
    assert texts(conv) == [(ANA, False, "dinner at 8?"), (SAM, True, "yes. bringing wine.")]
    assert [m.timestamp for m in conv.messages] == ["2025-01-16T20:06:00.000Z", "2025-01-16T20:07:00.000Z"]
    assert conv.extra == {"timezone_assumed": "Europe/Berlin", "date_order": "D/M/Y"}
    assert conv.skipped == {"system line": 1}
    assert report.inputs[0].owner_basis == "named by --me"


def test_ios_zip_12h_with_narrow_nbsp_and_lrm_system_lines(exports):
    c = chat(style=IOS)
    c.encryption_notice()
    c.say(ANA, "landed")
    c.say(SAM, "welcome back")
    c.system("security", whom=ANA)
    c.say(ANA, "taxi now")
    target = c.write_zip(exports)
    assert target.name == "WhatsApp Chat - Ana Lopes.zip"
    assert f"9:06:09{NNBSP}PM] Ana Lopes: landed" in c.text()
    run(target)
    conv = only()
    assert conv.id == "whatsapp:ana lopes" and conv.title == ANA
    assert texts(conv) == [(ANA, False, "landed"), (SAM, True, "welcome back"), (ANA, False, "taxi now")]
    assert [m.timestamp for m in conv.messages] == [
        "2025-01-16T20:06:09.000Z", "2025-01-16T20:07:09.000Z", "2025-01-16T20:09:09.000Z"]
    assert conv.skipped == {"system line": 2}
    assert conv.participants == [ANA, SAM]


def test_twelve_hour_clock_midnight_and_noon(exports):
    c = chat(style=US_ANDROID, start=datetime(2025, 1, 16, 0, 30))
    c.say(ANA, "still up?")
    c.say(SAM, "lunch then", at=datetime(2025, 1, 16, 12, 15))
    assert "1/16/25, 12:30 AM - " in c.text() and "1/16/25, 12:15 PM - " in c.text()
    run(c.write_txt(exports))
    assert [m.timestamp for m in only().messages] == ["2025-01-15T23:30:00.000Z", "2025-01-16T11:15:00.000Z"]


def test_us_month_first_with_two_digit_years(exports):
    c = chat(style=US_ANDROID)
    c.say(ANA, "hey")
    c.say(SAM, "hey")
    assert c.text().startswith("1/16/25, 9:05 PM - ")
    run(c.write_txt(exports))
    conv = only()
    assert conv.messages[0].timestamp == "2025-01-16T20:05:00.000Z"
    assert conv.extra["date_order"] == "M/D/Y"


def test_ambiguous_dates_assume_day_first_and_say_so(exports):
    c = chat(start=datetime(2025, 3, 4, 10, 0))  # written 04/03/2025: 4 March or 3 April?
    c.say(ANA, "morning")
    c.say(SAM, "morning")
    run(c.write_txt(exports))
    conv = only()
    assert conv.messages[0].timestamp == "2025-03-04T09:00:00.000Z"
    assert conv.extra["date_order"] == "assumed D/M/Y"


def test_ambiguous_dates_in_a_us_time_zone_assume_month_first(exports):
    c = chat(style=US_ANDROID, start=datetime(2025, 3, 4, 10, 0))  # written 3/4/25
    c.say(ANA, "morning")
    c.say(SAM, "morning")
    run(c.write_txt(exports), zone=ZoneInfo("America/New_York"))
    conv = only()
    assert conv.messages[0].timestamp == "2025-03-04T15:00:00.000Z"
    assert conv.extra["date_order"] == "assumed M/D/Y (US time zone)"


def test_ambiguous_chat_takes_the_date_order_of_another_chat_from_the_same_phone(exports):
    unclear = chat(ANA, start=datetime(2025, 3, 4, 10, 0))  # read first, decided only by the next one
    unclear.say(ANA, "morning")
    unclear.say(SAM, "morning")
    clear = chat(RUI)
    clear.say(RUI, "climbing?")
    clear.say(SAM, "yes")
    unclear.write_txt(exports)
    clear.write_txt(exports)
    run(exports, zone=ZoneInfo("America/New_York"))  # a US zone alone would have said 3 April
    conv = by_title(ANA)
    assert conv.messages[0].timestamp == "2025-03-04T15:00:00.000Z"
    assert conv.extra["date_order"] == "D/M/Y (from another chat of this export)"
    assert by_title(RUI).extra["date_order"] == "D/M/Y"


def test_two_digit_year_first_is_read_as_year_when_the_days_tell(exports):
    yy_mm_dd = Style(order="YMD", year_digits=2)  # "25/01/30": a first field over 12, like a day
    c = chat(style=yy_mm_dd, start=datetime(2025, 1, 30, 10, 0))
    c.say(ANA, "end of the month")
    c.say(SAM, "new month", at=datetime(2025, 2, 2, 10, 0))  # the last field goes down: it is a day
    assert c.text().startswith("25/01/30, 10:00 - ")
    run(c.write_txt(exports))
    conv = only()
    assert [m.timestamp for m in conv.messages] == ["2025-01-30T09:00:00.000Z", "2025-02-02T09:00:00.000Z"]
    assert conv.extra["date_order"] == "Y/M/D (two-digit year first: the last field goes down like a day)"


def test_a_file_that_could_be_yy_mm_dd_says_so(exports):
    c = chat(style=Style(year_digits=2))  # "16/01/25" on one day: 16 Jan 2025, or 25 Jan 2016?
    c.say(ANA, "hi")
    c.say(SAM, "hi")
    run(c.write_txt(exports))
    conv = only()
    assert conv.messages[0].timestamp == "2025-01-16T20:05:00.000Z"
    assert conv.extra["date_order"] == "D/M/Y (could also be YY/MM/DD: the dates cannot tell)"


@pytest.mark.parametrize("style", [ANDROID, IOS], ids=["android", "iphone"])
def test_the_hour_repeated_when_clocks_go_back_does_not_run_backwards(exports, style):
    c = chat(style=style)  # Berlin goes from 03:00 CEST back to 02:00 CET on 27 October 2024
    c.say(ANA, "still out?", at=datetime(2024, 10, 27, 2, 50))
    c.say(SAM, "on the last train", at=datetime(2024, 10, 27, 2, 10))  # the clock went back
    c.say(ANA, "text me when home", at=datetime(2024, 10, 27, 2, 30))
    c.say(SAM, "home", at=datetime(2024, 10, 27, 3, 5))
    run(c.write_txt(exports, "chat.txt"))
    assert [m.timestamp for m in only().messages] == [
        "2024-10-27T00:50:00.000Z", "2024-10-27T01:10:00.000Z", "2024-10-27T01:30:00.000Z", "2024-10-27T02:05:00.000Z"]


LOCALE_STYLES = {
    "german dots, 2-digit year": GERMAN,
    "spanish p. m. with nbsp": SPANISH,
    "finnish klo and dotted time": FINNISH,
    "hungarian 16. 1. 2025.": HUNGARIAN,
    "year first with dashes": YEAR_FIRST,
    "us iphone": US_IOS,
    "lowercase am/pm": replace(ANDROID, clock=12, am_pm=("am", "pm"), pad_hour=False),
    "a.m./p.m.": replace(ANDROID, clock=12, am_pm=("a.m.", "p.m.")),
    "dash separator": replace(ANDROID, date_sep="-", year_digits=2),
    "iphone dotted time": replace(IOS, clock=24, time_sep="."),
    "iphone 12 h without space": replace(IOS, am_pm_space=""),
    "iphone thin space": replace(IOS, am_pm_space="\u2009"),
}


@pytest.mark.parametrize("style", LOCALE_STYLES.values(), ids=LOCALE_STYLES.keys())
def test_every_locale_header_style(exports, style):
    c = chat(style=style)
    c.say(ANA, "olá")
    c.say(SAM, "hi: there")
    run(c.write_txt(exports, "chat.txt"))
    conv = only()
    assert texts(conv) == [(ANA, False, "olá"), (SAM, True, "hi: there")]
    expected = "2025-01-16T20:05:09.000Z" if style.ios else "2025-01-16T20:05:00.000Z"
    assert conv.messages[0].timestamp == expected


# --------------------------------------------------------------------------- bodies and names


def test_multiline_messages_keep_their_lines_and_date_like_continuations(exports):
    c = chat()
    body = ("plan:\n2016-04-29 10:30:00 deploy\n[16/01/2025, 21:00] in brackets\n"
            "16/01/2025 was the date\n\nend")
    c.say(SAM, body)
    c.say(ANA, "ok")
    c.raw("31/02/2025, 10:00 - Ana Lopes: an impossible date is text too")
    run(c.write_txt(exports))
    assert texts(only()) == [
        (SAM, True, body),
        (ANA, False, "ok\n31/02/2025, 10:00 - Ana Lopes: an impossible date is text too"),
    ]


def test_bom_crlf_and_direction_marks_are_not_text(exports):
    number = "+351 910 555 177"
    c = chat(number)
    c.say(f"\u202a{number}\u202c", "olá")
    c.say(SAM, "hi there", lead="\u200e")
    path = c.write_txt(exports, bom=True, newline="\r\n")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in path.read_bytes()
    run(path)
    conv = only()
    assert texts(conv) == [(number, False, "olá"), (SAM, True, "hi there")]
    assert conv.title == number
    assert conv.id.startswith("whatsapp:phone-") and "910" not in conv.id


def test_tilde_non_contacts_are_the_same_speaker_as_the_saved_name(exports):
    c = chat("Bloc")
    c.say(f"~{NNBSP}{RUI}", "who's in saturday?")
    c.say(f"~ {ANA}", "in")
    c.say(RUI, "nice")
    c.say(SAM, "in.")
    run(c.write_txt(exports))
    conv = only()
    assert conv.participants == [RUI, ANA, SAM]
    assert [m.speaker for m in conv.messages] == [RUI, ANA, RUI, SAM]
    assert conv.is_group


def test_names_containing_colon_space(exports):
    c = chat("Bloc")
    c.say("Dr: Who", "hello")
    c.say("Dr: Who", "note: bring rope")
    c.say(ANA, "Re: saturday")
    c.say(SAM, "ok")
    run(c.write_txt(exports))
    assert texts(only()) == [
        ("Dr: Who", False, "hello"), ("Dr: Who", False, "note: bring rope"),
        (ANA, False, "Re: saturday"), (SAM, True, "ok"),
    ]


def test_a_members_only_message_with_an_event_word_is_a_message(exports):
    c = chat("Bloc")
    c.say(RUI, "I added the route to the doc")  # each the speaker's only line: no count to go by
    c.say("Tomás Ferreira", "ok I left")
    c.say(SAM, "thanks")
    run(c.write_txt(exports))
    conv = only()
    assert texts(conv) == [(RUI, False, "I added the route to the doc"), ("Tomás Ferreira", False, "ok I left"),
                           (SAM, True, "thanks")]
    assert conv.skipped == {}


# --------------------------------------------------------------------------------- markers


@pytest.mark.parametrize("style", [ANDROID, IOS], ids=["android", "iphone"])
def test_media_deleted_and_other_markers_are_left_out_and_counted(exports, style):
    c = chat(style=style)
    c.media(ANA)
    c.attachment(ANA, "IMG-20250116-WA0001.jpg" if not style.ios else "00000042-PHOTO-2025-01-16-21-07-09.jpg")
    c.deleted(ANA)
    c.deleted(SAM, mine=True)
    c.view_once(ANA)
    c.missed_call(ANA)
    c.location(SAM)
    c.forwarded(SAM, "chain letter, send to 10 friends")
    c.poll(ANA, "when?", ["sat", "sun"])
    c.say(SAM, "kept")
    run(c.write_txt(exports, "chat.txt"))
    conv = only()
    assert texts(conv) == [(SAM, True, "kept")]
    assert conv.skipped == {
        "media placeholder": 2, "deleted message": 2, "view-once message": 1, "call": 1,
        "shared location": 1, "forwarded": 1, "poll": 1,
    }


@pytest.mark.parametrize("style", [ANDROID, IOS, GERMAN, SPANISH, PORTUGUESE], ids=["en", "ios", "de", "es", "pt"])
def test_edited_marker_is_stripped_and_the_text_kept(exports, style):
    c = chat(style=style)
    c.say(ANA, "8?")
    c.say(SAM, "see you at 8", edited=True)
    assert ">" in c.text().splitlines()[-1]
    run(c.write_txt(exports, "chat.txt"))
    conv = only()
    assert texts(conv) == [(ANA, False, "8?"), (SAM, True, "see you at 8")]
    assert conv.messages[1].extra == {"edited": True}
    assert "edited" not in conv.messages[0].extra


@pytest.mark.parametrize("style", [ANDROID, IOS], ids=["android", "iphone"])
def test_caption_of_an_attachment_is_kept(exports, style):
    c = chat(style=style)
    c.attachment(SAM, "IMG-20250116-WA0002.jpg", caption="the view from the top")
    c.say(ANA, "wow")
    run(c.write_txt(exports, "chat.txt"))
    assert texts(only()) == [(SAM, True, "the view from the top"), (ANA, False, "wow")]


LOCALIZED = {"de": GERMAN, "es": SPANISH, "pt": PORTUGUESE, "de-iphone": replace(IOS, lang="de"),
             "es-iphone": replace(IOS, lang="es"), "pt-iphone": replace(IOS, lang="pt")}


@pytest.mark.parametrize("style", LOCALIZED.values(), ids=LOCALIZED.keys())
def test_localized_system_lines_and_markers(exports, style):
    c = chat("Bloc", style=style)
    c.encryption_notice()
    c.system("you_created", group="Bloc")
    c.system("added", who=ANA, whom=RUI)
    c.system("subject", who=ANA, old="plans: summer", new="Bloc")
    c.system("joined", who=RUI)
    c.system("left", who=RUI)
    c.media(ANA)
    c.deleted(ANA)
    c.missed_call(ANA)
    c.location(ANA)
    c.forwarded(ANA, "olha isto")
    c.say(ANA, "sábado?")
    c.say(SAM, "sim")
    run(c.write_txt(exports, "chat.txt"))
    conv = only()
    assert texts(conv) == [(ANA, False, "sábado?"), (SAM, True, "sim")]
    assert conv.skipped == {"system line": 6, "media placeholder": 1, "deleted message": 1, "call": 1,
                            "shared location": 1, "forwarded": 1}
    assert conv.is_group  # two speakers, but the system lines say it is a group
    assert conv.participants == [ANA, SAM]


# ------------------------------------------------------------------------ detection, layouts


def test_a_txt_is_claimed_by_its_first_lines_not_its_name(exports, tmp_path):
    c = chat()
    c.say(ANA, "hi")
    c.say(SAM, "hi")
    run(c.write_txt(exports, "notes.txt"))
    assert only().title == "notes"
    impostor = tmp_path / "WhatsApp Chat with Ana Lopes.txt"
    impostor.write_text("shopping list\n- milk\n- eggs\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a chat export notme recognises"):
        run(impostor)


@pytest.mark.parametrize("file_name", [
    "Conversa do WhatsApp com Ana Lopes.txt", "与Ana Lopes的 WhatsApp 聊天.txt", "WhatsApp Chat mit Ana Lopes.txt",
    "Chat de WhatsApp con Ana Lopes.txt", "WhatsApp Chat with Ana Lopes (1).txt",
])
def test_localized_file_names_give_the_chat_name(exports, file_name):
    c = chat()
    c.say(ANA, "hi")
    c.say(SAM, "hi")
    run(c.write_txt(exports, file_name))
    conv = only()
    assert (conv.id, conv.title) == ("whatsapp:ana lopes", ANA)


def test_folder_of_several_exports_with_zips_and_media(exports):
    ios = chat(ANA, style=IOS)
    ios.attachment(ANA, "00000042-PHOTO-2025-01-16-21-05-09.jpg")
    ios.say(SAM, "nice photo")
    ios.write_zip(exports, media={"00000042-PHOTO-2025-01-16-21-05-09.jpg": b"\xff\xd8jpeg"})
    android = chat(RUI)
    android.attachment(RUI, "IMG-20250116-WA0001.jpg")
    android.say(SAM, "send the other one")
    android.write_txt(exports)
    (exports / "IMG-20250116-WA0001.jpg").write_bytes(b"\xff\xd8jpeg")
    (exports / "readme.md").write_text("my exports\n", encoding="utf-8")
    report = run(exports)
    assert [i.source for i in report.inputs] == ["whatsapp"]
    assert report.inputs[0].conversations == {"added": 2}
    assert report.ignored == [str(exports / "readme.md")]
    assert texts(by_title(ANA)) == [(SAM, True, "nice photo")]
    assert texts(by_title(RUI)) == [(SAM, True, "send the other one")]


def test_unpacked_iphone_folder_takes_the_folder_name(exports):
    c = chat(style=IOS)
    c.say(ANA, "hi")
    c.say(SAM, "hi")
    chat_file = write_chat(exports / "WhatsApp Chat - Ana Lopes" / "_chat.txt", c.lines, IOS, ANA)
    run(exports)
    assert (only().id, only().title) == ("whatsapp:ana lopes", ANA)
    report = run(chat_file)  # the file alone: its folder names it too
    assert report.inputs[0].conversations == {"unchanged": 1}


@pytest.mark.parametrize("given", [".", "_chat.txt"])
def test_a_relative_path_or_dot_takes_the_real_folder_name(exports, monkeypatch, given):
    c = chat(style=IOS)
    c.say(ANA, "hi")
    c.say(SAM, "hi")
    folder = exports / "WhatsApp Chat - Ana Lopes"
    write_chat(folder / "_chat.txt", c.lines, IOS, ANA)
    monkeypatch.chdir(folder)
    run(Path(given))
    assert (only().id, only().title) == ("whatsapp:ana lopes", ANA)


def test_a_file_whose_name_gives_no_chat_name_takes_it_from_the_first_iphone_system_line(exports):
    c = chat(style=IOS)
    c.encryption_notice()  # written under the chat's name: "[…] Ana Lopes: \u200eMessages and calls…"
    c.say(SAM, "hi")
    c.say(RUI, "hello")
    run(c.write_txt(exports, "(1).txt"))
    assert (only().id, only().title) == ("whatsapp:ana lopes", ANA)


def test_a_chat_with_no_name_anywhere_is_an_error_not_an_empty_id(exports):
    c = chat()  # Android: no system line carries the chat's name
    c.say(ANA, "hi")
    c.say(SAM, "hi")
    target = c.write_zip(exports, "(2).zip")  # the copy suffix is all the zip's name holds
    before = corpus_bytes()
    with pytest.raises(InputError, match="cannot tell which chat this is: keep the export's file name"):
        run(target)
    assert corpus_bytes() == before


def test_source_forcing_reads_any_file_name_and_rejects_other_text(exports, tmp_path):
    c = chat()
    c.say(ANA, "hi")
    c.say(SAM, "hello")
    path = c.write_txt(exports, "chat.log")
    with pytest.raises(InputError, match="not a chat export"):
        run(path)
    run(path, source="whatsapp")
    assert texts(only()) == [(ANA, False, "hi"), (SAM, True, "hello")]
    other = tmp_path / "notes.txt"
    other.write_text("nothing\nhere\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        run(other, source="whatsapp")
    assert str(other) in str(caught.value) and "line 1" in str(caught.value)


def test_text_before_the_first_message_is_counted(exports):
    c = chat()
    c.raw("Chat exported by a backup tool")
    c.say(ANA, "hi")
    c.say(SAM, "hi")
    run(c.write_txt(exports))
    assert only().skipped == {"text before the first message": 1}


# -------------------------------------------------------------------------------- bad input


def test_truncated_zip_names_the_file_and_changes_nothing(exports, tmp_path):
    good = chat(RUI)
    good.say(SAM, "already stored")
    run(good.write_txt(tmp_path / "good"))
    before = corpus_bytes()
    c = chat(style=IOS)
    for line in synthetic_messages(300, [ANA, SAM], T0):
        c.lines.append(line)
    target = c.write_zip(exports)
    data = target.read_bytes()
    target.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError) as caught:
        run(target)
    assert str(target) in str(caught.value)
    assert corpus_bytes() == before


def test_corrupt_data_inside_the_zip_names_the_entry_and_line(exports, tmp_path):
    good = chat(RUI)
    good.say(SAM, "already stored")
    run(good.write_txt(tmp_path / "good"))
    before = corpus_bytes()
    c = chat(style=IOS)
    for line in synthetic_messages(3000, [ANA, SAM], T0):
        c.lines.append(line)
    target = c.write_zip(exports)
    data = bytearray(target.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0x5A for b in data[middle:middle + 64])
    target.write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        run(target)
    message = str(caught.value)
    assert f"{target}:_chat.txt: line " in message and "cannot be read" in message
    assert corpus_bytes() == before


def test_line_that_is_not_utf8_is_skipped_and_counted_or_fatal_with_strict(exports):
    c = chat()
    c.say(ANA, "first")
    c.say(SAM, "second")
    c.say(ANA, "broken")
    c.say(SAM, "fourth")
    path = c.write_txt(exports)
    path.write_bytes(path.read_bytes().replace(b"broken", b"bro\xffken"))
    with pytest.raises(InputError) as caught:
        run(path, strict=True)
    assert str(path) in str(caught.value) and "line 3" in str(caught.value)
    report = run(path)
    assert [t for _, _, t in texts(only())] == ["first", "second", "fourth"]
    assert report.inputs[0].dropped == {"malformed: line is not UTF-8 text": 1}


# ------------------------------------------------------------------------- re-ingest, updates


def test_reingest_adds_nothing(exports):
    c = chat()
    c.say(ANA, "hi")
    c.say(SAM, "hi")
    c.say(SAM, "hi")  # the same line twice in one minute: two messages
    path = c.write_txt(exports)
    run(path)
    before = corpus_bytes()
    report = run(path)
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert corpus_bytes().split(b"\0")[0] == before.split(b"\0")[0]
    assert len(only().messages) == 3


def test_updated_export_that_dropped_the_oldest_messages_loses_nothing(exports, tmp_path):
    lines = list(synthetic_messages(45, [ANA, SAM], T0))
    first, later = chat(), chat()
    first.lines.extend(lines[:30])
    later.lines.extend(lines[10:])  # WhatsApp's cap dropped the oldest ten
    run(first.write_txt(tmp_path / "january"))
    report = run(later.write_txt(tmp_path / "march"))
    assert report.inputs[0].conversations == {"updated": 1}
    assert [m.text for m in only().messages] == [line.text for line in lines]
    report = run(first.write_txt(tmp_path / "january"))
    assert report.inputs[0].conversations == {"unchanged": 1}


def test_the_same_export_in_another_time_zone_adds_no_message(exports):
    c = chat()
    c.say(ANA, "boarding")
    c.say(SAM, "safe flight")
    c.say(SAM, "safe flight")  # a repeat in the same minute stays two messages
    path = c.write_txt(exports)
    run(path, zone=ZoneInfo("Europe/Berlin"))
    ids = [m.id for m in only().messages]
    report = run(path, zone=ZoneInfo("Europe/Lisbon"))  # the laptop travelled
    # The times are read again in the new zone (so the stored record changes), the messages are the same.
    assert report.inputs[0].conversations == {"updated": 1}
    assert [m.id for m in only().messages] == ids and len(set(ids)) == 3
    assert only().messages[0].timestamp == "2025-01-16T21:05:00.000Z"  # Lisbon is UTC in January


def test_a_contact_renamed_between_two_exports_adds_no_message(exports, tmp_path):
    before, after = chat("Bloc"), chat("Bloc")
    for c, ana in ((before, ANA), (after, "Ana L.")):  # saved under another name on the phone since
        c.say(ana, "who's in saturday?")
        c.say(SAM, "in")
        c.say(RUI, "in")
    after.say(SAM, "10h then")
    run(before.write_txt(tmp_path / "january"))
    report = run(after.write_txt(tmp_path / "march"))
    assert report.inputs[0].conversations == {"updated": 1}
    assert [m.text for m in only().messages] == ["who's in saturday?", "in", "in", "10h then"]


def test_chats_past_the_memory_budget_are_read_again_with_the_same_result(exports, monkeypatch):
    for name in (ANA, RUI):
        c = chat(name)
        c.say(name, "hi")
        c.say(SAM, f"hi {name}")
        c.write_txt(exports)

    class Bar:
        total = done = 0

        def start(self, description, total):
            self.total = total

        def advance(self, amount):
            self.done += amount

        def finish(self):
            pass

    run(exports, corpus_name="kept", me=[])
    monkeypatch.setattr("notme.ingest.sources.whatsapp._KEEP_BYTES", 0)
    bar = Bar()
    run(exports, corpus_name="read-again", me=[], progress=bar)
    assert [c.to_dict() for c in stored("read-again")] == [c.to_dict() for c in stored("kept")]
    assert bar.done == bar.total > 0  # the second read is not counted twice


def test_long_export_is_read_whole(exports):
    path = write_chat(exports / "WhatsApp Chat with Ana Lopes.txt",
                      synthetic_messages(20_000, [ANA, SAM], T0, seed=7), ANDROID, ANA)
    report = run(path)
    conv = only()
    assert report.inputs[0].messages == len(conv.messages) == 20_000
    assert conv.messages[9].text.count("\n") == 1 and conv.messages[-1].text.endswith(" 19999")


# ------------------------------------------------------------------------------------- owner


def test_owner_is_inferred_as_the_other_speaker_of_the_chats_named_after_their_contact(exports):
    with_ana = chat(ANA, style=IOS)
    with_ana.say(ANA, "hi")
    with_ana.say(SAM, "hi ana")
    with_ana.write_zip(exports)
    with_rui = chat(RUI)
    with_rui.say(RUI, "climbing?")
    with_rui.say(SAM, "yes")
    with_rui.write_txt(exports)
    group = chat("Bloc")
    group.say(ANA, "in")
    group.say(RUI, "in")
    group.say("Tomás Ferreira", "in")
    group.write_txt(exports)
    report = run(exports, me=[])
    assert report.inputs[0].owner_basis == "inferred: the other speaker of a chat named after its contact"
    assert report.owner == [SAM]
    assert texts(by_title(ANA)) == [(ANA, False, "hi"), (SAM, True, "hi ana")]
    assert [m.is_me for m in by_title("Bloc").messages] == [False, False, False]


def test_a_two_person_group_does_not_make_a_contact_the_owner(exports):
    with_ana = chat("Ana")
    with_ana.say("Ana", "hi")
    with_ana.say("Sam", "yo")
    with_ana.write_txt(exports)
    climbing = chat("Climbing")  # a group whose event lines are gone: two speakers, like a 1:1 chat
    climbing.say("Ana", "saturday?")
    climbing.say("Rui", "in")
    climbing.write_txt(exports)
    report = run(exports, me=[])
    assert report.owner == ["Sam"]
    assert [m.is_me for m in by_title("Climbing").messages] == [False, False]


def test_chat_names_and_you_deleted_this_message_that_disagree_decide_nothing(exports):
    with_ana = chat(ANA)
    with_ana.say(ANA, "hi")
    with_ana.say(SAM, "hi ana")
    with_ana.write_txt(exports)
    other = chat("Bloc")
    other.deleted(RUI, mine=True)  # "You deleted this message" under another name: something is off
    other.say(RUI, "in")
    other.write_txt(exports)
    with pytest.raises(InputError, match="cannot tell which participant is you; pass --me"):
        run(exports, me=[])


def test_owner_is_inferred_from_you_deleted_this_message(exports):
    c = chat()
    c.say(ANA, "hi")
    c.deleted(SAM, mine=True)
    c.say(SAM, "wrong chat, sorry")
    report = run(c.write_txt(exports, "export.txt"), me=[])  # renamed: no chat is named after its contact
    assert report.inputs[0].owner_basis == "inferred: the author of 'You deleted this message'"
    assert texts(only()) == [(ANA, False, "hi"), (SAM, True, "wrong chat, sorry")]


def test_one_chat_named_after_its_contact_makes_the_other_speaker_the_owner(exports):
    c = chat()
    c.say(ANA, "dinner?")
    c.say(SAM, "yes. 8")
    report = run(c.write_txt(exports), me=[])
    assert [(m.speaker, m.is_me) for m in only().messages] == [(ANA, False), (SAM, True)]
    assert report.inputs[0].owner_basis == "inferred: the other speaker of a chat named after its contact"
    assert report.owner == [SAM]


def test_missing_owner_gives_the_clear_error_and_changes_nothing(exports):
    c = chat()
    c.say(ANA, "hi")
    c.say(SAM, "hi")
    before = corpus_bytes()
    with pytest.raises(InputError, match="cannot tell which participant is you; pass --me"):
        run(c.write_txt(exports, file_name="export.txt"), me=[])  # renamed: the contact's name is gone
    assert corpus_bytes() == before


def test_wrong_owner_name_gives_the_clear_error(exports):
    c = chat()
    c.say(ANA, "hi")
    c.say(SAM, "hi")
    with pytest.raises(InputError, match=r"none of the owner's names \('Samuel'\) speaks in this export"):
        run(c.write_txt(exports), me=["Samuel"])


# ------------------------------------------------------------------------------------ sample


def test_write_sample_renders_contacts_and_groups_with_quirks(exports):
    def sessions(who: str) -> list:
        return [[{"them": f"{who} 1"}, {"me": "me 1"}, {"me": "me 2"}, {"them": f"{who} 2"}] for _ in range(3)]

    contacts = [{"name": ANA, "sessions": sessions("ana")}, {"name": RUI, "sessions": sessions("rui")}]
    groups = [{"name": "Bloc", "members": [ANA, RUI],
               "sessions": [[{ANA: "in?"}, {"me": "in"}, {RUI: "in"}], [{RUI: "sat?"}, {"me": "yes"}]]}]
    owner = {"owner": SAM, "timezone": "Europe/Lisbon"}
    folder = write_sample(exports / "whatsapp", contacts, groups, owner)
    assert sorted(p.name for p in folder.iterdir()) == [
        "WhatsApp Chat - Ana Lopes.zip", "WhatsApp Chat with Bloc.txt", "WhatsApp Chat with Rui Costa.txt"]
    with zipfile.ZipFile(folder / "WhatsApp Chat - Ana Lopes.zip") as archive:
        assert f"{NNBSP}PM] Ana Lopes: \u200eMessages and calls" in archive.read("_chat.txt").decode()
    report = run(folder, zone=ZoneInfo("Europe/Lisbon"))
    assert report.inputs[0].conversations == {"added": 3}
    assert report.inputs[0].scrubbed == {"api_key": 1}
    ana = by_title(ANA)
    assert [(m.speaker, m.is_me, m.text) for m in ana.messages if "<api-key>" in m.text] == [
        (SAM, True, "the wifi box wants an api key, use <api-key>")]
    assert ana.skipped == {"system line": 2, "media placeholder": 1, "deleted message": 1}
    assert [m.text for m in ana.messages if m.extra.get("edited")] == ["me 1"]
    assert "list for the weekend:\n- chalk\n- tape\n\n- the good snacks" in [m.text for m in ana.messages]
    assert ana.messages[0].timestamp == "2025-01-06T19:00:00.000Z"
    rui = by_title(RUI)
    assert rui.skipped == {"system line": 1, "media placeholder": 1, "deleted message": 1}
    bloc = by_title("Bloc")
    assert bloc.is_group and bloc.skipped == {"system line": 4, "media placeholder": 1}
    assert sum(m.is_me for m in bloc.messages) == 3
    assert [m.timestamp for m in bloc.messages[:2]] == ["2025-01-06T22:00:00.000Z", "2025-01-06T22:02:00.000Z"]
