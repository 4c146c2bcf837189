"""`build_datasets`: a recipe's SFT examples and preference pairs, written to
`<workspace>/datasets/<recipe>/` all at once (a temporary folder renamed into place):

    sft/train.jsonl sft/valid.jsonl sft/test.jsonl   {"messages": [...], "source", "conversation", "id"}
    pref/train.jsonl pref/valid.jsonl                {"prompt", "chosen", "rejected", "system"?, "context"?,
                                                      "source", "conversation", "id"}
    build.json                                       the BuildReport (counts, drops, splits, recipe digest)

The same recipe over the same corpus gives the same bytes: every choice is seeded from the recipe.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import statistics
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from notme.corpus.schema import Conversation
from notme.corpus.store import Corpus
from notme.data import preferences as prefs
from notme.data.dedupe import ReplyDeduper
from notme.data.examples import estimate_tokens, record_tokens, sft_record, windows
from notme.data.hedges import add_suffix, hedge_suffix, is_refusal
from notme.data.sessions import split_sessions, turns_of
from notme.data.splits import SPLITS, assign_splits
from notme.errors import InputError, NotmeError, read_jsonl_objects
from notme.workspace import datasets_dir


class RecipeLike(Protocol):
    name: str
    data: dict[str, Any]
    digest: str

    def get(self, key: str) -> Any: ...


def setting(recipe: RecipeLike, key: str, default: Any = None) -> Any:
    """A resolved recipe value; `default` when the key is absent or null."""
    try:
        value = recipe.get(key)
    except (KeyError, TypeError, AttributeError):
        return default
    return default if value is None else value


@dataclass(frozen=True)
class Settings:
    """What the build reads from a recipe, read once."""

    corpora: tuple[str, ...]
    sources: frozenset[str] | None  # None: all
    include_groups: bool
    since: str | None  # fixed-width ISO UTC, comparable with corpus timestamps
    seed_files: tuple[Path, ...]
    preference_files: tuple[Path, ...]
    system: str
    max_seq_length: int
    session_gap_minutes: float
    merge_window_minutes: float
    max_context_turns: int
    valid: float
    test: float
    split_seed: int
    near_threshold: float
    seed: int
    sft_stage: bool  # mode.sft.iters > 0: an SFT stage that needs examples
    unlikely_share: float  # 0: no negatives
    preference: bool
    weights: dict[str, float]
    safety_share: float  # of preference pairs
    sft_safety_share: float  # of SFT examples

    @classmethod
    def from_recipe(cls, recipe: RecipeLike) -> Settings:
        folder = Path(recipe.path).parent if getattr(recipe, "path", None) else Path.cwd()
        sources = setting(recipe, "domain.sources", "all")
        unlikely = setting(recipe, "mode.unlikelihood")
        preference = setting(recipe, "mode.preference")
        weights = dict(preference.get("sources") or {}) if isinstance(preference, dict) else {}
        unknown = sorted(set(weights) - set(prefs.SOURCES))
        if unknown:
            raise NotmeError(f"recipe {recipe.name!r}: mode.preference.sources: unknown source {unknown[0]!r} "
                             f"(sources: {', '.join(prefs.SOURCES)})")
        return cls(
            corpora=(corpora,) if isinstance(corpora := setting(recipe, "domain.corpora", ["default"]), str)
            else tuple(corpora),
            sources=None if sources == "all" else frozenset([sources] if isinstance(sources, str) else sources),
            include_groups=bool(setting(recipe, "domain.include_groups", False)),
            since=_since(setting(recipe, "domain.since")),
            seed_files=tuple(folder / p for p in setting(recipe, "domain.seed_files", [])),
            preference_files=tuple(folder / p for p in setting(recipe, "domain.preference_files", [])),
            system=system_prompt(recipe, folder),
            max_seq_length=int(setting(recipe, "use.max_seq_length", 512)),
            session_gap_minutes=float(setting(recipe, "use.session_gap_minutes", 120)),
            merge_window_minutes=float(setting(recipe, "use.merge_window_minutes", 5)),
            max_context_turns=int(setting(recipe, "use.max_context_turns", 8)),
            valid=float(setting(recipe, "splits.valid", 0.1)),
            test=float(setting(recipe, "splits.test", 0.1)),
            split_seed=int(setting(recipe, "splits.seed", 0)),
            near_threshold=float(setting(recipe, "dedupe.near_threshold", 0.85)),
            seed=int(setting(recipe, "mode.seed", 0)),
            sft_stage=int(setting(recipe, "mode.sft.iters", 1)) > 0,
            unlikely_share=float(unlikely.get("share", 0.0) or 0.0) if isinstance(unlikely, dict) else 0.0,
            preference=isinstance(preference, dict),
            weights={k: float(v) for k, v in weights.items()},
            safety_share=float(preference.get("safety_share", 0.03) or 0.0) if isinstance(preference, dict) else 0.0,
            sft_safety_share=float(setting(recipe, "mode.sft.safety_share", 0.03) or 0.0),
        )


def _since(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is None else value.replace(tzinfo=None) - value.utcoffset()
        return moment.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00.000Z"
    try:
        return _since(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        raise NotmeError(f"domain.since: {value!r} is not an ISO date (e.g. 2024-06-01)") from None


def system_prompt(recipe: RecipeLike, folder: Path) -> str:
    """`use.system_prompt` with {persona} filled from identity.persona and the constitution file.
    A loaded `notme.recipe.Recipe` does this itself (its errors name the recipe file and line)."""
    own = getattr(recipe, "system_prompt", None)
    if callable(own):
        return str(own())
    persona = str(setting(recipe, "identity.persona", "")).strip()
    constitution = setting(recipe, "identity.constitution_file")
    if constitution:
        path = folder / constitution
        if not path.is_file():
            raise NotmeError(f"recipe {recipe.name!r}: identity.constitution_file: {path} does not exist")
        persona = "\n\n".join(p for p in (persona, path.read_text(encoding="utf-8").strip()) if p)
    return str(setting(recipe, "use.system_prompt", "")).replace("{persona}", persona).strip()


@dataclass
class BuildReport:
    recipe: str
    recipe_digest: str
    path: Path
    corpora: dict[str, int] = field(default_factory=dict)  # corpus → conversations read
    sft: dict[str, int] = field(default_factory=dict)  # split → records, negatives included
    unlikely: dict[str, int] = field(default_factory=dict)  # split → unlikelihood negatives
    targets: dict[str, int] = field(default_factory=dict)  # split → trained owner turns
    pref: dict[str, dict[str, int]] = field(default_factory=dict)  # split → source → pairs
    pref_found: dict[str, int] = field(default_factory=dict)  # source → pairs before weighting
    dropped: dict[str, int] = field(default_factory=dict)  # reason → count
    dedupe: dict[str, int] = field(default_factory=dict)  # exact / near → owner replies removed
    tokens: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # sft|pref → split → stats
    missing_files: list[str] = field(default_factory=list)
    splits: dict[str, list[str]] = field(default_factory=dict)  # split → conversation ids
    system: str = ""  # the system prompt every example carries: the gate asks its probes under it too
    sft_safety: dict[str, int] = field(default_factory=dict)  # split → safety examples in the SFT mix

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe, "recipe_digest": self.recipe_digest, "path": str(self.path),
            "corpora": self.corpora, "sft": self.sft, "unlikely": self.unlikely, "targets": self.targets,
            "pref": self.pref, "pref_found": self.pref_found, "dropped": self.dropped, "dedupe": self.dedupe,
            "tokens": self.tokens, "missing_files": self.missing_files, "splits": self.splits,
            "system": self.system, "sft_safety": self.sft_safety,
        }


@dataclass
class _Collected:
    """Per conversation key: SFT records and pairs, before the split."""

    sft: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    pairs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    funnel: Counter[str] = field(default_factory=Counter)  # why conversations were left out
    dropped: Counter[str] = field(default_factory=Counter)
    dedupe: Counter[str] = field(default_factory=Counter)
    corpora: dict[str, int] = field(default_factory=dict)
    sources_seen: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)  # conversation ids met so far
    newest: str = ""
    owner_lowercase: int = 0
    owner_turns: int = 0


def build_datasets(recipe: RecipeLike | str, out_dir: Path | None = None) -> BuildReport:
    """Build the recipe's datasets (a Recipe, or a recipe name or path to load) into `out_dir`
    (default `<workspace>/datasets/<recipe name>/`)."""
    if isinstance(recipe, str):
        from notme.recipe import load_recipe  # imported here: recipes are a sibling part of the engine

        recipe = load_recipe(recipe)
    settings = Settings.from_recipe(recipe)
    out_dir = out_dir or datasets_dir() / recipe.name
    collected = _Collected()
    deduper = ReplyDeduper(settings.near_threshold)
    for name in settings.corpora:
        try:
            corpus = Corpus(name).require()
        except NotmeError as e:
            raise NotmeError(f"recipe {recipe.name!r}: domain.corpora: {e}") from None
        collected.corpora[name] = 0
        for conversation in corpus.conversations():
            collected.corpora[name] += 1
            _collect(conversation, settings, deduper, collected)
    seeds = _seed_records(settings, collected.dropped)
    for key, record in seeds:
        collected.sft[key].append(record)
    if settings.sft_stage and not any(collected.sft.values()):
        raise NotmeError(f"recipe {recipe.name!r} gives no SFT examples: {_why_empty(settings, collected)}")

    sizes = {key: len(collected.sft.get(key, [])) for key in sorted({*collected.sft, *collected.pairs})}
    assigned = assign_splits(sizes, settings.valid, settings.test, settings.split_seed)
    report = BuildReport(recipe.name, getattr(recipe, "digest", ""), out_dir, corpora=collected.corpora,
                         system=settings.system)
    report.splits = {s: [k for k in sizes if assigned[k] == s] for s in SPLITS}

    sft = {s: [r for k in report.splits[s] for r in collected.sft.get(k, [])] for s in SPLITS}
    report.targets = {s: sum(m["role"] == "assistant" for r in sft[s] for m in r["messages"]) for s in SPLITS}
    negatives = _unlikely_negatives(sft["train"], settings, collected.dropped)  # from the owner's replies only
    report.sft_safety = _mix_sft_safety(sft, collected, settings)
    report.unlikely = {"train": len(negatives), "valid": 0, "test": 0}
    sft["train"] = _shuffled(sft["train"] + negatives, settings.seed, "sft")

    pairs = _preference_mix(collected, assigned, settings, report) if settings.preference else {}
    pref = {s: pairs.get(s, []) for s in ("train", "valid")}
    if not settings.sft_stage and not any(p["source"] != "safety" for p in pref["train"]):
        missing = f" (missing: {', '.join(report.missing_files)})" if report.missing_files else ""
        raise NotmeError(f"recipe {recipe.name!r} has no SFT stage (mode.sft.iters is 0) and gives no preference "
                         f"pairs besides the safety anchors{missing}")

    report.sft = {s: len(sft[s]) for s in SPLITS}
    report.pref = {s: dict(sorted(Counter(p["source"] for p in pref[s]).items())) for s in pref}
    report.dropped = dict(sorted(collected.dropped.items()))
    report.dedupe = {"exact": collected.dedupe["exact"], "near": collected.dedupe["near"]}
    report.tokens = {
        "sft": {s: _stats([record_tokens(r) for r in sft[s]]) for s in SPLITS},
        "pref": {s: _stats([prefs.pair_tokens(p) for p in pref[s]]) for s in pref},
    }
    files = {f"sft/{s}.jsonl": sft[s] for s in SPLITS} | {f"pref/{s}.jsonl": pref[s] for s in pref}
    build_json = {k: v for k, v in report.to_dict().items() if k != "path"}
    _write_atomically(out_dir, files, build_json)
    return report


def _collect(conversation: Conversation, settings: Settings, deduper: ReplyDeduper, collected: _Collected) -> None:
    collected.sources_seen.add(conversation.source)
    collected.newest = max(collected.newest, conversation.last_timestamp or "")
    if settings.sources is not None and conversation.source not in settings.sources:
        collected.funnel["other source"] += 1
        return
    if conversation.is_group and not settings.include_groups:
        collected.funnel["group chat"] += 1
        return
    key = conversation.id
    if key in collected.seen:
        collected.funnel["same id in another corpus"] += 1
        return
    collected.seen.add(key)
    if not conversation.messages:
        collected.funnel["empty"] += 1
        return
    sessions = split_sessions(conversation, settings.session_gap_minutes, settings.since)
    if not sessions:
        collected.funnel["before since"] += 1
        return
    if not any(conversation.messages[p].is_me for s in sessions for p in s):
        collected.funnel["no owner messages"] += 1
        return
    collected.funnel["used"] += 1
    budget = settings.max_seq_length - (estimate_tokens(settings.system) if settings.system else 0)
    limits = prefs.Limits(settings.max_seq_length, settings.max_context_turns)
    for number, positions in enumerate(sessions):
        turns = turns_of(conversation, positions, settings.merge_window_minutes)
        trainable = [False] * len(turns)
        for at, turn in enumerate(turns):
            if turn.role != "assistant":
                continue
            collected.owner_turns += 1
            collected.owner_lowercase += turn.text[:1].islower()
            if estimate_tokens(turn.text) > budget:
                collected.dropped["reply too long"] += 1
                continue
            duplicate = deduper.check(turn.text)
            if duplicate:
                collected.dedupe[duplicate] += 1
                continue
            trainable[at] = True
        for window in windows(turns, trainable, budget, settings.max_context_turns, number, collected.dropped):
            collected.sft[key].append(sft_record(window, settings.system, conversation.source, key))
        if not settings.preference:
            continue
        found = prefs.edit_pairs(conversation, number, turns, settings.system, limits, collected.dropped)
        found += prefs.directness_pairs(conversation, number, turns, trainable, settings.system, limits,
                                        settings.seed, collected.dropped)
        if conversation.kind == "assistant":
            ai_turns = turns_of(conversation, positions, settings.merge_window_minutes, owner_role="user")
            found += prefs.ai_answer_pairs(conversation, number, ai_turns, limits, collected.dropped)
        collected.pairs[key] += found


def _seed_records(settings: Settings, dropped: Counter[str]) -> list[tuple[str, dict[str, Any]]]:
    """Extra SFT examples written by hand (`domain.seed_files`), in the SFT format."""
    out = []
    for path in settings.seed_files:
        if not path.is_file():
            raise NotmeError(f"domain.seed_files: {path} does not exist")
        for number, item in read_jsonl_objects(path):
            messages = item.get("messages")
            if not isinstance(messages, list) or not all(
                isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
                and isinstance(m.get("content"), str) for m in messages
            ) or not any(m["role"] == "assistant" for m in messages):
                raise InputError(path, 'expected {"messages": [{"role": system|user|assistant, "content": …}]} '
                                 "with at least one assistant message", where=f"line {number}")
            messages = [{"role": m["role"], "content": m["content"]} for m in messages]
            if settings.system and messages[0]["role"] != "system":
                messages.insert(0, {"role": "system", "content": settings.system})
            key = f"seed:{path.name}:{number}"
            record = {"messages": messages, "source": "seed", "conversation": key, "id": key}
            if record_tokens(record) > settings.max_seq_length:
                dropped["seed too long"] += 1
                continue
            out.append((key, record))
    return out


def _unlikely_negatives(train: list[dict[str, Any]], settings: Settings, dropped: Counter[str]) -> list[dict]:
    """Copies of `share` of the train examples whose last reply ends with an approval-seeking closer,
    marked with `unlikely_suffix` (the only tokens the unlikelihood term penalises). Never a refusal:
    "No." + "Does that make sense?" would teach the model to distrust its refusals."""
    if settings.unlikely_share <= 0 or not train:
        return []
    candidates = []
    for record in sorted(train, key=lambda r: r["id"]):
        if is_refusal(record["messages"][-1]["content"]):
            dropped["unlikelihood: last reply is a refusal"] += 1
        else:
            candidates.append(record)
    count = min(len(candidates), round(settings.unlikely_share * len(train)))
    rng = random.Random(f"{settings.seed}\x1funlikely")
    out = []
    for index in sorted(rng.sample(range(len(candidates)), count)):
        record = candidates[index]
        suffix = hedge_suffix(random.Random(f"{settings.seed}\x1funlikely\x1f{record['id']}"))
        messages = [dict(m) for m in record["messages"]]
        messages[-1]["content"] = add_suffix(messages[-1]["content"], suffix)
        out.append(record | {"messages": messages, "id": record["id"] + "~unlikely", "unlikely_suffix": suffix})
    return out


def _writes_lowercase(collected: _Collected) -> bool:
    return collected.owner_turns > 0 and collected.owner_lowercase / collected.owner_turns > 0.5


def _mix_sft_safety(sft: dict[str, list[dict[str, Any]]], collected: _Collected, settings: Settings) -> dict[str, int]:
    """Add safety anchors (refusals and crisis care) to the train and valid SFT splits as
    `mode.sft.safety_share` of each, the anchors split like the preference pairs' (no anchor in both)."""
    added = {s: 0 for s in SPLITS}
    if not settings.sft_stage or settings.sft_safety_share <= 0:
        return added
    anchors, _ = prefs.load_anchors()
    anchor_split = assign_splits({a.id: 1 for a in anchors}, settings.valid, 0.0, settings.split_seed)
    for split in ("train", "valid"):
        count = prefs.safety_count(len(sft[split]), settings.sft_safety_share, 1.0)
        mine = [a for a in anchors if anchor_split[a.id] == split]
        examples = prefs.safety_examples(mine, count, settings.system, _writes_lowercase(collected),
                                         settings.seed, split)
        sft[split] += examples
        added[split] = len(examples)
    return added


