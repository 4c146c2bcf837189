"""Claude Code session logs: every trap in the format, on logs written by notme.samples.claude_code."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notme.errors import InputError
from notme.ingest.pipeline import ingest
from notme.samples.claude_code import (
    ClaudeCodeSession,
    encode_cwd,
    fake_secret,
    write_projects,
    write_sample,
)
from tests.conftest import corpus_bytes, only, stored, texts

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CWD = "/Users/sam/code/notes-app"


def session(cwd: str = CWD, seed: int = 1, **kw) -> ClaudeCodeSession:
    return ClaudeCodeSession(cwd, START, seed=seed, **kw)




def project(exports: Path, *sessions: ClaudeCodeSession) -> Path:
    """The project folder holding the sessions (they share one cwd)."""
    return write_projects(exports, sessions) / encode_cwd(sessions[0].cwd)


def test_string_prompt_and_reply_keep_order_owner_ids_and_utc_times(exports):
    s = session()
    first = s.prompt("Why is my test flaky?")
    answer = s.reply("It depends on ordering.")
    report = ingest([project(exports, s)])
    conv = only()
    assert conv.id == f"claude_code:{first}" and conv.source == "claude_code" and conv.kind == "assistant"
    assert texts(conv) == [(True, "Why is my test flaky?"), (False, "It depends on ordering.")]
    assert [m.speaker for m in conv.messages] == ["me", "Claude"]
    assert [m.id for m in conv.messages] == [first, answer]
    assert conv.messages[0].timestamp == "2025-03-01T09:00:40.000Z"
    assert conv.title == "Why is my test flaky?"
    assert conv.participants == ["me", "Claude"]
    assert report.inputs[0].owner_basis == "the user role"


def test_title_from_the_first_prompt_is_its_first_line_shortened(exports):
    s = session()
    s.prompt("Refactor the payment module so that every provider goes through one interface please\nthen tests")
    ingest([project(exports, s)])
    assert only().title == "Refactor the payment module so that every provider goes through one interface…"


def test_image_prompt_keeps_the_text_and_an_image_only_prompt_is_counted(exports):
    s = session()
    s.image_prompt("what's wrong with this layout?")
    s.image_prompt("")
    s.prompt("compare [Image #2] with [Image #3]\n[Image #4]\nwhich one is right?")
    ingest([project(exports, s)])
    conv = only()
    # The placeholders mark where an image sat; they are not the person's words.
    assert texts(conv) == [(True, "what's wrong with this layout?"), (True, "compare with\n\nwhich one is right?")]
    assert conv.skipped == {"image only": 1}
    assert "iVBORw0KGgo" not in corpus_bytes().decode()


def test_tool_round_lines_of_one_response_join_and_tool_output_never_enters(exports):
    s = session()
    s.prompt("Run the tests.")
    secret = fake_secret("bash", "sk-ant-api03-", 40)
    s.reply("Running them now.", thinking="Run pytest.", tools=[
        ("Bash", {"command": "cat .env; pytest -q"}, f"ANTHROPIC_API_KEY={secret}\n1 failed", False),
        ("Read", {"file_path": "/nope.py"}, "<tool_use_error>File does not exist.</tool_use_error>", True),
    ], after="One test fails: test_refund.")
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "Run the tests."), (False, "Running them now."),
                           (False, "One test fails: test_refund.")]
    assert conv.skipped == {"reasoning": 1, "tool call": 2, "tool output": 2}
    data = corpus_bytes().decode()
    assert secret not in data and "1 failed" not in data and "File does not exist" not in data
    assert conv.scrubbed == {}  # the key was never read, so nothing needed scrubbing


def test_text_blocks_of_one_api_message_become_one_message(exports):
    s = session()
    s.prompt("Explain.")
    message_id = s.reply("First part.")
    s.assistant_line(message_id, {"type": "text", "text": "Second part."}, "end_turn")
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "Explain."), (False, "First part.\n\nSecond part.")]
    assert conv.messages[1].id == message_id


def test_is_meta_expansion_and_bare_slash_command_are_skipped(exports):
    s = session()
    s.slash("/clear", stdout="")
    s.slash("/review", expansion="You are a code reviewer. Review the diff…")
    s.prompt("Now fix the bug.")
    s.reply("Fixed.")
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "Now fix the bug."), (False, "Fixed.")]
    assert conv.skipped == {"slash command": 2, "command output": 1, "command expansion or hook (isMeta)": 1}
    assert "code reviewer" not in corpus_bytes().decode()


def test_slash_command_with_arguments_is_kept_as_typed(exports):
    # Decision (see person_text): `/name args` is kept, since the arguments are the person's words.
    s = session()
    s.slash("/review", args="check the auth flow, especially token refresh",
            expansion="Review the following: check the auth flow, especially token refresh")
    s.reply("Looking.")
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "/review check the auth flow, especially token refresh"), (False, "Looking.")]
    assert conv.skipped == {"command expansion or hook (isMeta)": 1}


def test_harness_tags_are_stripped_and_tag_only_prompts_counted(exports):
    s = session()
    s.prompt("<system-reminder>The user opened app.py</system-reminder>Why does app.py crash on start?")
    s.prompt("<ide_selection>def main(): ...</ide_selection>")
    s.bash_input("git status", "On branch main")
    s.reply("Missing import.")
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "Why does app.py crash on start?"), (False, "Missing import.")]
    assert conv.skipped == {"harness text": 1, "shell command (!)": 1, "command output": 1}


def test_interrupt_markers_are_dropped(exports):
    s = session()
    s.prompt("Refactor it.")
    s.reply("Starting.", tools=[("Bash", {"command": "rm -rf build"}, "The user doesn't want to proceed", False)])
    s.interrupt(for_tool_use=True)
    s.interrupt()
    s.prompt("Don't delete build/, it's cached.")
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "Refactor it."), (False, "Starting."), (True, "Don't delete build/, it's cached.")]
    assert conv.skipped == {"interrupt marker": 2, "tool call": 1, "tool output": 1}


def test_harness_notice_written_as_claude_is_skipped(exports):
    s = session()
    s.prompt("hello")
    s.harness_notice("API Error: 529 overloaded")
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "hello")]
    assert conv.skipped == {"harness message": 1}


def test_queue_remove_is_kept_as_user_text_in_time_order(exports):
    s = session()
    s.prompt("Add logging to the worker.")
    s.queue_remove("use structlog, not print")
    s.reply("Added structlog calls.")
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "Add logging to the worker."), (True, "use structlog, not print"),
                           (False, "Added structlog calls.")]


def test_summary_line_at_the_top_gives_the_title(exports):
    s = session()
    s.prompt("first prompt")
    s.reply("answer")
    s.summary("Worker logging setup")
    path = project(exports, s)
    assert json.loads((path / f"{s.session_id}.jsonl").read_text().split("\n")[0])["type"] == "summary"
    ingest([path])
    assert only().title == "Worker logging setup"


def test_ai_title_wins_and_the_last_one_counts(exports):
    s = session()
    s.prompt("first prompt")
    s.summary("Older summary")
    s.ai_title("Draft title")
    s.reply("answer")
    s.ai_title("Final title")
    ingest([project(exports, s)])
    assert only().title == "Final title"


def test_summary_written_in_another_file_names_the_session(exports):
    s = session(seed=1)
    s.prompt("first prompt")
    s.reply("answer")
    titles_only = session(seed=2)
    titles_only.summary("Named from elsewhere", leaf=s.current)
    report = ingest([project(exports, s, titles_only)])
    assert only().title == "Named from elsewhere"
    assert report.inputs[0].dropped == {"session without messages": 1}


def test_compaction_is_bridged_into_one_conversation(exports):
    s = session()
    first = s.prompt("Start the migration work.")
    s.reply("Plan: three steps.")
    s.compact("The user asked for a migration plan; three steps were proposed.")
    s.prompt("Do step two.")
    s.reply("Done.")
    ingest([project(exports, s)])
    conv = only()
    assert conv.id == f"claude_code:{first}"
    assert texts(conv) == [(True, "Start the migration work."), (False, "Plan: three steps."),
                           (True, "Do step two."), (False, "Done.")]
    assert conv.skipped == {"compaction summary": 1}
    assert "migration plan" not in corpus_bytes().decode()


def test_compaction_into_a_new_file_links_back_to_the_old_one(exports):
    s = session(seed=1)
    first = s.prompt("Start.")
    s.reply("Started.")
    after = session(seed=2)
    after.current = s.current
    after.compact("summary of the start")
    after.prompt("Continue.")
    report = ingest([project(exports, s, after)])
    conv = only()
    assert conv.id == f"claude_code:{first}"
    assert texts(conv) == [(True, "Start."), (False, "Started."), (True, "Continue.")]
    assert report.inputs[0].conversations == {"added": 1}


def test_continued_session_text_without_the_flag_is_still_a_summary(exports):
    s = session()
    s.prompt("This session is being continued from a previous conversation that ran out of context. Summary: …")
    s.prompt("real prompt")
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "real prompt")]
    assert conv.skipped == {"compaction summary": 1}


@pytest.mark.parametrize("old_layout", [False, True])
def test_subagent_files_are_claimed_and_never_contribute(exports, old_layout):
    s = session()
    s.prompt("Find the config loader.")
    s.reply("Delegating.", tools=[("Task", {"prompt": "Find the config loader"}, "config.py", False)])
    s.subagent("Find the config loader in this repo", "It is config.py")
    s.old_style_subagents = old_layout
    folder = project(exports, s)
    agent_files = list(folder.rglob("agent-*.jsonl"))
    assert len(agent_files) == 1 and ("subagents" in agent_files[0].parts) != old_layout
    report = ingest([folder.parent])
    assert report.ignored == []
    assert report.inputs[0].dropped == {"sub-agent transcript (written by Claude)": 1}
    assert texts(only()) == [(True, "Find the config loader."), (False, "Delegating.")]
    assert "in this repo" not in corpus_bytes().decode()


def test_sidechain_lines_inside_a_session_file_are_counted(exports):
    s = session()
    s.prompt("main prompt")
    s.subagent("agent task", "agent answer")
    s.lines += s.subagents.pop()
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "main prompt")]
    assert conv.skipped == {"sidechain (sub-agent)": 2}


def test_resumed_session_is_one_conversation_keyed_by_its_root(exports):
    s = session(seed=1)
    root = s.prompt("Set up CI.")
    s.reply("Added a workflow.")
    resumed = s.resume(seed=2)
    resumed.prompt("Now cache pip.")
    resumed.reply("Cached.")
    assert resumed.session_id != s.session_id
    report = ingest([project(exports, s, resumed)])
    conv = only()
    assert conv.id == f"claude_code:{root}"
    assert texts(conv) == [(True, "Set up CI."), (False, "Added a workflow."), (True, "Now cache pip."),
                           (False, "Cached.")]
    assert report.inputs[0].conversations == {"added": 1}
    assert conv.skipped == {}


def test_resumed_session_ingested_later_updates_without_duplicates(exports, tmp_path):
    s = session(seed=1)
    s.prompt("Set up CI.")
    s.reply("Added a workflow.")
    ingest([write_projects(tmp_path / "before", [s])])
    resumed = s.resume(seed=2)
    resumed.prompt("Now cache pip.")
    report = ingest([write_projects(exports, [resumed])])
    assert report.inputs[0].conversations == {"updated": 1}
    assert [m.text for m in only().messages] == ["Set up CI.", "Added a workflow.", "Now cache pip."]
    # and the old file alone again does not shrink it
    report = ingest([write_projects(tmp_path / "before", [s])])
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert len(only().messages) == 3


def test_rewind_takes_the_last_written_branch_and_keeps_the_other_prompt(exports):
    s = session()
    s.prompt("Write a parser.")
    s.reply("Here is a regex parser.")
    fork = s.current
    s.prompt("Make it faster.")
    s.reply("Faster regex.")
    s.rewind(fork)
    s.prompt("Actually use a hand-written lexer.")
    s.reply("Lexer written.")
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "Write a parser."), (False, "Here is a regex parser."),
                           (True, "Actually use a hand-written lexer."), (False, "Lexer written.")]
    assert conv.messages[2].extra["alternatives"] == ["Make it faster."]
    assert conv.skipped == {"abandoned branch": 2}


def test_unknown_entry_type_is_skipped_and_counted(exports):
    s = session()
    s.prompt("hi")
    s.unknown("future-entry")
    s.snapshot()
    s.system("turn_duration", durationMs=100)
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "hi")]
    assert conv.skipped == {"unknown entry (future-entry)": 1}


def test_unknown_entry_on_the_chain_keeps_the_chain_whole(exports):
    s = session()
    first = s.prompt("one")
    s.reply("two")
    hook = s.unknown("hook-result")
    after = s.prompt("three")
    s.reply("four")
    assert next(line for line in s.lines if line["uuid"] == after)["parentUuid"] == hook
    ingest([project(exports, s)])
    conv = only()
    assert conv.id == f"claude_code:{first}"  # the root, not the entry after the unknown one
    assert texts(conv) == [(True, "one"), (False, "two"), (True, "three"), (False, "four")]
    assert conv.skipped == {"unknown entry (hook-result)": 1}  # and nothing "abandoned"


def test_unhashable_type_is_an_unknown_entry_and_the_file_is_still_recognised(exports):
    s = session()
    s.unknown([])  # the first line, which detection reads first
    s.prompt("hi")
    s.reply("hello")
    report = ingest([project(exports, s)])
    assert [i.source for i in report.inputs] == ["claude_code"]
    conv = only()
    assert texts(conv) == [(True, "hi"), (False, "hello")]
    assert conv.skipped == {"unknown entry ([])": 1}
    assert report.inputs[0].dropped == {}


def test_trailing_system_entry_without_parent_is_not_the_leaf(exports):
    s = session()
    first = s.prompt("question")
    s.reply("answer")
    s.current = None
    s.system("api_error")  # parentUuid null, written last
    ingest([project(exports, s)])
    conv = only()
    assert conv.id == f"claude_code:{first}"
    assert texts(conv) == [(True, "question"), (False, "answer")]


def test_entry_that_fails_to_build_is_malformed_and_never_the_leaf(exports, monkeypatch):
    # No real entry makes building a node fail today, so one is made to: the session must keep the
    # leaf before it instead of pointing at a node that was never stored.
    from notme.ingest.sources import claude_code as reader

    build = reader._Folder._node

    def failing(self, entry, kind, uuid):
        if (entry.get("message") or {}).get("content") == "odd":
            raise TypeError("odd entry")
        return build(self, entry, kind, uuid)

    monkeypatch.setattr(reader._Folder, "_node", failing)
    s = session()
    s.prompt("kept")
    s.reply("also kept")
    s.prompt("odd")
    report = ingest([project(exports, s)])
    assert texts(only()) == [(True, "kept"), (False, "also kept")]
    assert report.inputs[0].dropped == {"malformed: unexpected TypeError (odd entry)": 1}


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00+01:00", "1969-07-20T20:17:00Z"])
def test_out_of_range_time_keeps_the_message_without_a_time(exports, stamp):
    s = session()
    s.prompt("first")
    s.prompt("when?", timestamp=stamp)
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "first"), (True, "when?")]
    assert [m.timestamp for m in conv.messages] == ["2025-03-01T09:00:40.000Z", None]


def test_half_written_last_line_is_skipped_and_counted(exports):
    s = session()
    s.prompt("kept")
    s.reply("also kept")
    s.prompt("being written when the log was copied")
    s.cut_last_line = True
    report = ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "kept"), (False, "also kept")]
    assert conv.skipped == {"half-written last line": 1}
    assert report.inputs[0].dropped == {}


def test_bad_line_in_the_middle_is_malformed_or_fatal_with_strict(exports):
    s = session()
    s.prompt("one")
    s.reply("two")
    s.prompt("three")
    folder = project(exports, s)
    path = folder / f"{s.session_id}.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "{not json\n" + "".join(lines[1:]))
    with pytest.raises(InputError, match="line 2"):
        ingest([folder], strict=True)
    report = ingest([folder])
    assert texts(only()) == [(True, "one"), (False, "two"), (True, "three")]
    assert report.inputs[0].dropped == {"malformed: line is not valid JSON": 1}


def test_file_that_is_mostly_not_json_names_the_file_and_line_and_changes_nothing(exports, tmp_path):
    good = session(seed=9)
    good.prompt("already stored")
    ingest([write_projects(tmp_path / "good", [good])])
    before = corpus_bytes()
    s = session()
    s.prompt("one")
    folder = project(exports, s)
    path = folder / f"{s.session_id}.jsonl"
    path.write_text(path.read_text() + "garbage\nmore garbage\n{still not json\n")
    with pytest.raises(InputError) as caught:
        ingest([folder])
    assert str(path) in str(caught.value) and "line 2" in str(caught.value)
    assert corpus_bytes() == before


def test_forced_source_on_a_file_that_is_not_a_session_log(exports):
    notes = exports / "notes.jsonl"
    notes.write_text("just some text\nmore text\n")
    with pytest.raises(InputError) as caught:
        ingest([notes], source="claude_code")
    assert "notes.jsonl" in str(caught.value) and "line 1" in str(caught.value)


def test_other_jsonl_files_are_not_claimed(exports):
    (exports / "train.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    (exports / "history.jsonl").write_text(json.dumps({"display": "a prompt", "pastedContents": {},
                                                       "timestamp": 1735689600000, "project": CWD,
                                                       "sessionId": "abc"}) + "\n")
    with pytest.raises(InputError, match="no Claude Code sessions found"):
        ingest([exports], source="claude_code")


@pytest.mark.parametrize("level", ["claude_home", "projects", "project", "session_file"])
def test_every_level_of_the_folder_is_detected(exports, level):
    one, two = session(seed=1), session("/Users/sam/work/api.service", seed=2)
    one.prompt("first project")
    two.prompt("second project")
    projects = write_projects(exports / ".claude-copy", [one, two])
    (projects.parent / "history.jsonl").write_text(json.dumps({"display": "first project", "timestamp": 1}) + "\n")
    (projects.parent / "settings.json").write_text('{"cleanupPeriodDays": 365}')
    assert sorted(p.name for p in projects.iterdir()) == ["-Users-sam-code-notes-app", "-Users-sam-work-api-service"]
    target = {"claude_home": projects.parent, "projects": projects,
              "project": projects / "-Users-sam-code-notes-app",
              "session_file": projects / "-Users-sam-code-notes-app" / f"{one.session_id}.jsonl"}[level]
    report = ingest([target])
    assert [i.source for i in report.inputs] == ["claude_code"]
    expected = ["first project"] if level in ("project", "session_file") else ["first project", "second project"]
    assert sorted(c.messages[0].text for c in stored()) == expected
    if level == "claude_home":
        assert sorted(Path(p).name for p in report.ignored) == ["history.jsonl", "settings.json"]


def test_first_line_longer_than_the_detection_head_is_still_claimed(exports):
    s = session()
    s.prompt("x" * 40_000)
    s.prompt("short one")
    ingest([project(exports, s)])
    assert [m.text for m in only().messages] == ["x" * 40_000, "short one"]


def test_uuid_repeated_in_one_file_is_kept_once(exports):
    s = session()
    s.prompt("only once")
    s.lines.append(dict(s.lines[-1]))
    ingest([project(exports, s)])
    assert texts(only()) == [(True, "only once")]


def test_secret_in_a_prompt_is_scrubbed(exports):
    s = session()
    key = fake_secret("prompt", "sk-ant-api03-", 40)
    s.prompt(f"use this key: {key}")
    ingest([project(exports, s)])
    conv = only()
    assert conv.messages[0].text == "use this key: <api-key>"
    assert conv.title == "use this key: <api-key>"
    assert conv.scrubbed == {"api_key": 2}  # in the prompt and in the title made from it
    assert key not in corpus_bytes().decode()


def test_reingest_adds_nothing_and_an_appended_session_adds_only_the_new(exports, tmp_path):
    s = session()
    s.prompt("hello")
    s.reply("hi")
    folder = project(exports, s)
    ingest([folder])
    before = corpus_bytes()
    report = ingest([folder])
    assert report.inputs[0].conversations == {"unchanged": 1}
    assert corpus_bytes().split(b"\0")[0] == before.split(b"\0")[0]

    s.prompt("and a follow-up")
    s.reply("answered")
    other = session(seed=7)
    other.prompt("a new session")
    report = ingest([project(tmp_path / "later", s, other)])
    assert report.inputs[0].conversations == {"updated": 1, "added": 1}
    (updated,) = [c for c in stored() if c.messages[0].text == "hello"]
    assert [m.text for m in updated.messages] == ["hello", "hi", "and a follow-up", "answered"]


def test_write_sample_renders_two_projects_with_quirks(exports):
    chats = [{"title": f"Fix bug {i}", "topic": "code",
              "turns": [{"me": f"Question {i}."}, {"ai": f"Answer {i}."}, {"me": f"Thanks {i}."}]}
             for i in range(5)]
    chats.append({"title": "Dinner", "topic": "cooking", "turns": [{"me": "What to cook?"}, {"ai": "Pasta."}]})
    owner = {"owner": "Sam Rivera", "timezone": "Europe/Lisbon"}
    target = write_sample(exports, chats, owner)
    assert target.name == "projects"
    assert sorted(p.name for p in target.iterdir()) == ["-Users-sam-code-notes-app", "-Users-sam-work-api-service"]
    assert "sk-ant-api03-" in "".join(p.read_text() for p in target.rglob("*.jsonl"))  # in a Bash result
    report = ingest([target])
    item = report.inputs[0]
    assert item.conversations == {"added": 5}  # the cooking chat is not a code chat
    assert item.dropped == {"sub-agent transcript (written by Claude)": 1}
    assert item.skipped == {"reasoning": 1, "tool call": 4, "tool output": 4, "slash command": 1,
                            "command output": 1, "interrupt marker": 1}
    assert item.scrubbed == {"api_key": 1}
    data = corpus_bytes().decode()
    assert "sk-ant-api03-" not in data
    by_title = {c.title: c for c in stored()}
    assert sorted(by_title) == ["Fix bug 0", "Fix bug 1", "Fix bug 3", "Fix bug 4", "Question 2."]
    assert texts(by_title["Fix bug 0"]) == [(True, "Question 0."), (False, "Let me look at the environment first."),
                                            (False, "Answer 0."), (True, "Thanks 0.")]
    assert by_title["Question 2."].messages[0].text == "Question 2.\n\nusing this key for now: <api-key>"


def test_write_sample_is_deterministic(tmp_path):
    chats = [{"title": "t", "topic": "code", "turns": [{"me": "Q."}, {"ai": "A."}]}] * 5
    owner = {"owner": "Sam Rivera", "timezone": "Europe/Lisbon"}

    def contents(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.jsonl"))}

    first = contents(write_sample(tmp_path / "a", chats, owner))
    assert len(first) == 6  # five sessions and one sub-agent file
    assert contents(write_sample(tmp_path / "b", chats, owner)) == first


def test_tool_result_with_string_content_is_still_tool_output(exports):
    s = session()
    s.prompt("Read the config.")
    s.prompt("DATABASE_URL=postgres://app:hunter2@db/app", toolUseResult={"type": "text", "file": {}})
    ingest([project(exports, s)])
    conv = only()
    assert texts(conv) == [(True, "Read the config.")]
    assert conv.skipped == {"tool output": 1}
    assert "hunter2" not in corpus_bytes().decode()
