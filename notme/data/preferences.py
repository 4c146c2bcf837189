"""Preference pairs, each labelled with its source:

- edit          the owner rewrote a message (an edited prompt in an AI chat, an edited text): chosen =
                the version kept, rejected = the earlier draft; the owner is the assistant role.
- directness    chosen = the owner's reply, rejected = the same reply made hedging / approval-seeking.
- safety        the bundled anchors (safety_anchors.yaml): a harmful request, a short direct refusal
                (chosen) against an eager compliance opener with no content (rejected).
- constitution  pairs from the recipe's `domain.preference_files` (self-refinement), as written.
- feedback, regeneration
                ChatGPT thumbs and regenerated answers. They judge the AI's answers, not the owner's
                words: the owner's prompt is the prompt and the AI's versions are chosen / rejected.
                The shipped recipes weight them 0 because they teach the AI's voice, not the owner's.

A legitimate refusal must never be the rejected answer (the model would learn to stop refusing):
every rejected text except the safety source's (compliance by construction) goes through
`is_refusal`, and a pair that fails is dropped and counted.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from notme.corpus.schema import Conversation
from notme.data.examples import estimate_tokens, recent_context
from notme.data.hedges import hedge, is_refusal
from notme.data.sessions import Turn
from notme.errors import InputError, read_jsonl_objects

ANCHORS_PATH = Path(__file__).with_name("safety_anchors.yaml")
SOURCES = ("edit", "directness", "safety", "constitution", "feedback", "regeneration")
MIN_DIRECTNESS_WORDS = 2  # "ok" made hedging teaches nothing but noise


@dataclass(frozen=True)
class Limits:
    max_tokens: int
    max_context_turns: int


def pair_record(source: str, conversation: str, pair_id: str, prompt: str, chosen: str, rejected: str,
                system: str = "", context: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    if system:
        record["system"] = system
    if context:
        record["context"] = context
    return record | {"source": source, "conversation": conversation, "id": pair_id} | extra


def acceptable(record: dict[str, Any], dropped: Counter[str]) -> bool:
    """The checks every pair passes: two different answers, and no refusal in the rejected slot."""
    source = record["source"]
    if not record["chosen"].strip() or not record["rejected"].strip():
        dropped[f"{source}: empty answer"] += 1
        return False
    if record["chosen"].strip() == record["rejected"].strip():
        dropped[f"{source}: chosen equals rejected"] += 1
        return False
    if source != "safety" and is_refusal(record["rejected"]):
        dropped[f"{source}: rejected is a refusal"] += 1
        return False
    return True


def pair_tokens(record: dict[str, Any]) -> int:
    parts = [record.get("system", ""), record["prompt"], *(m["content"] for m in record.get("context", []))]
    return sum(estimate_tokens(p) for p in parts if p) + max(estimate_tokens(record["chosen"]),
                                                              estimate_tokens(record["rejected"]))


def _framed(turns: list[Turn], at: int, answers: tuple[str, str], system: str,
            limits: Limits) -> tuple[str, list[dict[str, str]]] | None:
    """(prompt, context) for an answer at turn `at`: the turns before it, most recent first, cut to fit
    next to the longer answer. None when they cannot fit."""
    budget = limits.max_tokens - (estimate_tokens(system) if system else 0) - max(map(estimate_tokens, answers))
    before = recent_context(turns, 0, at, budget, limits.max_context_turns)
    if before is None:
        return None
    if not before or before[-1].role != "user":
        return "", [{"role": t.role, "content": t.text} for t in before]
    return before[-1].text, [{"role": t.role, "content": t.text} for t in before[:-1]]


def _with_version(turn: Turn, conversation: Conversation, position: int, version: str) -> str:
    """The turn's text with one of its messages replaced by another version of that message."""
    return turn.text.replace(conversation.messages[position].text.strip(), version.strip(), 1)


def edit_pairs(conversation: Conversation, session: int, turns: list[Turn], system: str, limits: Limits,
               dropped: Counter[str]) -> list[dict[str, Any]]:
    out = []
    for at, turn in enumerate(turns):
        if turn.role != "assistant":
            continue
        for position in turn.positions:
            for number, draft in enumerate(_versions(conversation, position)):
                rejected = _with_version(turn, conversation, position, draft)
                framed = _framed(turns, at, (turn.text, rejected), system, limits)
                if framed is None:
                    dropped["edit: too long"] += 1
                    continue
                record = pair_record("edit", conversation.id, f"{conversation.id}#{session}.{at}.{position}.{number}",
                                     framed[0], turn.text, rejected, system, framed[1])
                if acceptable(record, dropped):
                    out.append(record)
    return out


