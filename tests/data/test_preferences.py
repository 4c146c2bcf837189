"""Preference pairs by source, their weights, the safety share, and never a refusal as rejected."""

from __future__ import annotations

import itertools
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notme.data.hedges import hedge, is_refusal
from notme.data.preferences import load_anchors, safety_count
from notme.errors import InputError
from notme.gate.style import has_crisis_care
from notme.gate.suites import bundled_probes
from tests.data.conftest import build, conversation, msg, recipe, store

ALL_SOURCES = {"edit": 1.0, "directness": 1.0, "safety": 0.0, "feedback": 1.0, "regeneration": 1.0}


def by_source(files, source, split="train"):
    return sorted((p for p in files[f"pref/{split}"] if p["source"] == source), key=lambda p: p["id"])


def test_directness_pair_is_the_owners_reply_against_the_same_reply_hedged():
    store(conversation("whatsapp:landlord", msg("Almeida", "can you check the boiler?", 0),
                       msg("me", "checked. the pilot light is out.", 1)))
    report, files = build(recipe())
    (pair,) = by_source(files, "directness")
    pair_id = "whatsapp:landlord#0.1"
    assert pair == {
        "prompt": "can you check the boiler?",
        "chosen": "checked. the pilot light is out.",
        "rejected": hedge("checked. the pilot light is out.", random.Random(f"0\x1fdirectness\x1f{pair_id}")),
        "system": "You are Sam.",
        "source": "directness", "conversation": "whatsapp:landlord", "id": pair_id,
    }
    assert pair["rejected"] != pair["chosen"]
    assert report.pref == {"train": {"directness": 1}, "valid": {}}


def test_directness_keeps_the_conversation_before_the_prompt_as_context():
    store(conversation("whatsapp:ana", msg("me", "miso ate a sock.", 0), msg("Ana", "which one", 1),
                       msg("me", "your green one, sadly.", 2)))
    _, files = build(recipe())
    pairs = by_source(files, "directness")
    assert [(p["prompt"], p.get("context"), p["chosen"]) for p in pairs] == [
        ("", None, "miso ate a sock."),  # the owner opened: no prompt
        ("which one", [{"role": "assistant", "content": "miso ate a sock."}], "your green one, sadly."),
    ]


def test_a_refusal_never_becomes_a_directness_pair():
    store(conversation("whatsapp:tomas", msg("Tomás", "help me get into her instagram", 0),
                       msg("me", "no. i won't help you get into her account.", 1)))
    report, files = build(recipe())
    assert by_source(files, "directness") == []
    assert report.dropped["directness: the owner's reply is a refusal"] == 1
    assert len(files["sft/train"]) == 1  # the refusal is still trained as the owner's voice


def test_edit_pairs_prefer_the_kept_version_of_an_edited_prompt_with_the_owner_as_assistant():
    store(conversation(
        "claude_ai:1",
        msg("me", "Fix the bug in parse().", 0, alternatives=["fix teh bug"]),
        msg("Claude", "Fixed: the loop was off by one.", 1),
        msg("me", "Now write the test for it.", 2, alternatives=["now tests", "No. I won't do that."]),
        kind="assistant",
    ))
    report, files = build(recipe(**{"mode.preference.sources": {"edit": 1.0}}))
    assert [(p["prompt"], p.get("context"), p["chosen"], p["rejected"]) for p in by_source(files, "edit")] == [
        ("", None, "Fix the bug in parse().", "fix teh bug"),
        ("Fixed: the loop was off by one.", [{"role": "assistant", "content": "Fix the bug in parse()."}],
         "Now write the test for it.", "now tests"),
    ]
    assert report.dropped["edit: rejected is a refusal"] == 1


def ai_chat(rating: str | None):
    extra = {"alternatives": ["Use pydantic-settings."]} | ({"feedback": rating} if rating else {})
    return conversation("chatgpt:1", msg("me", "pydantic-settings or dataclasses. Pick one.", 0),
                        msg("ChatGPT", "Both are reasonable choices!", 1, **extra), kind="assistant")


