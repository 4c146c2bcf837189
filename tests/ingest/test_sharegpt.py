"""ShareGPT-style JSON: every trap in the format, on files written by notme.samples.sharegpt."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from notme.errors import InputError
from notme.ingest.inputs import InputTree
from notme.ingest.pipeline import ingest
from notme.ingest.sources.sharegpt import ShareGPT
from notme.samples.openai_jsonl import ChatRecord
from notme.samples.openai_jsonl import write_jsonl as write_openai_jsonl
from notme.samples.sharegpt import ShareGPTRecord, write_json, write_jsonl, write_sample
from tests.conftest import corpus_bytes, only, stored


def record(question: str = "Regex for ISO dates?", answer: str = r"\d{4}-\d{2}-\d{2}", **kw) -> ShareGPTRecord:
    r = ShareGPTRecord(**kw)
    r.human(question)
    r.gpt(answer)
    return r


def texts(conv) -> list[tuple[bool, str, str]]:
    return [(m.is_me, m.speaker, m.text) for m in conv.messages]



def test_json_array_owner_is_the_human_side(exports):
    report = ingest([write_json(exports / "data.json", [record(id="identity_0")])])
    conv = only()
    assert texts(conv) == [(True, "me", "Regex for ISO dates?"), (False, "assistant", r"\d{4}-\d{2}-\d{2}")]
    assert re.fullmatch(r"sharegpt:[0-9a-f]{24}", conv.id) and conv.source == "sharegpt"
    assert conv.kind == "assistant" and conv.title == "Regex for ISO dates?"
    assert report.inputs[0].owner_basis == "the human turns"
    assert [i.source for i in report.inputs] == ["sharegpt"]


@pytest.mark.parametrize(("variant", "kw"), [
    ("user/assistant", {"speakers": ("user", "assistant")}),
    ("role/content keys", {"speakers": ("user", "assistant"), "keys": ("role", "content")}),
    ("capitalised", {"speakers": ("Human", "GPT")}),
])
def test_speaker_variants_are_read_alike(exports, variant, kw):
    ingest([write_json(exports / "data.json", [record(**kw)])])
    assert texts(only()) == [(True, "me", "Regex for ISO dates?"), (False, "assistant", r"\d{4}-\d{2}-\d{2}")], variant


def test_system_prompts_and_tool_turns_are_left_out_and_counted(exports):
    r = ShareGPTRecord("top-level system prompt")
    r.system_turn("a leading system turn")
    r.human("Find the docs.")
    r.tool_round('{"name": "search"}', '["result"]')
    r.gpt("Here they are.")
    r.turn("narrator", "an unknown speaker")
    r.turns.append(["not", "a", "turn"])
    ingest([write_json(exports / "data.json", [r])])
    conv = only()
    assert texts(conv) == [(True, "me", "Find the docs."), (False, "assistant", "Here they are.")]
    assert conv.skipped == {"system prompt": 2, "tool call": 1, "tool output": 1, "unknown role (narrator)": 1,
                            "malformed message": 1}
    assert "top-level system prompt" not in json.dumps(conv.to_dict())


def test_unhashable_speaker_is_counted_not_fatal(exports):
    r = record("kept", "answer")
    r.turn(["human"], "lost")
    report = ingest([write_json(exports / "data.json", [r])])
    conv = only()
    assert [m.text for m in conv.messages] == ["kept", "answer"]
    assert conv.skipped == {"unknown role (['human'])": 1}
    assert report.inputs[0].dropped == {}


def test_image_placeholders_are_stripped_and_an_image_alone_is_counted(exports):
    r = ShareGPTRecord()
    r.image_prompt("What is this hold called?")
    r.gpt("A crimp.")
    r.image_prompt("", image="images/0002.png")
    r.gpt("A sloper.")
    ingest([write_json(exports / "data.json", [r])])
    conv = only()
    assert [m.text for m in conv.messages] == ["What is this hold called?", "A crimp.", "A sloper."]
    assert conv.skipped == {"attachment only": 1}


@pytest.mark.parametrize("layout", ["json array", "jsonl", "single record", "zip"])
def test_every_layout_is_detected(exports, layout):
    records = [record(f"question {i}", f"answer {i}") for i in range(3)]
    if layout == "json array":
        target = write_json(exports / "data.json", records)
    elif layout == "jsonl":
        target = write_jsonl(exports / "data.jsonl", records)
    elif layout == "single record":
        target = exports / "one.json"
        target.write_text(json.dumps(records[0].to_dict(), indent=2))
    else:
        write_json(exports / "inner" / "sharegpt.json", records)
        target = exports / "dataset.zip"
        with zipfile.ZipFile(target, "w") as archive:
            archive.write(exports / "inner" / "sharegpt.json", "dataset/sharegpt.json")
    report = ingest([target])
    assert [i.source for i in report.inputs] == ["sharegpt"]
    expected = 1 if layout == "single record" else 3
    assert sorted(c.title for c in stored()) == [f"question {i}" for i in range(expected)]


def test_the_same_conversation_as_openai_jsonl_is_stored_once(exports, tmp_path):
    ingest([write_json(tmp_path / "a" / "data.json", [record()])])
    openai = ChatRecord("system prompt")
    openai.user("Regex for ISO dates?")
    openai.assistant(r"\d{4}-\d{2}-\d{2}")
    report = ingest([write_openai_jsonl(exports / "train.jsonl", [openai])])
    assert report.inputs[0].conversations == {"duplicate": 1}
    assert [c.source for c in stored()] == ["sharegpt"]


def test_reingest_adds_nothing_and_a_longer_file_adds_only_the_new_records(exports, tmp_path):
    first = write_json(tmp_path / "v1" / "data.json", [record("one"), record("two")])
    ingest([first])
    before = corpus_bytes()
    report = ingest([first])
    assert report.inputs[0].conversations == {"unchanged": 2}
    assert corpus_bytes().split(b"\0")[0] == before.split(b"\0")[0]
    report = ingest([write_json(exports / "data.json", [record("one"), record("two"), record("three")])])
    assert report.inputs[0].conversations == {"unchanged": 2, "added": 1}


def test_truncated_array_names_the_file_and_place_and_changes_nothing(exports, tmp_path):
    ingest([write_json(tmp_path / "ok" / "data.json", [record("stored before")])])
    before = corpus_bytes()
    path = write_json(exports / "data.json", [record(f"q{i}", "a" * 300) for i in range(4)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(InputError) as caught:
        ingest([path])
    assert str(path) in str(caught.value)
    assert re.search(r"after record [23]", str(caught.value))
    assert corpus_bytes() == before


def test_jsonl_malformed_lines_are_counted_or_fatal_with_strict(exports):
    path = write_jsonl(exports / "data.jsonl", [
        record("good"), '{"conversations": [{"from": "human", "val', '{"instruction": "alpaca", "output": "x"}'])
    with pytest.raises(InputError, match="line 2"):
        ingest([path], strict=True)
    report = ingest([path])
    assert [c.title for c in stored()] == ["good"]
    assert report.inputs[0].dropped == {"malformed: not a valid JSON line": 1,
                                        "malformed: record without a conversations list": 1}


def test_forcing_on_a_file_without_conversations_is_a_clear_error(exports):
    path = exports / "alpaca.json"
    path.write_text(json.dumps([{"instruction": "x", "input": "", "output": "y"}]))
    with pytest.raises(InputError, match='no record holds a "conversations" list'):
        ingest([path], source="sharegpt")


def test_only_sharegpt_files_are_claimed(exports):
    write_json(exports / "sharegpt.json", [record()])
    write_jsonl(exports / "sharegpt.jsonl", [record()])
    openai = ChatRecord()
    openai.user("hi")
    write_openai_jsonl(exports / "train.jsonl", [openai])
    chatgpt_like = {"conversations": [{"title": "x", "mapping": {}, "current_node": None}]}
    (exports / "conversations.json").write_text(json.dumps(chatgpt_like))
    tree = InputTree(exports)
    assert ShareGPT().claims(tree, tree.names) == ["sharegpt.json", "sharegpt.jsonl"]


def test_a_folder_with_sharegpt_and_openai_files_is_split_between_them(exports):
    write_json(exports / "sharegpt.json", [record("from sharegpt")])
    openai = ChatRecord()
    openai.user("from openai")
    write_openai_jsonl(exports / "train.jsonl", [openai])
    report = ingest([exports])
    assert sorted(i.source for i in report.inputs) == ["openai_jsonl", "sharegpt"]
    assert sorted((c.source, c.title) for c in stored()) == [("openai_jsonl", "from openai"),
                                                             ("sharegpt", "from sharegpt")]


def test_write_sample_renders_the_chats_with_their_quirks(exports):
    chats = [{"title": f"chat {n}", "turns": [{"me": f"question {n}"}, {"ai": f"answer {n}"}]} for n in range(6)]
    path = write_sample(exports, chats, {"owner": "Sam Rivera"})
    assert isinstance(json.loads(path.read_text()), list)
    report = ingest([path])
    convs = {c.title: c for c in stored()}
    assert len(convs) == 6
    assert convs["question 0"].skipped == {"system prompt": 1}
    assert convs["question 1"].skipped == {"system prompt": 1}
    assert convs["question 2"].skipped == {"tool call": 1, "tool output": 1}
    assert texts(convs["question 3"]) == [(True, "me", "question 3"), (False, "assistant", "answer 3")]
    assert convs["question 4"].messages[0].text == "question 4"
    assert convs["question 5"].messages[0].text == "question 5\nkey: <api-key>"
    assert report.inputs[0].scrubbed == {"api_key": 1}
