"""SFT examples: exact records, windows cut to the recipe's length, every owner turn trained once."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from notme.data.examples import ELLIPSIS, estimate_tokens, turns_tokens, windows
from notme.data.sessions import Turn
from tests.data.conftest import build, conversation, msg, recipe, sft_messages, store


def test_a_session_is_one_record_with_the_owner_as_assistant_and_every_reply_a_target():
    store(conversation("whatsapp:ana", msg("Ana", "are you coming tonight?", 0), msg("me", "yes.", 1),
                       msg("me", "bringing wine.", 2), msg("Ana", "great", 3), msg("me", "see you at 8", 4)))
    report, files = build(recipe())
    assert files["sft/train"] == [{
        "messages": [
            {"role": "system", "content": "You are Sam."},
            {"role": "user", "content": "are you coming tonight?"},
            {"role": "assistant", "content": "yes.\nbringing wine."},
            {"role": "user", "content": "great"},
            {"role": "assistant", "content": "see you at 8"},
        ],
        "source": "whatsapp", "conversation": "whatsapp:ana", "id": "whatsapp:ana#0.0",
    }]
    assert report.targets["train"] == 2


def test_an_owner_who_opens_the_session_starts_the_record_and_trailing_turns_are_left_out():
    store(conversation("whatsapp:ana", msg("me", "miso ate a sock.", 0), msg("Ana", "which one", 1),
                       msg("me", "your green one.", 2), msg("Ana", "RIP", 3)))
    _, files = build(recipe(**{"use.system_prompt": ""}))
    assert sft_messages(files) == [[("assistant", "miso ate a sock."), ("user", "which one"),
                                    ("assistant", "your green one.")]]
    assert all(m["role"] != "system" for r in files["sft/train"] for m in r["messages"])


def exchange(count: int) -> list:
    out = []
    for i in range(count):
        out += [msg("Ana", f"question {i}", 2 * i), msg("me", f"answer {i}", 2 * i + 1)]
    return out


def test_long_sessions_are_cut_into_windows_that_never_overlap():
    store(conversation("whatsapp:ana", *exchange(3)))
    _, files = build(recipe(**{"use.max_context_turns": 2}))
    windows_ = sorted(sft_messages(files))
    assert windows_ == [[("user", f"question {i}"), ("assistant", f"answer {i}")] for i in range(3)]
    _, files = build(recipe(**{"use.max_context_turns": 3}))
    assert sorted(sft_messages(files)) == [
        [("user", "question 0"), ("assistant", "answer 0"), ("user", "question 1"), ("assistant", "answer 1")],
        [("user", "question 2"), ("assistant", "answer 2")],
    ]


def test_a_reply_longer_than_the_limit_is_dropped_and_counted_never_cut():
    long_reply = "word " * 60
    store(conversation("whatsapp:ana", msg("Ana", "tell me", 0), msg("me", long_reply, 1),
                       msg("Ana", "and?", 2), msg("me", "that's all.", 3)))
    report, files = build(recipe(**{"use.max_seq_length": 40, "use.system_prompt": ""}))
    assert sft_messages(files) == [[("user", "and?"), ("assistant", "that's all.")]]
    assert report.dropped["reply too long"] == 1


def test_context_keeps_the_most_recent_part_of_a_turn_that_does_not_fit():
    pasted = "".join(f"line {i} of a long answer. " for i in range(40))
    store(conversation("chatgpt:1", msg("me", "Summarise the plan.", 0), msg("ChatGPT", pasted, 1),
                       msg("me", "Shorter.", 2), kind="assistant"))
    report, files = build(recipe(**{"use.max_seq_length": 60, "use.system_prompt": ""}))
    records = sorted(sft_messages(files))
    assert [("assistant", "Summarise the plan.")] in records  # the first reply fits with no context
    (cut,) = [r for r in records if r[-1] == ("assistant", "Shorter.")]
    assert cut[0][1].startswith(ELLIPSIS) and pasted.strip().endswith(cut[0][1][1:])
    assert all(sum(estimate_tokens(c) for _, c in r) <= 60 for r in records)
    assert report.tokens["sft"]["train"]["max"] <= 60


# ------------------------------------------------------------------ windows as a property

turn_lists = st.lists(st.integers(1, 120), min_size=1, max_size=14).flatmap(
    lambda lengths: st.tuples(st.just(lengths), st.booleans(), st.lists(st.booleans(), min_size=len(lengths),
                                                                         max_size=len(lengths))))


@settings(max_examples=300, deadline=None)
@given(turn_lists, st.integers(20, 120), st.integers(1, 9))
def test_windows_train_each_trainable_reply_exactly_once_within_the_limits(spec, budget, max_context):
    lengths, owner_first, trainable_flags = spec
    roles = ["assistant" if (i % 2 == 0) == owner_first else "user" for i in range(len(lengths))]
    turns = [Turn(role, f"t{i}:" + "x" * n, role == "assistant", (i,))
             for i, (role, n) in enumerate(zip(roles, lengths, strict=True))]
    trainable = [r == "assistant" and flag and estimate_tokens(t.text) <= budget
                 for r, flag, t in zip(roles, trainable_flags, turns, strict=True)]
    dropped: Counter[str] = Counter()
    found = windows(turns, trainable, budget, max_context, 0, dropped)
    trained = [t.text for w in found for t in w.turns if t.role == "assistant"]
    assert len(trained) == len(set(trained))  # no reply is trained twice
    assert len(trained) + dropped["no room for context"] == sum(trainable)
    for window in found:
        first, last = window.turns[0], window.turns[-1]
        assert last.role == "assistant"
        assert first.role == "user" or first.text == turns[0].text  # only the session opener starts bare
        assert turns_tokens(list(window.turns)) <= budget
        assert len(window.turns) - 1 <= max_context
        assert all(trainable[int(t.text.split(":")[0][1:])] for t in window.turns if t.role == "assistant")
