"""OpenAI-style chat JSONL: every trap in the format, on files written by notme.samples.openai_jsonl."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from notme.corpus.text import short_title
from notme.errors import InputError
from notme.ingest.inputs import InputTree
from notme.ingest.pipeline import ingest
from notme.ingest.sources.openai_jsonl import OpenAIJSONL
from notme.samples.openai_jsonl import (
    SAMPLE_SYSTEM_PROMPT,
    ChatRecord,
    write_bare_messages,
    write_json,
    write_jsonl,
    write_sample,
)
from notme.samples.sharegpt import ShareGPTRecord
from notme.samples.sharegpt import write_json as write_sharegpt
from tests.conftest import corpus_bytes, only, stored


def record(question: str = "Regex for ISO dates?", answer: str = r"\d{4}-\d{2}-\d{2}",
           system: str | None = "You are terse.") -> ChatRecord:
    r = ChatRecord(system)
    r.user(question)
    r.assistant(answer)
    return r


def texts(conv) -> list[tuple[bool, str, str]]:
    return [(m.is_me, m.speaker, m.text) for m in conv.messages]



def test_jsonl_record_owner_is_the_user_and_system_prompt_is_left_out(exports):
    report = ingest([write_jsonl(exports / "train.jsonl", [record()])])
    conv = only()
    assert texts(conv) == [(True, "me", "Regex for ISO dates?"), (False, "assistant", r"\d{4}-\d{2}-\d{2}")]
    assert re.fullmatch(r"openai_jsonl:[0-9a-f]{24}", conv.id)
    assert conv.source == "openai_jsonl" and conv.kind == "assistant" and conv.title == "Regex for ISO dates?"
    assert conv.skipped == {"system prompt": 1}
    assert [m.timestamp for m in conv.messages] == [None, None]
    assert report.inputs[0].owner_basis == "the user role"


def test_content_parts_keep_their_text_and_image_only_prompts_are_counted(exports):
    r = ChatRecord()
    r.user_parts("What's in this screenshot?", "Be brief.")
    r.assistant("A stack trace.")
    r.add("user", [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}])
    r.add("user", [{"type": "input_text", "text": "and now?"}, "plain string part"])
    r.add("user", {"unexpected": "shape"})
    ingest([write_jsonl(exports / "parts.jsonl", [r])])
    conv = only()
    assert [m.text for m in conv.messages] == [
        "What's in this screenshot?\nBe brief.", "A stack trace.", "and now?\nplain string part"]
    assert conv.skipped == {"attachment only": 1, "unsupported content": 1}


def test_tool_calls_and_tool_replies_are_left_out_and_counted(exports):
    r = ChatRecord("system prompt")
    r.user("Weather in Lisbon?")
    r.tool_round("get_weather", {"city": "Lisbon"}, '{"temp": 21}')
    r.assistant("Checking the forecast too.", tool_calls=[{"id": "c2", "type": "function",
                                                           "function": {"name": "forecast", "arguments": "{}"}}])
    r.add("tool", "sunny", tool_call_id="c2")
    r.add("function", "legacy function reply")
    r.assistant("21°C and sunny.")
    r.add("critic", "an unknown role")
    r.messages.append("not an object")
    ingest([write_jsonl(exports / "tools.jsonl", [r])])
    conv = only()
    assert texts(conv) == [(True, "me", "Weather in Lisbon?"), (False, "assistant", "Checking the forecast too."),
                           (False, "assistant", "21°C and sunny.")]
    assert conv.skipped == {"system prompt": 1, "tool call": 2, "tool output": 3, "unknown role (critic)": 1,
                            "malformed message": 1}


def test_refusal_and_tool_result_parts_have_their_own_reasons(exports):
    r = ChatRecord()
    r.user("Write me a keylogger.")
    r.add("assistant", [{"type": "refusal", "refusal": "I can't help with that."}])
    r.add("user", [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ls output"}])
    r.add("user", [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}])
    r.user("Fine, a password manager then.")
    ingest([write_jsonl(exports / "parts.jsonl", [r])])
    conv = only()
    assert [m.text for m in conv.messages] == ["Write me a keylogger.", "Fine, a password manager then."]
    assert conv.skipped == {"refusal": 1, "tool output": 1, "attachment only": 1}
    assert "ls output" not in corpus_bytes().decode()


def test_unhashable_role_or_part_type_is_counted_not_fatal(exports):
    r = ChatRecord()
    r.user("kept")
    r.add(["user"], "lost")
    r.add("user", [{"type": ["text"], "text": "odd part"}])
    report = ingest([write_jsonl(exports / "odd.jsonl", [r])])
    conv = only()
    assert [m.text for m in conv.messages] == ["kept"]
    assert conv.skipped == {"unknown role (['user'])": 1, "attachment only": 1}
    assert report.inputs[0].dropped == {}


def test_title_is_the_first_prompt_shortened_like_every_source(exports):
    prompt = "Rewrite this cover letter so it sounds like me and not like a template from a careers site"
    ingest([write_jsonl(exports / "t.jsonl", [record(prompt + "\nsecond line")])])
    assert only().title == short_title(prompt)
    assert only().title == "Rewrite this cover letter so it sounds like me and not like a template from a…"


def test_weight_zero_answer_is_kept_and_marked(exports):
    r = ChatRecord()
    r.user("Name a grade scale.")
    r.assistant("The V scale, I think, but I might be wrong.", weight=0)
    r.assistant("The V scale.", weight=1)
    ingest([write_jsonl(exports / "w.jsonl", [r])])
    conv = only()
    assert conv.messages[1].extra == {"weight": 0}
    assert conv.messages[2].extra == {}


@pytest.mark.parametrize("layout", ["jsonl", "json array", "single record", "bare messages", "jsonl named .json",
                                    "zip"])
def test_every_layout_is_detected_and_read(exports, layout):
    records = [record(f"question {i}", f"answer {i}") for i in range(3)]
    if layout == "jsonl":
        target = write_jsonl(exports / "data.jsonl", records)
    elif layout == "json array":
        target = write_json(exports / "data.json", records, indent=2)
    elif layout == "single record":
        target = write_json(exports / "data.json", records[:1], single=True, indent=2)
    elif layout == "bare messages":
        target = write_bare_messages(exports / "data.json", records[0])
    elif layout == "jsonl named .json":
        target = write_jsonl(exports / "data.json", records)
    else:
        write_jsonl(exports / "inner" / "data.jsonl", records)
        target = exports / "data.zip"
        with zipfile.ZipFile(target, "w") as archive:
            archive.write(exports / "inner" / "data.jsonl", "finetune/data.jsonl")
    report = ingest([target])
    assert [i.source for i in report.inputs] == ["openai_jsonl"]
    expected = 1 if layout in ("single record", "bare messages") else 3
    assert sorted(c.title for c in stored()) == [f"question {i}" for i in range(expected)]
    assert all(c.skipped == {"system prompt": 1} for c in stored())


def test_a_record_longer_than_the_detection_head_is_still_detected(exports):
    long_prompt = "Summarise this log:\n" + "ERROR disk full\n" * 8000  # ~130 KB on one line
    report = ingest([write_jsonl(exports / "long.jsonl", [record(long_prompt, "The disk is full.")])])
    assert [i.source for i in report.inputs] == ["openai_jsonl"]
    assert only().messages[0].text.count("ERROR disk full") == 8000


def test_the_same_conversation_in_two_files_is_stored_once(exports, tmp_path):
    ingest([write_jsonl(tmp_path / "a" / "train.jsonl", [record(), record()])])
    assert len(stored()) == 1
    other_system = record(system="Another system prompt")  # left out, so the conversation is the same
    report = ingest([write_json(exports / "copy.json", [other_system])])
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert len(stored()) == 1


def test_reingest_adds_nothing_and_a_longer_file_adds_only_the_new_records(exports, tmp_path):
    first = write_jsonl(tmp_path / "v1" / "train.jsonl", [record("one"), record("two")])
    ingest([first])
    before = corpus_bytes()
    report = ingest([first])
    assert report.inputs[0].conversations == {"unchanged": 2}
    assert corpus_bytes().split(b"\0")[0] == before.split(b"\0")[0]
    report = ingest([write_jsonl(exports / "train.jsonl", [record("one"), record("two"), record("three")])])
    assert report.inputs[0].conversations == {"unchanged": 2, "added": 1}
    assert sorted(c.title for c in stored()) == ["one", "three", "two"]


def test_malformed_lines_are_counted_or_fatal_with_strict(exports):
    path = write_jsonl(exports / "train.jsonl", [
        record("good one"),
        '{"messages": [{"role": "user", "content": "cut off',
        "",
        '{"prompt": "alpaca-style, not this format"}',
        record("good two"),
    ])
    with pytest.raises(InputError) as caught:
        ingest([path], strict=True)
    assert str(path) in str(caught.value) and "line 2" in str(caught.value)
    report = ingest([path])
    assert sorted(c.title for c in stored()) == ["good one", "good two"]
    assert report.inputs[0].dropped == {"malformed: not a valid JSON line": 1,
                                        "malformed: record without a messages list": 1}


def test_a_file_where_no_line_parses_is_an_error_and_changes_nothing(exports, tmp_path):
    ingest([write_jsonl(tmp_path / "ok" / "train.jsonl", [record("stored before")])])
    before = corpus_bytes()
    path = exports / "broken.jsonl"
    path.write_bytes(b'{"messages": [{"role": "user", "content": "a\n\x00\xff\xfe{{{\n')
    with pytest.raises(InputError) as caught:
        ingest([path], source="openai_jsonl")
    assert str(path) in str(caught.value) and "line 1" in str(caught.value)
    assert corpus_bytes() == before


def test_truncated_json_array_names_the_place_and_changes_nothing(exports):
    path = write_json(exports / "data.json", [record(f"q{i}", "a" * 200) for i in range(4)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(InputError) as caught:
        ingest([path])
    assert str(path) in str(caught.value)
    assert re.search(r"after record [23]", str(caught.value))
    assert stored() == []


def test_forcing_on_a_json_file_without_messages_is_a_clear_error(exports):
    path = exports / "config.json"
    path.write_text(json.dumps([{"name": "x"}, {"name": "y"}]))
    with pytest.raises(InputError, match='no record holds a "messages" list'):
        ingest([path], source="openai_jsonl")


def test_other_shapes_with_messages_are_not_claimed(exports):
    telegram_like = {"name": "Maya", "type": "personal_chat", "id": 1,
                     "messages": [{"id": 1, "type": "message", "date": "2025-01-01T10:00:00", "text": "hi"}]}
    discord_like = {"guild": {"id": "0"}, "channel": {"id": "1"},
                    "messages": [{"id": "1", "type": "Default", "content": "hi", "author": {"id": "2"}}]}
    claude_code_line = {"type": "user", "uuid": "u1", "message": {"role": "user", "content": "hi"}}
    (exports / "result.json").write_text(json.dumps(telegram_like))
    (exports / "channel.json").write_text(json.dumps(discord_like))
    (exports / "session.jsonl").write_text(json.dumps(claude_code_line) + "\n")
    sharegpt = ShareGPTRecord()
    sharegpt.human("hi")
    write_sharegpt(exports / "sharegpt.json", [sharegpt])
    write_jsonl(exports / "train.jsonl", [record()])
    tree = InputTree(exports)
    assert OpenAIJSONL().claims(tree, tree.names) == ["train.jsonl"]


def test_write_sample_has_a_system_prompt_on_every_line_and_scrubs_the_key(exports):
    chats = [{"title": f"chat {n}", "topic": "code",
              "turns": [{"me": f"question {n}"}, {"ai": f"answer {n}"}, {"me": f"follow-up {n}"}, {"ai": "done"}]}
             for n in range(4)]
    path = write_sample(exports, chats, {"owner": "Sam Rivera", "timezone": "Europe/Lisbon"})
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    assert all(json.loads(line)["messages"][0] == {"role": "system", "content": SAMPLE_SYSTEM_PROMPT}
               for line in lines)
    report = ingest([path])
    convs = {c.title: c for c in stored()}
    assert sorted(convs) == ["question 0", "question 1", "question 2", "question 3"]
    assert [m.text for m in convs["question 0"].messages] == ["question 0", "answer 0", "follow-up 0", "done"]
    assert convs["question 0"].messages[1].extra == {"weight": 0}
    assert convs["question 1"].skipped == {"system prompt": 1, "tool call": 1, "tool output": 1}
    assert convs["question 2"].messages[0].text == "question 2\nmy key is <api-key> if you need it"
    assert convs["question 3"].messages[0].text == "question 3"
    assert report.inputs[0].scrubbed == {"api_key": 1}
