"""Claude.ai export: every trap in the format, on exports written by notme.samples.claude_ai."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime

import pytest

from notme.errors import InputError
from notme.ingest.pipeline import ingest
from notme.samples import chatgpt
from notme.samples.claude_ai import (
    SENTINEL_PARENT,
    ClaudeConversation,
    fake_secret,
    project_record,
    write_export,
    write_sample,
)
from tests.conftest import corpus_bytes, only, stored, texts

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
OWNER = {"owner": "Sam Rivera", "owner_handles": {"email": "sam.rivera@example.com", "phone": "+351 910 555 100"},
         "timezone": "Europe/Lisbon"}


def conversation(name: str = "Regex", **kw) -> ClaudeConversation:
    return ClaudeConversation(name, START, **kw)




def test_tree_conversation_keeps_order_owner_ids_and_utc_times(exports):
    c = conversation()
    first = c.human("Give me a regex for ISO dates.")
    c.assistant(r"\d{4}-\d{2}-\d{2}")
    report = ingest([write_export(exports, [c])])
    conv = only()
    assert conv.id == f"claude_ai:{c.id}" and conv.source == "claude_ai" and conv.kind == "assistant"
    assert conv.title == "Regex" and conv.participants == ["me", "Claude"]
    assert texts(conv) == [(True, "Give me a regex for ISO dates."), (False, r"\d{4}-\d{2}-\d{2}")]
    assert [m.speaker for m in conv.messages] == ["me", "Claude"]
    assert conv.messages[0].id == first
    assert conv.messages[0].timestamp == "2025-03-01T09:01:15.000Z"
    assert report.inputs[0].owner_basis == "the user role"
    assert report.inputs[0].source == "claude_ai"


def test_microsecond_times_become_milliseconds(exports):
    c = conversation()
    c.human("one", created_at=datetime(2025, 3, 1, 9, 0, 5, 123456, tzinfo=UTC))
    ingest([write_export(exports, [c])])
    assert only().messages[0].timestamp == "2025-03-01T09:00:05.123Z"


def test_legacy_flat_export_is_read_in_array_order_from_text(exports):
    c = conversation(flat=True)
    c.human("first")
    c.assistant("second")
    c.human("third")
    folder = write_export(exports, [c])
    raw = json.loads((folder / "conversations.json").read_text())[0]
    assert "current_leaf_message_uuid" not in raw
    assert all("parent_message_uuid" not in m and m["content"] == [] for m in raw["chat_messages"])
    ingest([folder])
    assert texts(only()) == [(True, "first"), (False, "second"), (True, "third")]


def test_content_text_blocks_win_over_the_flattened_text(exports):
    c = conversation()
    c.human("typed in the block")
    c.messages[-1]["text"] = "stale flattened copy"
    ingest([write_export(exports, [c])])
    assert texts(only()) == [(True, "typed in the block")]


def test_thinking_tool_use_and_tool_result_blocks_are_left_out_and_counted(exports):
    c = conversation()
    c.human("Latest Python version?")
    c.assistant_with_tools("Let me search.", "web_search", {"query": "python release"}, "Python 3.14 released",
                           "It is 3.14.", thought="The user wants the newest release.")
    c.assistant([{"type": "tool_use", "id": "toolu_x", "name": "artifacts",
                  "input": {"command": "create", "id": "a1", "type": "text/markdown", "title": "t",
                            "content": "artifact body"}}])
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "Latest Python version?"), (False, "Let me search.\n\nIt is 3.14.")]
    assert conv.skipped == {"reasoning": 1, "tool call": 2, "tool output": 1}
    dumped = json.dumps(conv.to_dict())
    assert "Python 3.14 released" not in dumped and "artifact body" not in dumped and "newest release" not in dumped


def test_unknown_block_type_is_counted_not_fatal(exports):
    c = conversation()
    c.human([{"type": "voice_note", "duration": 3}, {"type": "text", "text": "and some words"}])
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "and some words")]
    assert conv.skipped == {"unsupported block (voice_note)": 1}


def test_paste_only_human_turn_is_skipped_as_pasted_attachment(exports):
    c = conversation()
    c.human("Why does this crash?")
    c.paste("Traceback (most recent call last):\nKeyError: 'id'")  # empty file_name, like the real export
    c.assistant("The dict has no 'id' key.")
    c.human("ok and this one", attachments=[{"file_name": "", "file_type": "txt", "file_size": 9,
                                               "extracted_content": "more logs"}])
    folder = write_export(exports, [c])
    raw = json.loads((folder / "conversations.json").read_text())[0]["chat_messages"][1]
    assert raw["attachments"][0]["file_name"] == "" and raw["text"] == ""
    ingest([folder])
    conv = only()
    assert texts(conv) == [(True, "Why does this crash?"), (False, "The dict has no 'id' key."),
                           (True, "ok and this one")]
    assert conv.skipped == {"pasted attachment": 1}
    dumped = json.dumps(conv.to_dict())
    assert "Traceback" not in dumped and "more logs" not in dumped


def test_image_in_files_is_metadata_only(exports):
    c = conversation()
    c.image("What's wrong in this screenshot?")
    c.add("human", [], files=[{"file_name": "photo.jpg", "file_uuid": "f-2"}])
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "What's wrong in this screenshot?")]
    assert conv.skipped == {"attachment only": 1}
    assert "screenshot.png" not in json.dumps(conv.to_dict())


def test_regenerated_answer_follows_the_current_leaf_and_keeps_the_other_as_alternative(exports):
    c = conversation()
    c.human("Name a bouldering grade scale.")
    c.assistant("The V scale, I think, but I might be wrong.")
    c.regenerate("The V scale.")
    c.human("thanks")
    folder = write_export(exports, [c])
    raw = json.loads((folder / "conversations.json").read_text())[0]
    first, second = raw["chat_messages"][1:3]
    assert first["parent_message_uuid"] == second["parent_message_uuid"]  # two answers to one prompt
    ingest([folder])
    conv = only()
    assert texts(conv) == [(True, "Name a bouldering grade scale."), (False, "The V scale."), (True, "thanks")]
    assert conv.messages[1].extra["alternatives"] == ["The V scale, I think, but I might be wrong."]
    assert conv.skipped == {"abandoned branch": 1}


def test_current_leaf_on_an_older_branch_wins_over_array_order(exports):
    c = conversation()
    c.human("question")
    old = c.assistant("the answer I chose")
    c.regenerate("a newer answer I went back from")
    c.current_leaf = old
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "question"), (False, "the answer I chose")]
    assert conv.messages[1].extra["alternatives"] == ["a newer answer I went back from"]


def test_edited_first_prompt_siblings_share_the_sentinel_root(exports):
    c = conversation()
    c.human("first draft of the prompt")
    c.assistant("answer to the draft")
    c.edit("the prompt as I meant it")
    c.assistant("answer to the edit")
    folder = write_export(exports, [c])
    roots = [m for m in json.loads((folder / "conversations.json").read_text())[0]["chat_messages"]
             if m["parent_message_uuid"] == SENTINEL_PARENT]
    assert len(roots) == 2
    ingest([folder])
    conv = only()
    assert texts(conv) == [(True, "the prompt as I meant it"), (False, "answer to the edit")]
    assert conv.messages[0].extra["alternatives"] == ["first draft of the prompt"]
    assert "alternatives" not in conv.messages[1].extra  # the draft's answer is not a sibling of this one
    assert conv.skipped == {"abandoned branch": 2}


def test_missing_current_leaf_takes_the_newest_leaf_and_says_so(exports):
    c = conversation()
    c.human("question")
    c.assistant("older answer")
    c.regenerate("newest answer")
    c.current_leaf = None
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "question"), (False, "newest answer")]
    assert conv.extra["leaf_guessed"] is True


def test_dangling_current_leaf_also_falls_back_to_the_newest_leaf(exports):
    c = conversation()
    c.human("question")
    c.assistant("older answer")
    c.human("a longer branch, written earlier")  # the last message in the array, but not the newest leaf
    newest = c.regenerate("newest answer")
    c.messages.insert(2, c.messages.pop())  # array order no longer tells which leaf is newest
    c.current_leaf = "not-a-message"
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "question"), (False, "newest answer")]
    assert conv.messages[1].id == newest
    assert conv.extra["leaf_guessed"] is True
    assert conv.skipped == {"abandoned branch": 2}


def test_loop_in_parent_links_does_not_hang(exports):
    c = conversation()
    a = c.human("a")
    b = c.assistant("b")
    c.messages[0]["parent_message_uuid"] = b  # a broken export: a loop
    c.current_leaf = a
    ingest([write_export(exports, [c])])
    assert texts(only()) == [(False, "b"), (True, "a")]  # the walk stops where it came back: the leaf last


def _null_parents(c: ClaudeConversation) -> dict:
    record = c.to_dict()
    for message in record["chat_messages"]:
        message["parent_message_uuid"] = None
    return record


def test_flat_export_with_null_parents_keeps_every_message_in_array_order(exports):
    c = conversation(flat=True)
    c.human("first")
    c.assistant("second")
    c.human("third")
    ingest([write_export(exports, [_null_parents(c)])])
    conv = only()
    assert texts(conv) == [(True, "first"), (False, "second"), (True, "third")]
    assert conv.skipped == {} and "leaf_guessed" not in conv.extra


def test_null_parent_inside_a_tree_follows_the_message_before_it(exports):
    c = conversation()
    c.human("question")
    c.assistant("answer")
    c.human("follow-up")
    c.messages[1]["parent_message_uuid"] = None
    c.messages[2]["parent_message_uuid"] = None
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "question"), (False, "answer"), (True, "follow-up")]
    assert conv.skipped == {}


def test_null_parent_on_the_first_message_makes_it_the_root(exports):
    c = conversation()
    c.human("question")
    c.assistant("answer")
    c.messages[0]["parent_message_uuid"] = None
    ingest([write_export(exports, [c])])
    assert texts(only()) == [(True, "question"), (False, "answer")]


def test_unhashable_sender_is_counted_not_fatal(exports):
    c = conversation()
    c.human("kept")
    c.add(["human"], "lost")
    report = ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "kept")]
    assert conv.skipped == {"unknown sender (['human'])": 1}
    assert report.inputs[0].dropped == {}


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00+01:00", "1900-01-01T00:00:00Z"])
def test_out_of_range_time_keeps_the_message_with_the_previous_time(exports, stamp):
    c = conversation()
    c.human("one")
    c.assistant("two")
    c.messages[1]["created_at"] = stamp
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "one"), (False, "two")]
    assert [m.timestamp for m in conv.messages] == ["2025-03-01T09:01:15.000Z"] * 2


def test_a_single_conversation_object_is_read_as_one_conversation(exports):
    c = conversation()
    c.human("saved with a browser extension")
    c.assistant("one chat, no array")
    folder = write_export(exports, [], raw_conversations=json.dumps(c.to_dict()))
    report = ingest([folder])
    assert [i.source for i in report.inputs] == ["claude_ai"]
    assert texts(only()) == [(True, "saved with a browser extension"), (False, "one chat, no array")]


def test_an_object_that_is_no_conversation_is_an_error_naming_the_file(exports):
    path = exports / "conversations.json"
    path.write_text(json.dumps({"conversations": [], "note": "not a Claude export"}))
    with pytest.raises(InputError) as caught:
        ingest([path], source="claude_ai")
    assert str(path) in str(caught.value) and '"chat_messages"' in str(caught.value)
    assert stored() == []


def test_empty_conversation_is_dropped_and_counted(exports):
    good, empty = conversation("good"), conversation("nothing here")
    good.human("kept")
    report = ingest([write_export(exports, [good, empty])])
    assert [c.title for c in stored()] == ["good"]
    assert report.inputs[0].dropped == {"empty conversation": 1}


def test_conversation_with_nothing_typed_is_dropped_as_no_text_left(exports):
    c = conversation("paste only")
    c.paste("a long log")
    report = ingest([write_export(exports, [c])])
    assert stored() == []
    assert report.inputs[0].dropped == {"no text left": 1}
    assert report.inputs[0].skipped == {"pasted attachment": 1}


def test_account_given_as_a_string_or_object_is_accepted(exports):
    a = conversation("as string", account="acc-1234")
    b = conversation("as object", account={"uuid": "acc-1234"})
    a.human("one")
    b.human("two")
    ingest([write_export(exports, [a, b])])
    assert sorted(c.title for c in stored()) == ["as object", "as string"]


def test_null_created_at_takes_the_previous_time(exports):
    c = conversation()
    c.human("one")
    c.assistant("two")
    c.messages[1]["created_at"] = None
    ingest([write_export(exports, [c])])
    conv = only()
    assert conv.messages[1].timestamp == conv.messages[0].timestamp == "2025-03-01T09:01:15.000Z"


def test_unknown_sender_and_non_object_messages_are_counted(exports):
    c = conversation()
    c.human("hi")
    c.add("system", "be nice")
    c.messages.append("not a message")
    ingest([write_export(exports, [c])])
    conv = only()
    assert texts(conv) == [(True, "hi")]
    assert conv.skipped == {"unknown sender (system)": 1, "malformed message": 1}


def _five() -> list[ClaudeConversation]:
    convs = []
    for i in range(5):
        c = conversation(f"chat {i}", seed=100 + i)
        c.human(f"question {i}")
        c.assistant(f"answer {i}")
        convs.append(c)
    return convs


@pytest.mark.parametrize("layout", ["folder", "zip", "file"])
def test_every_layout_is_detected_and_read(exports, layout):
    target = write_export(exports, _five(), zip_name="data-2025-06-30-18-04-12.zip" if layout == "zip" else None)
    if layout == "file":
        target = target / "conversations.json"
    report = ingest([target])
    assert sorted(c.title for c in stored()) == [f"chat {i}" for i in range(5)]
    assert [i.source for i in report.inputs] == ["claude_ai"]
    assert report.ignored == []  # users.json and projects.json are claimed, not reported as ignored


def test_batched_folders_are_read_and_deduplicated_by_uuid(exports):
    folder = write_export(exports, _five(), batches=2)
    assert sorted(p.name for p in folder.iterdir()) == [
        "data-2025-10-06-00-55-16-batch-0000", "data-2025-10-06-00-55-16-batch-0001"]
    report = ingest([folder])
    assert sorted(c.title for c in stored()) == [f"chat {i}" for i in range(5)]
    assert report.inputs[0].conversations == {"added": 5, "repeated": 1}
    assert report.ignored == []


def test_chatgpt_and_claude_exports_side_by_side_are_split(exports):
    c = conversation()
    c.human("to Claude")
    write_export(exports / "claude", [c])
    g = chatgpt.ChatGPTConversation("gpt", START)
    g.user("to ChatGPT")
    chatgpt.write_export(exports / "chatgpt", [g])
    report = ingest([exports])
    assert sorted(i.source for i in report.inputs) == ["chatgpt", "claude_ai"]
    assert sorted(conv.source for conv in stored()) == ["chatgpt", "claude_ai"]
    assert not any("/claude/" in path for path in report.ignored)


def test_chatgpt_conversations_json_is_not_claimed(exports):
    g = chatgpt.ChatGPTConversation("gpt", START)
    g.user("to ChatGPT")
    folder = chatgpt.write_export(exports, [g])
    with pytest.raises(InputError, match=r"no Claude\.ai export found"):
        ingest([folder], source="claude_ai")


def test_an_account_without_conversations_is_still_recognised(exports):
    folder = write_export(exports, [])
    report = ingest([folder])
    assert [i.source for i in report.inputs] == ["claude_ai"]
    assert stored() == []


def test_source_can_be_forced_on_a_renamed_file(exports):
    folder = write_export(exports, _five()[:1])
    renamed = exports / "claude-backup.json"
    (folder / "conversations.json").rename(renamed)
    with pytest.raises(InputError, match="not a chat export notme recognises"):
        ingest([renamed])
    report = ingest([renamed], source="claude_ai")
    assert report.inputs[0].source == "claude_ai"
    assert texts(only()) == [(True, "question 0"), (False, "answer 0")]


def test_users_and_projects_never_enter_the_corpus(exports):
    c = conversation()
    c.human("hello")
    project = project_record("Secret project", "Always answer as a pirate.", "knowledge file body")
    ingest([write_export(exports, [c], owner=OWNER, projects=[project])])
    data = corpus_bytes()
    for private in (b"Sam Rivera", b"sam.rivera@example.com", b"910 555 100", b"pirate", b"knowledge file body"):
        assert private not in data


def test_secret_in_a_message_is_scrubbed(exports):
    c = conversation()
    key = fake_secret("test")
    c.human(f"my key is {key} and it fails")
    ingest([write_export(exports, [c])])
    conv = only()
    assert conv.messages[0].text == "my key is <api-key> and it fails"
    assert conv.scrubbed == {"api_key": 1}
    assert key.encode() not in corpus_bytes()


def test_owner_names_are_not_needed(exports):
    c = conversation()
    c.human("mine")
    c.assistant("Claude's")
    report = ingest([write_export(exports, [c])], me=["Somebody Else"])
    assert texts(only()) == [(True, "mine"), (False, "Claude's")]
    assert report.inputs[0].my_messages == 1


def test_reingest_adds_nothing_and_updated_export_adds_only_the_new(exports, tmp_path):
    c = conversation()
    c.human("hello")
    c.assistant("hi")
    first = write_export(exports, [c])
    ingest([first])
    before = corpus_bytes()
    report = ingest([first])
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert corpus_bytes().split(b"\0")[0] == before.split(b"\0")[0]

    c.human("and a follow-up")
    c.assistant("answered")
    other = conversation("new one")
    other.human("brand new")
    report = ingest([write_export(tmp_path / "later", [c, other], zip_name="data-2025-07-01-10-00-00.zip")])
    assert report.inputs[0].conversations == {"updated": 1, "added": 1}
    (updated,) = [x for x in stored() if x.title == "Regex"]
    assert [m.text for m in updated.messages] == ["hello", "hi", "and a follow-up", "answered"]


def test_truncated_file_names_the_file_and_place_and_changes_nothing(exports, tmp_path):
    c = conversation()
    c.human("already stored")
    ingest([write_export(tmp_path / "good", [c])])
    before = corpus_bytes()
    convs = [conversation(f"c{i}", seed=i) for i in range(3)]
    for x in convs:
        x.human("text " * 50)
    data = json.dumps([x.to_dict() for x in convs])
    folder = write_export(exports, [], raw_conversations=data[: len(data) * 2 // 3])
    with pytest.raises(InputError) as caught:
        ingest([folder])
    assert "conversations.json" in str(caught.value)
    assert "after conversation 1" in str(caught.value) or "after conversation 2" in str(caught.value)
    assert corpus_bytes() == before


def test_corrupt_zip_is_an_input_error(exports):
    target = write_export(exports, _five(), zip_name="data-2025-06-30-18-04-12.zip")
    target.write_bytes(target.read_bytes()[:200])
    with pytest.raises(InputError, match="zip"):
        ingest([target])
    assert stored() == []


def test_malformed_conversation_is_skipped_or_fatal_with_strict(exports):
    c = conversation()
    c.human("fine")
    folder = write_export(exports, [c, {"name": "no uuid here", "chat_messages": []}])
    with pytest.raises(InputError, match="conversation 2"):
        ingest([folder], strict=True)
    report = ingest([folder])
    assert len(stored()) == 1
    assert report.inputs[0].dropped == {"malformed: conversation without uuid or chat_messages": 1}


def test_write_sample_renders_the_persona_with_its_quirks(exports):
    chats = [{"title": f"chat {i}", "topic": "code",
              "turns": [{"me": f"Question {i}."}, {"ai": f"Answer {i}."}, {"me": f"Thanks {i}."}]}
             for i in range(7)]
    target = write_sample(exports, chats, OWNER)
    assert target.name == "data-2025-06-30-18-04-12.zip"
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == ["conversations.json", "projects.json", "users.json"]
        raw = json.loads(archive.read("conversations.json"))
    assert raw[0]["chat_messages"][0]["created_at"] == "2025-01-06T10:01:00.000000Z"  # Lisbon = UTC in January
    assert raw[3]["account"] == "acc-0000-sample"
    report = ingest([target])
    item = report.inputs[0]
    assert item.conversations == {"added": 7}
    assert item.dropped == {"empty conversation": 1}
    assert item.skipped == {"abandoned branch": 3, "reasoning": 1, "tool call": 1, "tool output": 1,
                            "pasted attachment": 1}
    assert item.scrubbed == {"api_key": 1}
    by_title = {c.title: c for c in stored()}
    assert texts(by_title["chat 0"])[0] == (True, "Question 0.\nkey is <api-key> if that matters")
    assert by_title["chat 4"].messages[1].extra["alternatives"] == ["Answer 4."]
    assert by_title["chat 6"].messages[0].extra["alternatives"] == ["question 6"]
    assert b"Sam Rivera" not in corpus_bytes()


def test_write_sample_is_deterministic(tmp_path):
    chats = [{"title": "t", "topic": "code", "turns": [{"me": "Q."}, {"ai": "A."}]}] * 3
    first = write_sample(tmp_path / "a", chats, OWNER).read_bytes()
    assert write_sample(tmp_path / "b", chats, OWNER).read_bytes() == first
