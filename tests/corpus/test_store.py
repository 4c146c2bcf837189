"""The corpus store: atomic commits, one writer, dedupe and the merge rules."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime

import pytest

from notme.corpus.schema import Conversation, Message
from notme.corpus.store import Corpus, IngestTransaction, merge
from notme.errors import InputError, NotmeError
from notme.ingest import pipeline
from notme.ingest.pipeline import ingest
from notme.samples.chatgpt import ChatGPTConversation, write_export
from tests.conftest import corpus_bytes, stored


def chat(kind: str, *messages: tuple[str, str, str], cid: str = "x:1") -> Conversation:
    """messages: (id, timestamp, text); odd positions are the owner's."""
    return Conversation(
        id=cid, source=cid.split(":")[0], title="t", kind=kind,  # type: ignore[arg-type]
        messages=[Message(speaker="a", is_me=i % 2 == 1, text=text, timestamp=ts, id=mid)
                  for i, (mid, ts, text) in enumerate(messages)],
    )


M1 = ("1", "2025-01-01T10:00:00.000Z", "one")
M2 = ("2", "2025-01-01T10:01:00.000Z", "two")
M3 = ("3", "2025-01-01T10:02:00.000Z", "three")
M4 = ("4", "2025-01-01T10:03:00.000Z", "four")


def ids(conversation: Conversation | None) -> list[str]:
    assert conversation is not None
    return [m.id for m in conversation.messages]


class TestMerge:
    def test_longer_export_replaces(self):
        assert ids(merge(chat("messaging", M1, M2), chat("messaging", M1, M2, M3))) == ["1", "2", "3"]

    def test_shorter_export_keeps_what_is_stored(self):
        assert merge(chat("messaging", M1, M2, M3), chat("messaging", M2, M3)) is None

    def test_capped_messaging_export_is_unioned_in_time_order(self):
        # WhatsApp drops the oldest messages past its cap: the new export lacks M1 but has M4.
        merged = merge(chat("messaging", M1, M2, M3), chat("messaging", M2, M3, M4))
        assert ids(merged) == ["1", "2", "3", "4"]

    def test_diverged_ai_chat_keeps_the_newer_branch(self):
        newer = chat("assistant", M1, ("5", "2025-01-01T11:00:00.000Z", "edited"))
        assert ids(merge(chat("assistant", M1, M2), newer)) == ["1", "5"]
        assert merge(newer, chat("assistant", M1, M2)) is None

    def test_same_messages_with_new_details_take_the_incoming(self):
        incoming = chat("assistant", M1, M2)
        incoming.title = "renamed"
        assert merge(chat("assistant", M1, M2), incoming).title == "renamed"


class TestTransaction:
    def test_outcomes(self, workspace):
        c = Corpus("default")
        with c.lock(), IngestTransaction(c) as txn:
            assert txn.add(chat("assistant", M1, M2, cid="a:1")) == ("added", False)
            assert txn.add(chat("assistant", M1, M2, cid="a:1")) == ("added", True)
            assert txn.add(chat("assistant", M1, M2, cid="b:9")) == ("duplicate", False)  # same text, other id
            assert txn.add(chat("assistant", M3, cid="a:2")) == ("added", False)
            txn.commit(c.meta())
        assert [x.id for x in stored()] == ["a:1", "a:2"]
        with IngestTransaction(c) as txn:
            assert txn.add(chat("assistant", M1, M2, cid="a:1")) == ("unchanged", False)
            # Met again with more messages (a resumed session, a later shard): now an update.
            assert txn.add(chat("assistant", M1, M2, M4, cid="a:1")) == ("updated", True)
            assert txn.add(chat("assistant", M1, M2, cid="a:1")) == ("updated", True)
            txn.commit(c.meta())
        assert ids(stored()[0]) == ["1", "2", "4"]
        assert [x.id for x in stored()] == ["a:1", "a:2"]  # order kept on update

    def test_nothing_is_written_until_commit_and_scratch_files_are_removed(self, workspace):
        c = Corpus("default")
        with IngestTransaction(c) as txn:
            txn.add(chat("assistant", M1))
        assert not c.conversations_path.exists()
        assert [p.name for p in c.path.iterdir()] == []

    def test_excluded_conversations_stay_out(self, workspace):
        c = Corpus("default")
        c.write_meta(c.meta() | {"excluded": ["a:1"]})
        with IngestTransaction(c) as txn:
            assert txn.add(chat("assistant", M1, cid="a:1")) == ("excluded", False)