def _preference_mix(collected: _Collected, assigned: dict[str, str], settings: Settings,
                    report: BuildReport) -> dict[str, list[dict[str, Any]]]:
    """Pairs per split (train / valid; pairs of test conversations are held out), weighted per source,
    with safety anchors as `safety_share` of each split's mix."""
    by_split: dict[str, dict[str, list[dict[str, Any]]]] = {s: defaultdict(list) for s in ("train", "valid")}
    for key in sorted(collected.pairs):
        split = assigned.get(key, "train")
        if split == "test":
            collected.dropped["pairs held out with test conversations"] += len(collected.pairs[key])
            continue
        for pair in collected.pairs[key]:
            by_split[split][pair["source"]].append(pair)
    constitution = []
    for path in settings.preference_files:
        if path.is_file():
            constitution += prefs.constitution_pairs(path, settings.system)
        else:
            report.missing_files.append(str(path))
    kept = [p for p in constitution if prefs.acceptable(p, collected.dropped)]
    free = assign_splits(dict.fromkeys((p["id"] for p in kept), 1), settings.valid, 0.0, settings.split_seed)
    for pair in kept:
        by_split[free[pair["id"]]]["constitution"].append(pair)

    found = Counter(p["source"] for split in by_split.values() for pairs in split.values() for p in pairs)
    anchors, openers = prefs.load_anchors()
    anchor_split = assign_splits({a.id: 1 for a in anchors}, settings.valid, 0.0, settings.split_seed)
    lowercase = _writes_lowercase(collected)
    out = {}
    for split, sources in by_split.items():
        mix = []
        for source in prefs.SOURCES:
            if source != "safety":
                rng = random.Random(f"{settings.seed}\x1fweight\x1f{source}\x1f{split}")
                mix += prefs.weighted(sources.get(source, []), settings.weights.get(source, 0.0), rng)
        mine = [a for a in anchors if anchor_split[a.id] == split]
        weight = settings.weights.get("safety", 0.0)
        count = prefs.safety_count(len(mix), settings.safety_share, weight) if mix else (len(mine) if weight else 0)
        mix += prefs.safety_pairs(mine, openers, count, settings.system, lowercase, settings.seed, split)
        out[split] = _shuffled(mix, settings.seed, f"pref\x1f{split}") if split == "train" else mix
    found["safety"] = len(anchors)
    report.pref_found = {s: found.get(s, 0) for s in prefs.SOURCES}
    return out


def _shuffled(records: list[dict[str, Any]], seed: int, what: str) -> list[dict[str, Any]]:
    records = list(records)
    random.Random(f"{seed}\x1fshuffle\x1f{what}").shuffle(records)
    return records


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered), "min": ordered[0], "mean": round(statistics.fmean(ordered), 1),
        "p50": ordered[len(ordered) // 2], "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }


def _why_empty(settings: Settings, collected: _Collected) -> str:
    funnel, read = collected.funnel, sum(collected.corpora.values())
    names = ", ".join(collected.corpora) or "none"
    if not settings.corpora:
        return "domain.corpora is empty and there are no domain.seed_files examples"
    if read == 0:
        return f"the corpora ({names}) hold no conversations; ingest an export first (`notme ingest`)"
    if funnel["other source"] == read:
        wanted = ", ".join(sorted(settings.sources or ()))
        return (f"no conversations from the sources in domain.sources ({wanted}); "
                f"the corpora have: {', '.join(sorted(collected.sources_seen))}")
    if funnel["used"] == 0 and funnel["before since"]:
        return (f"every message of the selected conversations is before domain.since ({settings.since[:10]}); "
                f"the newest message is from {collected.newest[:10] or 'an unknown date'}")
    if funnel["used"] == 0 and funnel["group chat"]:
        return "the only matching conversations are group chats and domain.include_groups is false"
    if funnel["used"] == 0:
        return ("no owner messages in the selected conversations (is the owner known? "
                "see `notme corpus owner`)")
    reasons = Counter({"reply too long": collected.dropped["reply too long"],
                       "duplicate": collected.dedupe["exact"] + collected.dedupe["near"],
                       "no room for context": collected.dropped["no room for context"]})
    listed = ", ".join(f"{reason} ×{n}" for reason, n in reasons.most_common() if n)
    return (f"every one of the owner's {collected.owner_turns} replies was dropped ({listed}); "
            f"use.max_seq_length is {settings.max_seq_length}")


def _write_atomically(out_dir: Path, files: dict[str, list[dict[str, Any]]], build_json: dict[str, Any]) -> None:
    """Write everything into a temporary folder beside `out_dir`, then swap it in: a reader sees the old
    datasets or the new ones, never a mix (the old folder is moved aside for the instant of the swap)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NotmeError(f"{out_dir} exists and is not a folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    old = None
    try:
        for relative, records in files.items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as out:
                for record in records:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
        (tmp / "build.json").write_text(json.dumps(build_json, ensure_ascii=False, indent=2) + "\n",
                                        encoding="utf-8")
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".old"))
            os.replace(out_dir, old / "datasets")
        try:
            os.replace(tmp, out_dir)
        except BaseException:
            if old is not None:
                os.replace(old / "datasets", out_dir)
            raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
