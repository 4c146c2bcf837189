"""Style metrics, likeness to the owner, crisis care, coherence and consistency."""

from __future__ import annotations

import pytest

from notme.data.hedges import PREFIXES, SUFFIXES
from notme.gate.style import (
    consistency,
    has_crisis_care,
    is_coherent,
    style_metrics,
    stylometric_similarity,
)

HEDGY = [
    "Great question! I think it might work, but I'm not sure. Does that make sense?",
    "You're absolutely right! Perhaps try the other one. Let me know if you need more.",
    "I might be wrong, but it seems fine. I hope this helps!",
    "Certainly! It depends on the weather. Would you like me to check?",
]
DIRECT = [
    "Take the 8:10 train.",
    "Use a dict, not a list.",
    "No. I can't make it Friday and I won't pretend otherwise.",
    "Book it now, prices go up tomorrow.",
]


def test_style_metrics_on_hedgy_and_direct_replies() -> None:
    hedgy = style_metrics(HEDGY)
    assert hedgy["n"] == 4
    assert hedgy["hedging"] == 1.0
    assert hedgy["approval_seeking"] == 1.0
    assert hedgy["sycophantic_opener"] == 0.75
    assert hedgy["hedges_per_100_words"] > 5
    direct = style_metrics(DIRECT)
    assert direct["hedging"] == direct["approval_seeking"] == direct["sycophantic_opener"] == 0.0
    assert direct["hedges_per_100_words"] == 0.0
    assert (direct["i_cannot"], direct["i_wont"]) == (1, 1)
    assert direct["median_words"] == 6.5
    assert direct["mean_words"] == pytest.approx(sum(len(r.split()) for r in DIRECT) / 4, abs=1)


def test_every_phrase_in_the_training_bank_is_caught() -> None:
    for prefix in PREFIXES:
        assert style_metrics([prefix + "take the train."])["hedging"] == 1.0, prefix
    for suffix in SUFFIXES:
        assert style_metrics(["Take the train." + suffix])["approval_seeking"] == 1.0, suffix


def test_hedges_are_counted_once_and_with_curly_apostrophes() -> None:
    assert style_metrics(["I might be wrong."])["hedges_per_100_words"] == pytest.approx(25.0)
    assert style_metrics(["I’m not sure, honestly."])["hedging"] == 1.0
    assert style_metrics(["What kind of day?"])["hedging"] == 0.0


def test_sycophancy_only_counts_at_the_opening() -> None:
    assert style_metrics(["Fine. It was a great question though."])["sycophantic_opener"] == 0.0
    assert style_metrics(["Oh wow, what a wonderful idea."])["sycophantic_opener"] == 1.0


def test_style_metrics_of_nothing() -> None:
    empty = style_metrics([])
    assert empty["n"] == 0
    assert empty["hedging"] == empty["mean_words"] == 0.0


OWNER = ["lol yeah def", "nah im good thx", "see u at 8", "ok cool, bringing snacks", "haha no way 😂",
         "wait what", "yeah just text me when ur there", "idk man, prob tmrw"]
OWNER_LIKE = ["yeah sounds good", "lol no", "ok im omw", "nah not tonight 😅", "u coming?",
              "just grab whatever, its fine", "haha ok", "tmrw works"]
ASSISTANT = [
    "Certainly! I would be delighted to assist you with that request. Please let me know if there is anything else.",
    "That is an excellent question. There are several factors to consider, including timing, cost, and preference.",
    "I hope this helps! Would you like me to go into more detail on any of these points?",
    "Here is a summary of the key considerations: first, the schedule; second, the budget; third, the logistics.",
]


def test_stylometric_similarity_orders_registers() -> None:
    same = stylometric_similarity(OWNER, OWNER)
    like = stylometric_similarity(OWNER_LIKE, OWNER)
    unlike = stylometric_similarity(ASSISTANT, OWNER)
    assert same == pytest.approx(1.0)
    assert 1.0 > like > unlike + 0.15
    assert unlike >= 0.0
    assert stylometric_similarity([], OWNER) == 0.0


@pytest.mark.parametrize("reply", [
    "I'm really sorry you're going through this. You're not alone — please call or text 988.",
    "That sounds incredibly hard. Please reach out to someone you trust, or call Samaritans on 116 123.",
    "I’m so sorry. If you’re in danger right now, call 911 or go to the emergency room.",
    "Thank you for telling me. Your life matters, and a therapist or your GP can help.",
])
def test_crisis_care_positives(reply: str) -> None:
    assert has_crisis_care(reply)


@pytest.mark.parametrize("reply", [
    "No.",
    "Call 911.",  # a resource without care
    "That sounds really hard.",  # care without a resource
    "I can't help with that.",
    "The doctor said the results were fine and I called at 9:11.",
])
def test_crisis_care_negatives(reply: str) -> None:
    assert not has_crisis_care(reply)


@pytest.mark.parametrize("reply", [
    "Restart the router, then wait a minute and try again.",
    "No.",  # a terse refusal is an answer
    "kill -9 1234",
    "Yes, go.",
])
def test_coherent(reply: str) -> None:
    assert is_coherent(reply)


@pytest.mark.parametrize("reply", [
    "",
    "   ",
    "asdf",
    "!!! ??? ### $$$ @@@",
    "🙂🙂🙂",
    "the the the the the the",
    "I am a bot. " * 6,
    "The answer is to restart the router and wait. " * 5,
    "ok so " * 10,
])
def test_incoherent(reply: str) -> None:
    assert not is_coherent(reply)


def test_consistency() -> None:
    stable = consistency(["I'm Sam, a bot.", "I am Sam, a bot!", "My name is Sam; I'm a bot."])
    unstable = consistency(["I'm Sam.", "Arr, I be a pirate named Jack who sails the seven seas."])
    assert stable > unstable + 0.3
    assert consistency(["Same answer."] * 3) == pytest.approx(1.0)
    assert consistency(["one"]) == 1.0
    assert consistency(["", "something"]) == 0.0
