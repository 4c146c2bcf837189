"""The `notme` command as a user meets it: output, exit codes, messages instead of tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from notme.samples.chatgpt import ChatGPTConversation, write_export
from tests.conftest import corpus_bytes, stored


@pytest.fixture
def export(exports):
    convs = []
    for i, (question, answer) in enumerate([("How do I rebase onto main?", "git rebase main"),
                                            ("Best flour for pizza?", "Tipo 00.")]):
        c = ChatGPTConversation(f"chat {i}", datetime(2025, 2, 1 + i, tzinfo=UTC))
        c.user(question)
        c.assistant(answer)
        convs.append(c)
    return write_export(exports, convs, zip_name="chatgpt-export.zip")


def test_ingest_prints_the_report_and_the_summary(cli, export):
    result = cli("ingest", export, "--corpus", "mine")
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    assert "chatgpt" in result.output and "2025-02-01" in result.output
    assert len(stored("mine")) == 2


def test_ingest_json_report(cli, export):
    result = cli("ingest", export, "--json")
    report = json.loads(result.output)
    assert report["inputs"][0]["conversations"] == {"added": 2}
    assert report["inputs"][0]["source"] == "chatgpt"


def test_bad_input_is_one_line_exit_2_and_nothing_changes(cli, export, tmp_path):
    cli("ingest", export)
    before = corpus_bytes()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(export.read_bytes()[:200])
    result = cli("ingest", broken)
    assert result.exit_code == 2
    assert "broken.zip" in result.output and "Traceback" not in result.output
    assert corpus_bytes() == before


def test_corpus_list_stats_show_search(cli, export):
    cli("ingest", export)
    listed = cli("corpus", "list")
    assert "default: 2 conversations, 4 messages (2 yours)" in listed.output
    stats = json.loads(cli("corpus", "stats", "--json").output)
    assert stats["sources"]["chatgpt"]["my_words"] == 10
    assert stats["total"]["first"].startswith("2025-02-01")
    shown = cli("corpus", "show", "2")
    assert "Best flour for pizza?" in shown.output and "Tipo 00." in shown.output
    record = json.loads(cli("corpus", "show", "2", "--json").output)
    assert record["title"] == "chat 1"
    found = cli("corpus", "search", "REBASE", "--mine")
    assert "How do I rebase onto main?" in found.output
    assert "no matches" in cli("corpus", "search", "rebase", "--source", "whatsapp").output


def test_show_unknown_conversation_is_a_clear_error(cli, export):
    cli("ingest", export)
    result = cli("corpus", "show", "nope")
    assert result.exit_code == 2 and "no conversation 'nope'" in result.output


def test_stats_of_a_missing_corpus_names_the_known_ones(cli, export):
    cli("ingest", export, "--corpus", "work")
    result = cli("corpus", "stats", "--corpus", "play")
    assert result.exit_code == 2 and "no corpus named 'play'" in result.output and "work" in result.output


def test_drop_removes_and_keeps_out_on_reingest(cli, export):
    cli("ingest", export)
    result = cli("corpus", "drop", "1", "--yes")
    assert "removed 1" in result.output
    assert [c.title for c in stored()] == ["chat 1"]
    again = cli("ingest", export, "--json")
    assert json.loads(again.output)["inputs"][0]["conversations"] == {"excluded": 1, "unchanged": 1}
    assert [c.title for c in stored()] == ["chat 1"]


def test_owner_names_are_remembered_and_editable(cli, export):
    cli("ingest", export, "--me", "Sam Rivera", "--me", "+351 910 555 100")
    shown = cli("corpus", "owner")
    assert "Sam Rivera, +351 910 555 100" in shown.output
    cli("corpus", "owner", "--remove", "+351 910 555 100", "--add", "sam")
    assert "names: Sam Rivera, sam" in cli("corpus", "owner").output
    bad = cli("corpus", "owner", "--remove", "nobody")
    assert bad.exit_code == 2 and "not among the owner's names" in bad.output


def test_unknown_timezone_is_refused(cli, export):
    result = cli("ingest", export, "--timezone", "Mars/Olympus")
    assert result.exit_code == 2 and "unknown time zone" in result.output


def test_sources_lists_every_registered_source(cli):
    from notme.ingest.registry import names

    output = cli("sources").output
    for name in names():
        assert name in output


def test_installed_command_runs_and_reports_errors_without_traceback(tmp_path, workspace):
    missing = tmp_path / "missing.zip"
    result = subprocess.run([sys.executable, "-m", "notme", "ingest", str(missing)],
                            capture_output=True, text=True, env={"NOTME_HOME": str(workspace), "PATH": ""})
    assert result.returncode == 2
    assert "missing.zip: no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr
