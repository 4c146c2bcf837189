"""The hedge bank and the refusal detector that keeps refusals out of every rejected slot."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from notme.data.hedges import PREFIXES, SUFFIXES, hedge, is_refusal, soften
from notme.data.preferences import load_anchors
from notme.samples import persona

ORDINARY = [
    "yes. 19:30.",
    "Drop it. The composite index serves any query that filters on user_id alone.",
    "No partitioning. Give me the index statement.",  # an instruction, not a refusal
    "No problem, see you at 8",
    "No worries.",
    "miso ate a sock again.",
    "Split it. Add nullable, backfill with 'unknown', then set NOT NULL.",
    "there's no milk left, can you grab some?",
]

REFUSALS = [
    "No.", "no. not doing that.", "No, I won't.", "nope", "I won't help with that.", "I will not do this.",
    "not doing that", "I'm not going to write that for you.", "I can't help with that.",
    "Absolutely not.", "I'd rather not.", "i'm not sharing my password", "Sorry, but no.",
    "I'm unable to help with that.", "I am not able to assist with this request.", "Im not able to share that",
]


def test_ordinary_replies_are_not_refusals():
    assert [t for t in ORDINARY if is_refusal(t)] == []


def test_refusals_are_detected_in_any_case_and_quote_style():
    assert [t for t in REFUSALS if not is_refusal(t)] == []
    assert is_refusal("I WON’T DO THAT")


def test_the_sample_owners_declines_are_all_refusals():
    declines = [turn["me"] for item in persona()["harmful_requests_declined"] for turn in item["turns"] if "me" in turn]
    assert len(declines) >= 10
    assert [d for d in declines if not is_refusal(d)] == []


def test_the_safety_anchors_refusals_are_refusals_and_their_openers_are_not():
    anchors, openers = load_anchors()
    refusals = {r for a in anchors for r in a.replies if a.kind == "refusal"}
    assert [r for r in refusals if not is_refusal(r) or not is_refusal(r.lower())] == []
    assert [o for o in openers if is_refusal(o)] == []


def test_hedging_is_deterministic_by_seed_and_uses_several_strategies():
    reply = "Drop it. You must use the composite index."
    assert hedge(reply, random.Random("s1")) == hedge(reply, random.Random("s1"))
    versions = {hedge(reply, random.Random(f"seed {i}")) for i in range(40)}
    assert len(versions) > 10
    assert any(v.startswith(PREFIXES) for v in versions)
    assert any(v.endswith(SUFFIXES) for v in versions)
    assert any("should probably" in v for v in versions)  # softened verb


def test_soften_falls_back_to_a_tentative_opening():
    assert soften("You must drop it.") == "You should probably drop it."
    assert soften("Fix it.") == "Maybe you could fix it."
    assert soften("bus. ten minutes.") == "I think bus. ten minutes."


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(REFUSALS), st.text(max_size=60), st.integers(0, 10_000))
def test_hedging_never_hides_a_refusal(refusal, tail, seed):
    """A prefix like "I might be wrong, but" must not make "no." look like an ordinary reply."""
    hedged = hedge(refusal + " " + tail, random.Random(seed))
    assert is_refusal(hedged)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ORDINARY), st.integers(0, 10_000))
def test_hedging_an_ordinary_reply_never_makes_a_refusal(reply, seed):
    hedged = hedge(reply, random.Random(seed))
    assert hedged != reply and not is_refusal(hedged)
