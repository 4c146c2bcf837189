"""Gemini through Google Takeout (My Activity → Gemini Apps): every trap, on exports written by
notme.samples.gemini."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from notme.corpus.text import short_title
from notme.errors import InputError
from notme.ingest.inputs import InputTree
from notme.ingest.pipeline import ingest
from notme.ingest.sources.gemini import Gemini, html_to_text
from notme.samples.gemini import FOLDER, GeminiActivity, write_sample, write_takeout
from tests.conftest import corpus_bytes, only, stored

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def activity(step_seconds: float = 120) -> GeminiActivity:
    return GeminiActivity(START, step_seconds=step_seconds)


def texts(conv) -> list[tuple[bool, str, str]]:
    return [(m.is_me, m.speaker, m.text) for m in conv.messages]



def test_prompt_and_answer_become_a_conversation_in_time_order(exports):
    a = activity()
    a.prompt("What's a crimp?", "A small edge you hold with **bent** fingers.")
    a.prompt("And a sloper?", "A rounded hold with no edge.")
    path = write_takeout(exports, a)
    assert json.loads((path / FOLDER / "My Activity.json").read_text())[0]["title"] == "Prompted And a sloper?"
    report = ingest([path])
    conv = only()
    assert conv.id == "gemini:2025-03-01T09:00:00.000Z" and conv.source == "gemini" and conv.kind == "assistant"
    assert conv.title == "What's a crimp?"
    assert texts(conv) == [
        (True, "me", "What's a crimp?"), (False, "Gemini", "A small edge you hold with bent fingers."),
        (True, "me", "And a sloper?"), (False, "Gemini", "A rounded hold with no edge."),
    ]
    assert [m.timestamp for m in conv.messages] == ["2025-03-01T09:00:00.000Z"] * 2 + ["2025-03-01T09:02:00.000Z"] * 2
    assert report.inputs[0].owner_basis == "the prompts (Prompted …)"


def test_a_pause_over_thirty_minutes_starts_a_new_conversation(exports):
    a = activity()
    a.prompt("one", "1")
    a.wait(27)  # 29 minutes after "one": same conversation
    a.prompt("two", "2")
    a.wait(29)  # 31 minutes after "two": a new one
    a.prompt("three", "3")
    ingest([write_takeout(exports, a)])
    convs = sorted(stored(), key=lambda c: c.id)
    assert [(c.id, [m.text for m in c.messages if m.is_me]) for c in convs] == [
        ("gemini:2025-03-01T09:00:00.000Z", ["one", "two"]),
        ("gemini:2025-03-01T10:00:00.000Z", ["three"]),
    ]


@pytest.mark.parametrize(("prefix", "why"), [
    ("Prompted ", "current"), ("Live Prompt ", "Gemini Live"), ("Asked ", "older exports"),
    ("Prompt : ", "French"), ("Prompt\u00a0: ", "French with a no-break space"), ("Prompt: ", "other locales"),
])
def test_prompt_prefixes_are_stripped(exports, prefix, why):
    a = activity()
    a.prompt("Quelle heure est-il ?", "Il est midi.", prefix=prefix)
    ingest([write_takeout(exports, a)])
    assert only().messages[0].text == "Quelle heure est-il ?", why


def test_entries_that_are_not_prompts_are_left_out_and_counted(exports):
    a = activity()
    a.prompt("Draft an email to my landlord.", "Dear landlord, …", drafts=["Hi there, …"])
    a.activity("Selected preferred draft")
    a.activity('Created Canvas "Landlord email"')
    a.activity("Used Coding partner")
    a.activity("Gave feedback: Good response")
    a.activity("Searched the web")  # a kind of entry nobody has documented
    a.prompt("Shorter.", "Dear landlord, the boiler is broken.")
    ingest([write_takeout(exports, a)])
    conv = only()
    assert [m.text for m in conv.messages] == ["Draft an email to my landlord.", "Dear landlord, …", "Shorter.",
                                               "Dear landlord, the boiler is broken."]
    assert conv.messages[1].extra["alternatives"] == ["Hi there, …"]
    assert conv.skipped == {"activity, not a prompt": 4, "unrecognised activity": 1}


def test_prompt_with_only_an_image_and_prompt_without_answer(exports):
    a = activity()
    a.prompt("", "That is a heel hook.", image_file="image_89b1bd-photo.png",
             subtitles=[{"name": "Attached 1 file."}])
    a.prompt("Is it safe?", None)  # no safeHtmlItem at all
    a.prompt("", None)
    report = ingest([write_takeout(exports, a)])
    conv = only()
    assert texts(conv) == [(False, "Gemini", "That is a heel hook."), (True, "me", "Is it safe?")]
    assert conv.skipped == {"attachment only": 1, "empty": 1}
    assert report.ignored == [str(exports / "Takeout/My Activity/Search/My Activity.json")]


def test_answer_html_becomes_readable_text():
    markup = ('<p>Use a <b>composite</b> index:</p><pre><code class="language-sql">CREATE INDEX i\n'
              '  ON orders (user_id, created_at DESC);</code></pre><ol><li>create it</li><li>drop the old one'
              '<ul><li>concurrently</li></ul></li></ol><p>A &amp; B &lt;3 <code>x</code><br>next line</p>'
              '<script>track()</script><table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>')
    assert html_to_text(markup) == (
        "Use a composite index:\n\n```sql\nCREATE INDEX i\n  ON orders (user_id, created_at DESC);\n```\n\n"
        "1. create it\n2. drop the old one\n  - concurrently\n\nA & B <3 `x`\nnext line\n\na | b\n1 | 2"
    )


@pytest.mark.parametrize("layout", ["takeout folder", "zip", "the json file", "MyActivity.json"])
def test_every_layout_is_detected_and_takeout_extras_are_claimed(exports, layout):
    a = activity()
    a.prompt("hello", "hi", image_file="image_0001.png")
    target = write_takeout(exports, a, zip_name="takeout-001.zip" if layout == "zip" else None,
                           file_name="MyActivity.json" if layout == "MyActivity.json" else "My Activity.json")
    if layout == "the json file":
        target = exports / FOLDER / "My Activity.json"
    report = ingest([target])
    assert [i.source for i in report.inputs] == ["gemini"]
    assert texts(only()) == [(True, "me", "hello"), (False, "Gemini", "hi")]
    # The image and the archive browser page belong to this export; Search activity does not.
    expected = [] if layout == "the json file" else ["Takeout/My Activity/Search/My Activity.json"]
    assert [re.sub(r"^.*?(?=Takeout/)", "", i) for i in report.ignored] == expected


def test_only_gemini_activity_is_claimed(exports):
    a = activity()
    a.prompt("hello", "hi")
    write_takeout(exports, a)
    (exports / "My Activity.json").write_text(json.dumps([{"header": "YouTube", "title": "Watched a video",
                                                           "time": "2025-01-01T00:00:00.000Z"}]))
    tree = InputTree(exports)
    assert Gemini().claims(tree, tree.names) == [f"{FOLDER}/My Activity.json", "Takeout/archive_browser.html"]


def test_html_only_takeout_says_how_to_get_json(exports):
    a = activity()
    a.prompt("hello", "hi")
    with pytest.raises(InputError, match="pick JSON"):
        ingest([write_takeout(exports, a, html_only=True)])


def test_reingest_adds_nothing_and_a_later_export_extends_and_adds(exports, tmp_path):
    a = activity()
    a.prompt("one", "1")
    ingest([write_takeout(tmp_path / "first", a)])
    before = corpus_bytes()
    report = ingest([write_takeout(tmp_path / "again", a)])
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert corpus_bytes().split(b"\0")[0] == before.split(b"\0")[0]

    a.prompt("two", "2")  # two minutes later: the same conversation goes on
    a.wait(120)
    a.prompt("a new day", "ok")
    report = ingest([write_takeout(exports, a)])
    assert report.inputs[0].conversations == {"updated": 1, "added": 1}
    first = next(c for c in stored() if c.id == "gemini:2025-03-01T09:00:00.000Z")
    assert [m.text for m in first.messages] == ["one", "1", "two", "2"]


def test_truncated_file_names_the_file_and_place_and_changes_nothing(exports, tmp_path):
    a = activity()
    a.prompt("stored before", "ok")
    ingest([write_takeout(tmp_path / "good", a)])
    before = corpus_bytes()
    b = activity()
    for i in range(4):
        b.prompt(f"prompt {i}", "answer " * 40)
    folder = write_takeout(exports, b)
    path = folder / FOLDER / "My Activity.json"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(InputError) as caught:
        ingest([folder])
    assert str(path) in str(caught.value)
    assert re.search(r"after entry [23]", str(caught.value))
    assert corpus_bytes() == before


def test_malformed_entries_are_counted_or_fatal_with_strict(exports):
    a = activity()
    a.prompt("kept", "yes")
    entries = [*a.newest_first(), "not an object",
               {"header": "Gemini Apps", "title": "Prompted no time"}]
    folder = write_takeout(exports, entries)
    with pytest.raises(InputError, match="entry 2"):
        ingest([folder], strict=True)
    report = ingest([folder])
    assert [m.text for m in only().messages] == ["kept", "yes"]
    assert report.inputs[0].dropped == {"malformed: entry is not an object": 1,
                                        "malformed: entry without a valid time": 1}


@pytest.mark.parametrize("answer", ["<p>not a list</p>", {"html": "<p>an object</p>"}, ["<p>a bare string</p>"],
                                    [{"html": None}]])
def test_malformed_answer_keeps_the_prompt(exports, answer):
    a = activity()
    a.prompt("kept, whatever the answer looks like", "")
    a.entries[-1]["safeHtmlItem"] = answer
    a.prompt("next", "fine")
    report = ingest([write_takeout(exports, a)])
    conv = only()
    assert texts(conv) == [(True, "me", "kept, whatever the answer looks like"), (True, "me", "next"),
                           (False, "Gemini", "fine")]
    assert conv.skipped == {"malformed answer": 1}
    assert report.inputs[0].dropped == {}


def test_title_is_the_first_prompt_shortened_like_every_source(exports):
    a = activity()
    prompt = "Plan a four-day trip through the Alentejo with a stop at every winery that takes walk-ins"
    a.prompt(prompt + "\nand a second line", "Day one: Évora.")
    ingest([write_takeout(exports, a)])
    assert only().title == short_title(prompt)
    assert only().title == "Plan a four-day trip through the Alentejo with a stop at every winery that…"


def test_write_sample_renders_chats_with_their_quirks(exports):
    chats = [{"title": f"chat {n}", "turns": [{"me": f"question {n}"}, {"ai": f"**answer** {n}"},
                                              {"me": f"follow-up {n}"}, {"ai": "done"}]} for n in range(7)]
    path = write_sample(exports, chats, {"owner": "Sam Rivera", "timezone": "Europe/Lisbon"})
    assert path.suffix == ".zip"
    report = ingest([path])
    convs = sorted(stored(), key=lambda c: c.id)
    assert len(convs) == 7
    assert convs[0].id == "gemini:2025-01-06T10:00:00.000Z"  # 10:00 in Lisbon, which is UTC in January
    assert texts(convs[0])[1:] == [(False, "Gemini", "answer 0"), (True, "me", "follow-up 0"),
                                   (False, "Gemini", "done")]
    assert convs[0].messages[0].text == "question 0\nthe key is <api-key>"
    assert convs[1].messages[1].extra["alternatives"] == ["answer 1\n\nWant me to go on?"]
    assert [c.skipped for c in convs] == [{}, {"activity, not a prompt": 1}, {}, {}, {}, {"activity, not a prompt": 1},
                                          {"activity, not a prompt": 1}]
    assert convs[3].messages[0].text == "question 3"  # a Live Prompt
    assert report.inputs[0].scrubbed == {"api_key": 1}
