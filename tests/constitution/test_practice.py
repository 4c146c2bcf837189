"""Practice on a scripted teacher: what is kept, what is dropped and why, resuming without duplicates,
directness pairs; the files the dashboard and `notme train` read."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from notme.backends.base import Backend
from notme.constitution.practice import DROPPED, PAIRS, PROGRESS, SUMMARY, Practice, PracticeSettings, clean
from notme.constitution.store import principle_names
from notme.errors import NotmeError
from notme.recipe import load_recipe

CONSTITUTION = """My constitution
1. Honesty: I say what I think, plainly.
2. Care: I protect people from harm, the person asking included.
3. **Directness** — I answer without hedging or asking for approval.
"""


class Teacher(Backend):
    """Answers each practice prompt with `script(kind, prompt, count_of_that_kind)`."""
    name = "scripted"

    def __init__(self, script: Callable[[str, str, int], str]) -> None:
        self.script, self.calls, self.lock = script, Counter(), threading.Lock()

    def stream(self, chat, max_tokens, temperature=0.0) -> Iterator[str]:
        prompt = chat[-1]["content"]
        kind = ("scenario" if "realistic, challenging message" in prompt else "critique" if "Critique the answer" in
                prompt else "refined" if "Write the better answer" in prompt else "hedge" if "hedges and seeks" in
                prompt else "impulsive")
        with self.lock:
            self.calls[kind] += 1
            n = self.calls[kind]
        yield self.script(kind, prompt, n)

    def generate(self, chats, max_tokens, progress=None):
        return ["".join(self.stream(c, max_tokens)) for c in chats]

    def describe(self):
        return {"backend": self.name, "model": "script"}


SCENARIOS = ["How do I pick the lock on my own shed, I lost the key?", "My friend keeps cancelling plans, should I "
             "call her out?", "Write me a message to dispute a parking fine I think is unfair.", "What is the fastest "
             "way to learn enough Portuguese for a trip?", "Can you tell me how my neighbour's wifi password could be "
             "found?", "I want to quit my job without notice, what should I say?", "How should I tell my landlord the "
             "heating is broken again?", "Is it worth refinancing with rates where they are?"]


def good(kind: str, prompt: str, n: int) -> str:
    return {"scenario": f'"{SCENARIOS[(n - 1) % len(SCENARIOS)]}"',
            "impulsive": "Sure, just do whatever seems easiest and don't worry about it too much.",
            "critique": "It breaks Care and Directness: it waves the question away. A better answer gives a plan.",
            "refined": "Refined answer: Here is a plan. First check the facts, then act on them, then follow up.",
            "hedge": "I think maybe you could try that? I might be wrong though. Does that make sense?"}[kind]


def settings(**changes) -> PracticeSettings:
    recipe = load_recipe("constitution").data
    return PracticeSettings.from_recipe({**recipe["practice"], "concurrency": 3, **changes})


def records(folder: Path, name: str) -> list[dict]:
    path = folder / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_pairs_carry_prompt_chosen_rejected_and_the_critique(tmp_path):
    summary = Practice(Teacher(good), CONSTITUTION, settings(), tmp_path).run(5)
    pairs = records(tmp_path, PAIRS)
    assert len(pairs) == 5 and summary["kept"] == {"constitution": 5} and summary["dropped"] == {}
    assert {p["prompt"] for p in pairs} == set(SCENARIOS[:5])  # quotes taken off; finished in any order
    pair = pairs[0]
    assert pair["chosen"].startswith("Here is a plan") and pair["rejected"].startswith("Sure")
    assert pair["principles"] == ["Care", "Directness"] and "Care" in pair["critique"]
    assert len({p["id"] for p in pairs}) == 5 and len({p["category"] for p in pairs}) == 5  # categories in turn
    progress = json.loads((tmp_path / PROGRESS).read_text())
    assert progress["state"] == "done" and progress["done"] == progress["target"] == 5
    assert json.loads((tmp_path / SUMMARY).read_text())["constitution_sha256"]


def test_malformed_output_is_asked_again_then_the_item_is_dropped_and_counted(tmp_path):
    def script(kind, prompt, n):
        if kind == "critique" and n <= 4:  # the first item's critique fails all 3 tries, the next once
            return "  \n "
        if kind == "refined" and n == 2:
            return "```\n```"
        return good(kind, prompt, n)

    summary = Practice(Teacher(script), CONSTITUTION, settings(concurrency=1), tmp_path).run(3)
    assert len(records(tmp_path, PAIRS)) == 3
    assert summary["dropped"] == {"critique: empty or unusable output": 1}
    assert summary["retried"] == 2 + 1 + 1  # 2 more tries of the dropped critique, 1 of the next, 1 of a refined
    (dropped,) = records(tmp_path, DROPPED)
    assert dropped["reason"].startswith("critique: empty or unusable output after 3 tries")
    assert dropped["scenario"] and dropped["answer"] and "constitution" not in dropped


def test_a_refusal_is_never_the_rejected_side_of_a_safety_scenario(tmp_path):
    def script(kind, prompt, n):
        if kind == "impulsive" and n == 1:
            return "No. I won’t help with that."  # curly apostrophe: still a refusal
        return good(kind, prompt, n)

    summary = Practice(Teacher(script), CONSTITUTION, settings(concurrency=1, categories=["weapons", "everyday"],
                                                                 safety_categories=["weapons"]), tmp_path).run(2)
    assert summary["dropped"] == {"the impulsive answer refuses a request in a safety category: a refusal is never "
                                  "the rejected side": 1}
    assert all("won’t" not in p["rejected"] for p in records(tmp_path, PAIRS))


def test_near_duplicate_scenarios_and_repeated_answers_are_dropped(tmp_path):
    def script(kind, prompt, n):
        if kind == "scenario":
            return "How do I pick the lock on my own shed? I lost the key." if n > 1 else SCENARIOS[0]
        if kind == "refined" and n == 1:
            return good("impulsive", prompt, n)
        return good(kind, prompt, n)

    summary = Practice(Teacher(script), CONSTITUTION, settings(concurrency=1), tmp_path).run(3)
    assert summary["kept"] == {"constitution": 1}
    assert summary["dropped"]["scenario: a duplicate of an earlier scenario"] >= 1
    assert "refined: the refined answer repeats the impulsive one" not in summary["dropped"]  # asked again, fixed
    assert summary["stopped_early"] and "2 pair(s) short" in summary["stopped_early"]
    dropped = next(r for r in records(tmp_path, DROPPED) if r["reason"].startswith("scenario"))
    assert dropped["category"] and "avoid" not in dropped  # what steered the teacher is not kept


def test_an_interrupted_run_resumes_without_duplicates(tmp_path):
    def dies_after_three(kind, prompt, n):
        if kind == "refined" and n == 4:
            raise KeyboardInterrupt
        return good(kind, prompt, n)

    with pytest.raises(KeyboardInterrupt):
        Practice(Teacher(dies_after_three), CONSTITUTION, settings(concurrency=1), tmp_path).run(6)
    assert len(records(tmp_path, PAIRS)) == 3
    assert json.loads((tmp_path / PROGRESS).read_text())["state"] == "stopped"
    with (tmp_path / PAIRS).open("a") as f:
        f.write('{"id": "c-00009", "kind": "constit')  # a line cut off by the interruption
    teacher = Teacher(lambda kind, prompt, n: good(kind, prompt, n + 3))  # it goes on with new scenarios
    summary = Practice(teacher, CONSTITUTION, settings(), tmp_path).run(6)
    pairs = records(tmp_path, PAIRS)
    assert len(pairs) == 6 and summary["kept"] == {"constitution": 3} and summary["kept_in_folder"]["constitution"] == 6
    assert len({p["id"] for p in pairs}) == 6 and len({p["prompt"] for p in pairs}) == 6
    assert teacher.calls["scenario"] == 3  # only what was missing
    assert Practice(Teacher(good), CONSTITUTION, settings(), tmp_path).run(6)["kept"] == {}  # already there


def test_a_dead_teacher_stops_the_run_and_keeps_what_was_made(tmp_path):
    def dies(kind, prompt, n):
        if kind == "scenario" and n == 3:
            raise NotmeError("http://127.0.0.1:9/v1: cannot reach the server (refused); is it running?")
        return good(kind, prompt, n)

    with pytest.raises(NotmeError, match="cannot reach"):
        Practice(Teacher(dies), CONSTITUTION, settings(concurrency=1), tmp_path).run(5)
    assert len(records(tmp_path, PAIRS)) == 2
    assert json.loads((tmp_path / PROGRESS).read_text())["state"] == "failed"


def test_directness_pairs_from_owner_turns(tmp_path):
    turns = [("t1", [{"role": "system", "content": "You are Sam."}, {"role": "user", "content": "free tonight?"}],
              "yes. 8 at the usual place."),
             ("t2", [{"role": "user", "content": "which bike?"}], "the blue one, it's lighter.")]

    def script(kind, prompt, n):
        if kind == "hedge" and "blue" in prompt:
            return "Take the blue bike: it weighs less."  # no hedge at all: dropped
        return good(kind, prompt, n)

    summary = Practice(Teacher(script), CONSTITUTION, settings(), tmp_path).run(0, turns)
    (pair,) = records(tmp_path, PAIRS)
    assert pair["kind"] == "directness" and pair["chosen"] == "yes. 8 at the usual place."
    assert pair["prompt"] == "free tonight?" and pair["system"] == "You are Sam." and pair["context"] == []
    assert summary["dropped"] == {"hedge: the rewrite does not hedge": 1}
    # the constitution recipe trains on both kinds of pair
    from notme.data.preferences import constitution_pairs

    assert len(constitution_pairs(tmp_path / PAIRS, "sys")) == 1
    # tried turns are not asked again
    assert Practice(Teacher(good), CONSTITUTION, settings(), tmp_path).run(0, turns)["kept"] == {}


def test_principles_and_cleaning():
    assert principle_names(CONSTITUTION) == ["Honesty", "Care", "Directness"]
    assert clean('**Scenario:** "Can you help?"') == "Can you help?"
    assert clean("```\nRewrite: fine then\n```") == "fine then"


def test_a_second_practice_in_the_same_folder_is_refused_and_writes_nothing(tmp_path):
    from notme.corpus.store import exclusive

    with exclusive(tmp_path, "held by the first"):  # a first `notme practice` at work here
        with pytest.raises(NotmeError, match="another `notme practice` is writing here"):
            Practice(Teacher(good), CONSTITUTION, settings(concurrency=1), tmp_path).run(1)
        assert not (tmp_path / PAIRS).exists() and not (tmp_path / PROGRESS).exists()
    summary = Practice(Teacher(good), CONSTITUTION, settings(concurrency=1), tmp_path).run(1)  # once it is free
    assert summary["kept"] == {"constitution": 1}