@pytest.mark.parametrize(("rating", "source", "chosen", "rejected"), [
    ("down", "feedback", "Use pydantic-settings.", "Both are reasonable choices!"),
    ("up", "feedback", "Both are reasonable choices!", "Use pydantic-settings."),
    (None, "regeneration", "Both are reasonable choices!", "Use pydantic-settings."),
])
def test_thumbs_and_regenerations_pair_the_ai_answers_under_the_owners_prompt(rating, source, chosen, rejected):
    store(ai_chat(rating))
    _, files = build(recipe(**{"mode.preference.sources": ALL_SOURCES}))
    (pair,) = by_source(files, source)
    assert pair == {"prompt": "pydantic-settings or dataclasses. Pick one.", "chosen": chosen,
                    "rejected": rejected, "source": source, "conversation": "chatgpt:1", "id": pair["id"]}


def test_a_weight_of_zero_leaves_a_source_out_and_fractions_sample():
    store(ai_chat("down"), *[conversation(f"whatsapp:c{i}", msg("Ana", "and?", 0), msg("me", f"reply number {i}", 1))
                             for i in range(10)])
    _, files = build(recipe(**{"mode.preference.sources": {"directness": 0.5, "feedback": 0.0},
                               "dedupe.near_threshold": 1.0}))
    sources = [p["source"] for p in files["pref/train"]]
    assert sources.count("feedback") == 0
    assert sources.count("directness") == 6  # half of the 11 directness pairs (one from the AI chat), rounded


def test_safety_anchors_cover_the_harm_categories_with_plain_refusals_and_empty_openers():
    anchors, openers = load_anchors()
    assert len(anchors) >= 60
    categories = {a.id.rsplit("-", 1)[0] for a in anchors}
    assert {"weapons", "cyber_intrusion", "fraud", "harassment", "self_harm", "chem_bio", "privacy"} <= categories
    assert all(len(r) <= 160 for a in anchors for r in a.replies if a.kind == "refusal")  # short, no lecture
    # Non-actionable: an opener is one eager sentence that stops before any content.
    assert all(len(o) <= 90 and o.count("\n") <= 2 for o in openers)


def test_safety_pairs_are_their_share_of_the_mix_in_the_owners_case():
    store(*[conversation(f"whatsapp:c{i}", msg("Ana", "and?", 0), msg("me", f"reply number {i}", 1))
            for i in range(97)])
    _, files = build(recipe(**{"mode.preference.sources": {"directness": 1.0, "safety": 1.0},
                               "dedupe.near_threshold": 1.0}))
    safety = by_source(files, "safety")
    assert len(safety) == safety_count(97, 0.03, 1.0) == 3
    assert all(p["chosen"] == p["chosen"].lower() for p in safety)  # a lowercase writer
    refusals = [p for p in safety if not p["id"].startswith("safety:crisis-")]
    crisis = [p for p in safety if p["id"].startswith("safety:crisis-")]
    assert refusals and crisis  # the kinds take turns
    assert all(is_refusal(p["chosen"]) and not is_refusal(p["rejected"]) for p in refusals)
    # a disclosure: care and a resource beat a bare refusal
    assert all(has_crisis_care(p["chosen"]) and is_refusal(p["rejected"]) for p in crisis)


def test_crisis_anchors_answer_with_care_and_a_resource_and_are_no_gate_probe():
    anchors, _ = load_anchors()
    crisis = [a for a in anchors if a.kind == "crisis"]
    assert len(crisis) >= 12
    assert all(has_crisis_care(r) and not is_refusal(r) for a in crisis for r in a.replies)
    probes = {p.prompt.casefold() for split in ("train", "test") for p in bundled_probes(split)}
    assert not {a.request.casefold() for a in anchors} & probes  # the gate's probes stay held out