def test_failure_mid_ingest_leaves_the_corpus_as_it_was(exports, tmp_path, monkeypatch):
    convs = []
    for i in range(4):
        c = ChatGPTConversation(f"c{i}", datetime(2025, 1, 1, tzinfo=UTC))
        c.user(f"question {i}")
        convs.append(c)
    ingest([write_export(tmp_path / "first", convs[:2])])
    before = corpus_bytes()
    calls = {"n": 0}
    real_add = IngestTransaction.add

    def failing_add(self, conversation):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_add(self, conversation)

    monkeypatch.setattr(IngestTransaction, "add", failing_add)
    with pytest.raises(OSError):
        ingest([write_export(exports, convs)])
    assert corpus_bytes() == before
    assert sorted(p.name for p in Corpus("default").path.iterdir()) == [".lock", "conversations.jsonl",
                                                                         "corpus.json"]


def _hold_lock(ready, release):
    from notme.corpus.store import Corpus

    with Corpus("default").lock():
        ready.set()
        release.wait(10)


def test_a_second_writer_is_refused_clearly(workspace):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(NotmeError, match="being written by another notme process"), Corpus("default").lock():
            pass
    finally:
        release.set()
        holder.join(10)


def test_a_corrupt_corpus_line_is_reported_with_its_line(workspace):
    c = Corpus("default")
    c.path.mkdir(parents=True)
    good = chat("assistant", M1).to_json()
    c.conversations_path.write_text(good + "\n{not json\n")
    with pytest.raises(InputError, match=r"conversations.jsonl: line 2: corrupt corpus record"):
        list(c.conversations())


def test_bad_corpus_names_are_refused():
    with pytest.raises(NotmeError, match="not allowed"):
        Corpus("../escape")


def test_unknown_fields_survive_a_round_trip():
    record = chat("assistant", M1).to_dict()
    record["future_field"] = {"x": 1}
    record["messages"][0]["reactions"] = ["👍"]
    again = Conversation.from_dict(json.loads(json.dumps(record))).to_dict()
    assert again == record


def test_owner_messages_that_are_only_a_secret_are_dropped(exports):
    c = ChatGPTConversation("keys", datetime(2025, 1, 1, tzinfo=UTC))
    c.user("sk-proj-Abcdefghijklmnopqrstuvwx1234")
    c.user("use the key sk-proj-Abcdefghijklmnopqrstuvwx1234 for staging")
    ingest([write_export(exports, [c])])
    (conv,) = stored()
    assert [m.text for m in conv.messages] == ["use the key <api-key> for staging"]
    assert conv.skipped == {"only a secret or address": 1}
    assert conv.scrubbed == {"api_key": 2}
    assert "Abcdefgh" not in Corpus("default").conversations_path.read_text()


def test_nothing_but_unreadable_input_is_one_clear_error(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("just some notes\n")
    with pytest.raises(InputError, match="not a chat export notme recognises"):
        ingest([junk])
    assert not Corpus("default").exists()


def test_ignored_files_are_reported(exports):
    c = ChatGPTConversation("x", datetime(2025, 1, 1, tzinfo=UTC))
    c.user("hi")
    write_export(exports, [c])
    (exports / "holiday.jpg").write_bytes(b"\xff\xd8")
    report = ingest([exports])
    assert any(p.endswith("holiday.jpg") for p in report.ignored)


def test_pipeline_keeps_repeated_identical_lines_apart():
    conv = chat("messaging", ("", "2025-01-01T10:00:00.000Z", "ok"), ("", "2025-01-01T10:00:00.000Z", "ok"))
    for m in conv.messages:
        m.is_me = True
    from notme.corpus.scrub import Scrubber

    assert pipeline._finalize(conv, Scrubber())
    assert len({m.id for m in conv.messages}) == 2
