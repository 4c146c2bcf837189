"""Splits by conversation: deterministic, shares close to the recipe's, and no conversation in two."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from notme.data.splits import assign_splits
from tests.data.conftest import build, conversation, msg, recipe, store


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(0, 40), min_size=1, max_size=60),
       st.sampled_from([0.0, 0.1, 0.2]), st.sampled_from([0.0, 0.1, 0.3]), st.integers(0, 3))
def test_every_conversation_gets_exactly_one_split_and_small_splits_are_not_left_empty(sizes, valid, test, seed):
    assigned = assign_splits(sizes, valid, test, seed)
    assert set(assigned) == set(sizes) and set(assigned.values()) <= {"train", "valid", "test"}
    assert assigned == assign_splits(dict(reversed(list(sizes.items()))), valid, test, seed)  # order-free
    used = Counter(assigned.values())
    if len(sizes) >= 3:
        assert used["train"] >= 1
        assert (used["valid"] >= 1) == (valid > 0) and (used["test"] >= 1) == (test > 0)


def test_shares_follow_the_number_of_examples():
    sizes = {f"c{i}": 1 + i % 5 for i in range(200)}
    assigned = assign_splits(sizes, 0.1, 0.1, 0)
    examples = Counter()
    for key, split in assigned.items():
        examples[split] += sizes[key]
    total = sum(sizes.values())
    assert abs(examples["valid"] / total - 0.1) < 0.02 and abs(examples["test"] / total - 0.1) < 0.02


def test_the_build_never_puts_one_conversation_in_two_splits():
    chats = []
    for c in range(30):
        messages = []
        for i in range(6):
            messages += [msg("Ana", f"q{c}.{i} what now", 300 * i), msg("me", f"a{c}.{i} this, then that", 300 * i + 1)]
        chats.append(conversation(f"whatsapp:c{c}", *messages))
    store(*chats)
    report, files = build(recipe(**{"splits.valid": 0.1, "splits.test": 0.1, "use.max_context_turns": 2}))
    where: dict[str, set[str]] = {}
    for name, records in files.items():
        for record in records:
            where.setdefault(record["conversation"], set()).add(name.split("/")[1])
    assert all(len(splits) == 1 for splits in where.values()), where
    assert all(report.sft[s] > 0 for s in ("train", "valid", "test"))
    ids = [i for split in report.splits.values() for i in split]
    assert len(ids) == len(set(ids)) == 30
    assert not any(r["conversation"] in report.splits["test"] for r in files["pref/train"] + files["pref/valid"])