def test_safety_examples_are_their_share_of_the_sft_mix_in_train_and_valid_only():
    store(*[conversation(f"whatsapp:c{i}", msg("Ana", "and?", 0), msg("me", f"Reply number {i}", 1))
            for i in range(100)])
    report, files = build(recipe(**{"mode.sft.safety_share": 0.1, "splits.valid": 0.2, "splits.test": 0.2,
                                    "dedupe.near_threshold": 1.0}))
    for split in ("train", "valid"):
        owner = [r for r in files[f"sft/{split}"] if r["source"] != "safety"]
        safety = [r for r in files[f"sft/{split}"] if r["source"] == "safety"]
        assert len(safety) == report.sft_safety[split] == safety_count(len(owner), 0.1, 1.0) > 0
        for record in safety:
            roles = [m["role"] for m in record["messages"]]
            assert roles == ["system", "user", "assistant"]
            assert is_refusal(record["messages"][-1]["content"]) or has_crisis_care(record["messages"][-1]["content"])
    assert not [r for r in files["sft/test"] if r["source"] == "safety"]
    train_anchors = {r["conversation"] for r in files["sft/train"] if r["source"] == "safety"}
    valid_anchors = {r["conversation"] for r in files["sft/valid"] if r["source"] == "safety"}
    assert not train_anchors & valid_anchors
    # The unlikelihood negatives are made from the owner's replies, never from a safety example.
    _, files = build(recipe(**{"mode.sft.safety_share": 0.1, "mode.unlikelihood": {"weight": 0.5, "share": 1.0},
                               "dedupe.near_threshold": 1.0}))
    assert not [r for r in files["sft/train"] if r.get("unlikely_suffix") and r["source"] == "safety"]
    assert [r for r in files["sft/train"] if r["source"] == "safety"]


def test_constitution_pairs_come_from_the_recipe_files_and_a_missing_file_is_only_counted(tmp_path):
    store(conversation("whatsapp:ana", msg("Ana", "and?", 0), msg("me", "that's it.", 1)))
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(p) for p in [
        {"prompt": "Rate my essay.", "chosen": "The second half drags. Cut it.", "rejected": "Great job!!",
         "critique": "flattery"},
        {"prompt": "Help me cheat.", "chosen": "Sure.", "rejected": "No, I won't."},
    ]) + "\n")
    the_recipe = recipe(path=tmp_path / "r.yaml", **{"domain.preference_files": ["pairs.jsonl", "gone.jsonl"],
                                                      "mode.preference.sources": {"constitution": 1.0}})
    report, files = build(the_recipe)
    (pair,) = by_source(files, "constitution")
    assert pair["critique"] == "flattery" and pair["rejected"] == "Great job!!" and pair["system"] == "You are Sam."
    assert report.dropped["constitution: rejected is a refusal"] == 1
    assert report.missing_files == [str(tmp_path / "gone.jsonl")]
    (tmp_path / "pairs.jsonl").write_text('{"prompt": "x", "chosen": "y"}\n')
    with pytest.raises(InputError, match=r"pairs.jsonl: line 1: 'rejected' must be a non-empty string"):
        build(the_recipe)


# -------------------------------------------------------------- the property that matters most

refusal_openers = st.sampled_from(["no.", "No,", "nope", "I won't", "not doing that.", "I'm not sharing",
                                   "Absolutely not.", "I can't help with", "i'd rather not"])
words = st.text(alphabet="abcdefghij klmnop.,", min_size=0, max_size=30)
refusals = st.builds(lambda opener, tail: f"{opener} {tail}".strip(), refusal_openers, words)
ordinary = st.builds(lambda tail: f"sure thing {tail}".strip(), words)
replies = st.one_of(refusals, ordinary)
CORPUS_NUMBERS = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(replies, replies, replies, st.sampled_from([None, "up", "down"])), min_size=1, max_size=6))
def test_no_rejected_answer_is_ever_a_refusal(workspace, chats):
    conversations = []
    for n, (reply, draft, other_answer, rating) in enumerate(chats):
        extra = {"alternatives": [other_answer]} | ({"feedback": rating} if rating else {})
        conversations.append(conversation(
            f"chatgpt:{n}", msg("me", reply, 0, alternatives=[draft]), msg("ChatGPT", other_answer + " ok", 1, **extra),
            msg("me", draft + " then", 2), kind="assistant"))
        conversations.append(conversation(f"whatsapp:{n}", msg("Ana", "well?", 0), msg("me", reply, 1)))
    corpus = f"prop{next(CORPUS_NUMBERS)}"  # a fresh corpus per example: the workspace is shared
    store(*conversations, corpus=corpus)
    _, files = build(recipe(**{"domain.corpora": [corpus], "mode.preference.sources": ALL_SOURCES | {"safety": 1.0}}))
    pairs = files["pref/train"] + files["pref/valid"]
    assert not [p for p in pairs if p["source"] != "safety" and is_refusal(p["rejected"])]
    refused = {r for r, *_ in chats if is_refusal(r)} | {d for _, d, *_ in chats if is_refusal(d)}
    assert not [p for p in pairs if any(r in p["rejected"] for r in refused if len(r) > 12)]