def directness_pairs(conversation: Conversation, session: int, turns: list[Turn], trainable: list[bool],
                     system: str, limits: Limits, seed: int, dropped: Counter[str]) -> list[dict[str, Any]]:
    out = []
    for at, turn in enumerate(turns):
        if turn.role != "assistant" or not trainable[at]:
            continue
        if is_refusal(turn.text):
            dropped["directness: the owner's reply is a refusal"] += 1
            continue
        if len(turn.text.split()) < MIN_DIRECTNESS_WORDS:
            dropped["directness: reply too short to hedge"] += 1
            continue
        pair_id = f"{conversation.id}#{session}.{at}"
        rejected = hedge(turn.text, random.Random(f"{seed}\x1fdirectness\x1f{pair_id}"))
        framed = _framed(turns, at, (turn.text, rejected), system, limits)
        if framed is None:
            dropped["directness: too long"] += 1
            continue
        record = pair_record("directness", conversation.id, pair_id, framed[0], turn.text, rejected, system,
                             framed[1])
        if acceptable(record, dropped):
            out.append(record)
    return out


def ai_answer_pairs(conversation: Conversation, session: int, turns: list[Turn], limits: Limits,
                    dropped: Counter[str]) -> list[dict[str, Any]]:
    """Pairs from thumbs (`feedback`) and regenerated answers (`regeneration`) in an AI chat. `turns`
    are framed the AI's way (the owner is the user role); no system prompt: it is not the owner's voice."""
    out = []
    for at, turn in enumerate(turns):
        if turn.role != "assistant":
            continue
        for position in turn.positions:
            message = conversation.messages[position]
            rating = message.extra.get("feedback")
            versions = _versions(conversation, position)
            if rating in ("up", "down") and not versions:
                dropped["feedback: no other answer to compare"] += 1
                continue
            source = "feedback" if rating in ("up", "down") else "regeneration"
            for number, other in enumerate(versions):
                kept, alternative = turn.text, _with_version(turn, conversation, position, other)
                chosen, rejected = (alternative, kept) if rating == "down" else (kept, alternative)
                framed = _framed(turns, at, (chosen, rejected), "", limits)
                if framed is None or not framed[0]:
                    dropped[f"{source}: too long" if framed is None else f"{source}: no prompt before it"] += 1
                    continue
                record = pair_record(source, conversation.id, f"{conversation.id}#{session}.{at}.{position}.{number}",
                                     framed[0], chosen, rejected, "", framed[1])
                if acceptable(record, dropped):
                    out.append(record)
    return out


def _versions(conversation: Conversation, position: int) -> list[str]:
    versions = conversation.messages[position].extra.get("alternatives") or []
    return [v for v in versions if isinstance(v, str) and v.strip()] if isinstance(versions, list) else []


# ------------------------------------------------------------------------------------------- safety

@dataclass(frozen=True)
class Anchor:
    id: str
    request: str
    replies: tuple[str, ...]  # what the model should answer: short refusals, or care and a resource
    kind: str = "refusal"  # refusal | crisis
    rejected: tuple[str, ...] = ()  # what it must not answer; empty: the compliance openers


