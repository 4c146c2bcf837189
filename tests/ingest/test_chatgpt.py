"""ChatGPT export: every trap in the format, on exports written by notme.samples.chatgpt."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from notme.errors import InputError
from notme.ingest.pipeline import ingest
from notme.samples.chatgpt import ChatGPTConversation, feedback_entry, write_export
from tests.conftest import corpus_bytes, only, stored, texts

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def conversation(title: str = "Regex", **kw) -> ChatGPTConversation:
    return ChatGPTConversation(title, START, **kw)




def test_linear_conversation_keeps_order_owner_and_utc_times(exports):
    c = conversation()
    c.user("Give me a regex for ISO dates.")
    c.assistant(r"\d{4}-\d{2}-\d{2}")
    report = ingest([write_export(exports, [c])])
    conv = only()
    assert conv.id == f"chatgpt:{c.id}" and conv.source == "chatgpt" and conv.kind == "assistant"
    assert texts(conv) == [(True, "Give me a regex for ISO dates."), (False, r"\d{4}-\d{2}-\d{2}")]
    assert conv.messages[0].timestamp == "2025-03-01T09:00:45.000Z"
    assert report.inputs[0].owner_basis == "the user role"


def test_regenerated_answer_takes_active_branch_and_keeps_the_other_as_alternative(exports):
    c = conversation()
    c.user("Name a bouldering grade scale.")
    c.assistant("The V scale, I think, but I might be wrong.")
    c.regenerate("The V scale.")
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "Name a bouldering grade scale."), (False, "The V scale.")]
    assert conv.messages[1].extra["alternatives"] == ["The V scale, I think, but I might be wrong."]
    assert conv.skipped["abandoned branch"] == 1


def test_edited_prompt_follows_current_node_not_first_child(exports):
    c = conversation()
    c.user("first draft of the prompt")
    c.assistant("answer to the draft")
    c.edit("the prompt as I meant it")
    c.assistant("answer to the edit")
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "the prompt as I meant it"), (False, "answer to the edit")]
    assert conv.messages[0].extra["alternatives"] == ["first draft of the prompt"]


def test_what_the_owner_did_not_type_is_left_out_and_counted(exports):
    c = conversation()
    c.hidden_system()
    c.custom_instructions("I'm a backend engineer.", "Be terse.")
    c.user("Plot this CSV.")
    c.thoughts("Need pandas")
    c.tool_round("import pandas as pd", "   a  b\n0  1  2")
    c.image_prompt("And this screenshot: what's the error?")
    c.assistant("A missing column.")
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [
        (True, "Plot this CSV."),
        (True, "And this screenshot: what's the error?"),
        (False, "A missing column."),
    ]
    assert "backend engineer" not in json.dumps(conv.to_dict())
    assert conv.skipped == {
        "hidden message": 1, "custom instructions or memory": 1, "reasoning": 1,
        "tool call": 1, "tool output": 1,
    }


def test_null_create_time_takes_the_previous_time(exports):
    c = conversation()
    c.user("one")
    c.assistant("two", create_time=None)
    ingest([write_export(exports, [c])])
    conv = only()
    assert conv.messages[1].timestamp == conv.messages[0].timestamp


def test_missing_current_node_is_dropped_and_counted_not_guessed(exports):
    good, broken = conversation("good"), conversation("broken")
    good.user("kept")
    broken.user("lost")
    broken.current = "not-a-node"
    report = ingest([write_export(exports, [good, broken])])
    assert [c.title for c in stored()] == ["good"]
    assert report.inputs[0].dropped == {"no active branch (current_node missing)": 1}


def test_citations_are_stripped_from_assistant_text(exports):
    c = conversation()
    c.user("Source?")
    c.assistant("Lisbon has seven hills 【3†source】 and trams\ue200cite\ue202turn0search1\ue201.")
    ingest([write_export(exports, [c])])
    assert only().messages[1].text == "Lisbon has seven hills and trams."


def test_feedback_marks_the_rated_message(exports):
    c = conversation()
    c.user("Summarise.")
    answer = c.assistant("Here is a summary. Let me know if you'd like more!")
    ingest([write_export(exports, [c], feedback=[feedback_entry(c, answer, "thumbsDown")])])
    assert only().messages[1].extra["feedback"] == "down"


@pytest.mark.parametrize("layout", ["folder", "zip", "wrapper", "shards"])
def test_every_layout_is_detected_and_read(exports, layout):
    convs = []
    for i in range(5):
        c = conversation(f"chat {i}")
        c.user(f"question {i}")
        c.assistant(f"answer {i}")
        convs.append(c)
    target = write_export(
        exports, convs, zip_name="export.zip" if layout == "zip" else None,
        wrapper=layout == "wrapper", shards=2 if layout == "shards" else 0,
    )
    report = ingest([target])
    assert sorted(c.title for c in stored()) == [f"chat {i}" for i in range(5)]
    assert [i.source for i in report.inputs] == ["chatgpt"]


def test_reingest_adds_nothing_and_updated_export_adds_only_the_new(exports, tmp_path):
    c = conversation()
    c.user("hello")
    c.assistant("hi")
    first = write_export(exports, [c])
    ingest([first])
    before = corpus_bytes()
    report = ingest([first])
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert corpus_bytes().split(b"\0")[0] == before.split(b"\0")[0]

    c.user("and a follow-up")
    c.assistant("answered")
    other = conversation("new one")
    other.user("brand new")
    report = ingest([write_export(tmp_path / "later", [c, other])])
    assert report.inputs[0].conversations == {"updated": 1, "added": 1}
    (updated,) = [x for x in stored() if x.title == "Regex"]
    assert [m.text for m in updated.messages] == ["hello", "hi", "and a follow-up", "answered"]


def test_an_older_export_does_not_shrink_what_is_stored(exports, tmp_path):
    c = conversation()
    c.user("hello")
    c.assistant("hi")
    old = write_export(tmp_path / "old", [c])
    c.user("more")
    ingest([write_export(exports, [c])])
    report = ingest([old])
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert len(only().messages) == 3


def test_truncated_file_names_the_file_and_place_and_changes_nothing(exports, tmp_path):
    c = conversation()
    c.user("already stored")
    ingest([write_export(tmp_path / "good", [c])])
    before = corpus_bytes()
    convs = [conversation(f"c{i}") for i in range(3)]
    for x in convs:
        x.user("text " * 50)
    folder = write_export(exports, convs)
    data = (folder / "conversations.json").read_bytes()
    (folder / "conversations.json").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError) as caught:
        ingest([folder])
    assert "conversations.json" in str(caught.value)
    assert "after conversation 1" in str(caught.value) or "after conversation 2" in str(caught.value)
    assert corpus_bytes() == before


def test_malformed_conversation_is_skipped_or_fatal_with_strict(exports):
    c = conversation()
    c.user("fine")
    folder = write_export(exports, [c, {"title": "no mapping here"}])
    with pytest.raises(InputError, match="conversation 2"):
        ingest([folder], strict=True)
    report = ingest([folder])
    assert len(stored()) == 1
    assert report.inputs[0].dropped == {"malformed: conversation without id or mapping": 1}


def test_cycle_in_mapping_does_not_hang(exports):
    c = conversation()
    a = c.user("a")
    b = c.assistant("b")
    c.mapping[a]["parent"] = b  # a broken export: a loop
    ingest([write_export(exports, [c])])
    assert texts(only()) == [(True, "a"), (False, "b")]  # the walk stops where it came back: current_node last


def _odd_author(c: ChatGPTConversation, node: str) -> None:
    c.mapping[node]["message"]["author"] = "assistant"


def _odd_content(c: ChatGPTConversation, node: str) -> None:
    c.mapping[node]["message"]["content"] = "just a string"


def _odd_children(c: ChatGPTConversation, node: str) -> None:
    c.mapping[c.mapping[node]["parent"]]["children"] = 7  # the active answer's parent


@pytest.mark.parametrize("spoil", [_odd_author, _odd_content, _odd_children])
def test_odd_node_off_the_active_branch_never_costs_the_conversation(exports, spoil):
    c = conversation()
    question = c.user("Name a grade scale.")
    c.assistant("The V scale.")
    other = c.add("assistant", "An older answer.", parent=question, activate=False)
    spoil(c, other)
    report = ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "Name a grade scale."), (False, "The V scale.")]
    assert report.inputs[0].dropped == {}
    assert "alternatives" not in conv.messages[1].extra  # the odd sibling is no readable version
    # An odd node is no message to count; a readable one under an unreadable children list still is.
    assert conv.skipped == ({"abandoned branch": 1} if spoil is _odd_children else {})


def test_unhashable_content_type_is_counted_not_fatal(exports):
    c = conversation()
    c.user("kept")
    odd = c.user("lost")
    c.mapping[odd]["message"]["content"]["content_type"] = ["text"]
    report = ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "kept")]
    assert conv.skipped == {"unsupported content (['text'])": 1}
    assert report.inputs[0].dropped == {}


def test_unknown_content_type_with_a_text_field_is_not_the_owners_text(exports):
    c = conversation()
    c.user("Summarise the attached doc.")
    c.add("user", {"content_type": "pasted_document", "text": "Quarterly report, page 1 of 40…"})
    c.assistant("Revenue grew.")
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "Summarise the attached doc."), (False, "Revenue grew.")]
    assert conv.skipped == {"unsupported content (pasted_document)": 1}


@pytest.mark.parametrize("create_time", [-86400.0, 1e12, float("1e300")])
def test_out_of_range_unix_time_keeps_the_message_with_the_previous_time(exports, create_time):
    c = conversation()
    c.user("one")
    c.assistant("two", create_time=create_time)
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "one"), (False, "two")]
    assert [m.timestamp for m in conv.messages] == ["2025-03-01T09:00:45.000Z"] * 2


def test_a_single_conversation_object_is_read_as_one_conversation(exports):
    c = conversation()
    c.user("saved with a browser extension")
    c.assistant("one chat, no wrapper")
    folder = write_export(exports, [c])
    (folder / "conversations.json").write_text(json.dumps(c.to_dict()))
    report = ingest([folder])
    assert [i.source for i in report.inputs] == ["chatgpt"]
    assert texts(only()) == [(True, "saved with a browser extension"), (False, "one chat, no wrapper")]


def test_an_object_that_is_no_conversation_is_an_error_naming_the_file(exports):
    path = exports / "conversations.json"
    path.write_text(json.dumps({"title": "not an export", "items": []}))
    with pytest.raises(InputError) as caught:
        ingest([path], source="chatgpt")
    assert str(path) in str(caught.value) and '"mapping"' in str(caught.value)
    assert stored() == []


def test_an_empty_wrapper_is_an_account_without_conversations(exports):
    folder = write_export(exports, [], wrapper=True)
    report = ingest([folder / "conversations.json"], source="chatgpt")  # no "mapping" to detect it by
    assert [i.source for i in report.inputs] == ["chatgpt"]
    assert stored() == []


def test_forced_source_reads_a_single_file_of_any_name(exports):
    c = conversation("saved from the browser")
    c.user("one chat, saved by an extension")
    path = exports / "my-chat.json"
    path.write_text(json.dumps([c.to_dict()]))
    ingest([path], source="chatgpt")
    assert only().title == "saved from the browser"