def load_anchors(path: Path = ANCHORS_PATH) -> tuple[list[Anchor], tuple[str, ...]]:
    """(anchors, compliance openers) from the bundled file: harmful requests with refusals, and crisis
    disclosures with caring replies."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    general = tuple(data["refusals"])
    anchors = []
    for category, spec in data["categories"].items():
        own = tuple(spec.get("refusals") or ())
        for number, request in enumerate(spec["requests"]):
            anchors.append(Anchor(f"{category}-{number}", request, own + general if own else general))
    care = tuple(data["crisis"]["replies"])
    # A disclosure answered with a bare refusal is the failure to unlearn: the refusals are its rejected side.
    anchors += [Anchor(f"crisis-{number}", disclosure, care, "crisis", rejected=general)
                for number, disclosure in enumerate(data["crisis"]["disclosures"])]
    return anchors, tuple(data["openers"])


def in_owner_voice(refusal: str, lowercase: bool) -> str:
    """Owners who write in lowercase refuse in lowercase too ("no, i won't. ask me something else.")."""
    return refusal.lower() if lowercase else refusal


def _anchor_rounds(anchors: list[Anchor], count: int, rng: random.Random) -> Iterator[tuple[Anchor, int]]:
    """`count` (anchor, repeat number) draws, cycling through each kind's anchors in a fresh order each
    round, the kinds taking turns. Turns, not proportions: refusals outnumber crisis anchors four to
    one, and drawn in proportion they taught a terse owner's model to answer every held-out crisis
    disclosure with "no." (tests/gate/test_gate_smollm2.py)."""
    kinds = sorted({a.kind for a in anchors})
    orders: dict[str, list[Anchor]] = {kind: [] for kind in kinds}
    used: Counter[str] = Counter()
    for number in range(count if anchors else 0):
        kind = kinds[number % len(kinds)]
        if not orders[kind]:
            orders[kind] = sorted((a for a in anchors if a.kind == kind), key=lambda a: a.id)
            rng.shuffle(orders[kind])
        anchor = orders[kind].pop()
        yield anchor, used[anchor.id]
        used[anchor.id] += 1


def safety_pairs(anchors: list[Anchor], openers: tuple[str, ...], count: int, system: str, lowercase: bool,
                 seed: int, split: str) -> list[dict[str, Any]]:
    """`count` pairs from `anchors`: the anchor's reply (chosen) against an eager compliance opener, or
    for a crisis disclosure against a bare refusal."""
    rng = random.Random(f"{seed}\x1fsafety\x1f{split}")
    out = []
    for anchor, repeat in _anchor_rounds(anchors, count, rng):
        chosen = in_owner_voice(rng.choice(anchor.replies), lowercase)
        rejected = in_owner_voice(rng.choice(anchor.rejected), lowercase) if anchor.rejected else rng.choice(openers)
        out.append(pair_record("safety", f"safety:{anchor.id}", f"safety:{anchor.id}.{repeat}", anchor.request,
                               chosen, rejected, system))
    return out


def safety_examples(anchors: list[Anchor], count: int, system: str, lowercase: bool, seed: int,
                    split: str) -> list[dict[str, Any]]:
    """`count` SFT examples from `anchors` (request → refusal or care), for the SFT mix: the safety data
    goes into both stages, as Bianchi et al. ("Safety-Tuned LLaMAs") mixed it."""
    rng = random.Random(f"{seed}\x1fsafety-sft\x1f{split}")
    out = []
    for anchor, repeat in _anchor_rounds(anchors, count, rng):
        messages = [{"role": "user", "content": anchor.request},
                    {"role": "assistant", "content": in_owner_voice(rng.choice(anchor.replies), lowercase)}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        key = f"safety:{anchor.id}"
        out.append({"messages": messages, "source": "safety", "conversation": key, "id": f"{key}.{repeat}"})
    return out


# ------------------------------------------------------------------------------------- constitution

def constitution_pairs(path: Path, system: str) -> list[dict[str, Any]]:
    """Pairs from a JSONL file of {"prompt", "chosen", "rejected", "critique"?, "system"?, "context"?}."""
    out = []
    for number, item in read_jsonl_objects(path):
        for key in ("prompt", "chosen", "rejected"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise InputError(path, f"{key!r} must be a non-empty string", where=f"line {number}")
        context = item.get("context") or []
        if not isinstance(context, list) or not all(
            isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
            for m in context
        ):
            raise InputError(path, "'context' must be a list of {role: user|assistant, content}",
                             where=f"line {number}")
        extra = {"critique": item["critique"]} if isinstance(item.get("critique"), str) else {}
        key = f"constitution:{path.name}:{number}"
        out.append(pair_record("constitution", key, key, item["prompt"], item["chosen"], item["rejected"],
                               item.get("system") if isinstance(item.get("system"), str) else system,
                               [{"role": m["role"], "content": m["content"]} for m in context], **extra))
    return out


# ---------------------------------------------------------------------------------------------- mix

def weighted(pairs: list[dict[str, Any]], weight: float, rng: random.Random) -> list[dict[str, Any]]:
    """Weights act as sampling shares: 0 leaves a source out, 0.5 keeps half its pairs, 2 repeats each
    twice. The sample is drawn with `rng` and keeps the input order."""
    if weight <= 0 or not pairs:
        return []
    whole, fraction = divmod(weight, 1.0)
    out = [p for p in pairs for _ in range(int(whole))]
    extra = round(fraction * len(pairs))
    if extra:
        picked = sorted(rng.sample(range(len(pairs)), extra))
        out += [pairs[i] for i in picked]
    return out


def safety_count(others: int, share: float, weight: float) -> int:
    """How many safety pairs make them `share` of the mix next to `others` pairs."""
    if weight <= 0 or share <= 0:
        return 0
    share = min(share * weight, 0.5)
    return max(1, round(share * others / (1 - share))) if others else 0
