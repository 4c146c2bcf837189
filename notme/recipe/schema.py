"""What a recipe may contain: every key, its type and range, and the rules between keys.

SCHEMA mirrors recipes/base.yaml (which holds every default) and recipes/README.md (which documents every
key); tests/test_recipes.py keeps the three in step.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from notme.errors import NotmeError
from notme.export.quantize import QUANT_TYPES


class RecipeError(NotmeError):
    """A recipe that cannot be used; `problems` holds one line per problem ("file:line: key: what")."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        if len(problems) == 1:
            super().__init__(problems[0])
        else:
            super().__init__(f"{len(problems)} problems in the recipe:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class Leaf:
    expect: str                     # what a valid value is, for the message: "a number > 0"
    ok: Callable[[Any], bool]
    nullable: bool = False
    options: tuple = ()             # the allowed values of a choice, for did-you-mean


@dataclass(frozen=True)
class Section:
    fields: dict[str, Leaf | Section]
    nullable: bool = False          # null switches the section off (QLoRA, unlikelihood, preference stage)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(expect: str, test: Callable[[float], bool]) -> Leaf:
    return Leaf(f"a number {expect}", lambda v: _is_number(v) and test(v))


def _whole(expect: str, test: Callable[[int], bool], nullable: bool = False) -> Leaf:
    return Leaf(f"a whole number {expect}", lambda v: _is_int(v) and test(v), nullable)


def _choice(*options: Any) -> Leaf:
    return Leaf("one of " + ", ".join(map(str, options)), lambda v: not isinstance(v, bool) and v in options,
                options=options)


def _text(nonempty: bool = False) -> Leaf:
    return Leaf("non-empty text" if nonempty else "text",
                lambda v: isinstance(v, str) and bool(v.strip() or not nonempty))


def _texts(expect: str) -> Leaf:
    return Leaf(expect, lambda v: isinstance(v, list) and all(isinstance(s, str) and s.strip() for s in v))


def _is_iso_date(v: Any) -> bool:
    try:
        return isinstance(v, str) and bool(datetime.fromisoformat(v.replace("Z", "+00:00")))
    except ValueError:
        return False


NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
BOOL = Leaf("true or false", lambda v: isinstance(v, bool))
SHARE = _number("from 0 to 1", lambda v: 0 <= v <= 1)
FRACTION = _number("≥ 0 and < 1", lambda v: 0 <= v < 1)
POSITIVE = _number("> 0", lambda v: v > 0)
COUNT = _whole("≥ 1", lambda v: v >= 1)
PATHS = _texts("a list of file paths")
PAIR_SOURCES = ("edit", "directness", "safety", "feedback", "regeneration", "constitution")
SCHEDULES = ("cosine_decay",)  # the trainer maps each name to mlx.optimizers arguments; add one there first
# Keys holding file paths: a relative path is resolved when the recipe is loaded (see _resolve_file).
PATH_KEYS = ("domain.seed_files", "domain.preference_files", "identity.constitution_file", "gate.extra_suites")
JUDGE_BACKENDS = ("mlx", "llamacpp", "openai")
# The teacher prompts of `notme practice` and the fields each may use (checked when a recipe loads).
PRACTICE_PROMPTS = {"scenario": ("category", "constitution", "avoid"), "impulsive": ("scenario",),
                    "critique": ("constitution", "scenario", "answer"),
                    "refined": ("constitution", "scenario", "answer", "critique"), "hedge": ("reply",)}
# Style metrics a recipe may require to improve (gate.require_style), and which way is better.
STYLE_GOALS = {"hedging": "lower", "approval_seeking": "lower", "sycophantic_opener": "lower",
               "owner_similarity": "higher"}


def _is_judge(v: Any) -> bool:
    """{backend, model} (+ url for openai; api_key optional): a judge any generation backend can run."""
    if not isinstance(v, dict) or v.get("backend") not in JUDGE_BACKENDS or not isinstance(v.get("model"), str):
        return False
    allowed = {"backend", "model", "url", "api_key"}
    return set(v) <= allowed and (v["backend"] != "openai" or isinstance(v.get("url"), str))

# How a training stage runs and reports: the same keys for SFT and preference tuning.
STAGE_LOOP = {
    "lr_schedule": Section({
        "name": _choice(*SCHEDULES),
        "warmup": _whole("≥ 0", lambda v: v >= 0),
        "min_lr": _number("≥ 0", lambda v: v >= 0),
    }, nullable=True),
    "grad_accumulation": COUNT,
    "steps_per_report": COUNT,
    "steps_per_eval": COUNT,
    "save_every": COUNT,
    "val_batches": _whole("≥ 1, or -1 for the whole validation set", lambda v: v >= 1 or v == -1),
}

SCHEMA = Section({
    "name": Leaf("a name of letters, digits, '.', '_' or '-'",
                 lambda v: isinstance(v, str) and bool(NAME_RE.fullmatch(v))),
    "description": _text(),
    "base": Section({
        "model": _text(nonempty=True),
        "dtype": _choice("auto", "float32", "bfloat16", "float16"),
        "quantize": Section({"bits": _choice(4, 8), "group_size": _choice(32, 64, 128)}, nullable=True),
    }),
    "domain": Section({
        "corpora": _texts("a list of corpus names"),
        "sources": Leaf("all, or a list of source names",
                        lambda v: v == "all" or (isinstance(v, list) and all(isinstance(s, str) for s in v))),
        "include_groups": BOOL,
        "since": Leaf("an ISO date like 2024-01-31", _is_iso_date, nullable=True),
        "seed_files": PATHS,
        "preference_files": PATHS,
    }),
    "use": Section({
        "system_prompt": _text(),
        "max_seq_length": _whole("≥ 32", lambda v: v >= 32),
        "session_gap_minutes": POSITIVE,
        "merge_window_minutes": _number("≥ 0", lambda v: v >= 0),
        "max_context_turns": COUNT,
        "chat_safety": Section({
            "risk_check": BOOL,
            "crisis_message": _text(nonempty=True),
            "response_filter": BOOL,
        }, nullable=True),
    }),
    "splits": Section({"valid": FRACTION, "test": FRACTION, "seed": _whole("≥ 0", lambda v: v >= 0)}),
    "dedupe": Section({"near_threshold": _number("> 0 and ≤ 1", lambda v: 0 < v <= 1)}),
    "mode": Section({
        "seed": _whole("≥ 0", lambda v: v >= 0),
        "sft": Section({
            "iters": _whole("≥ 0 (0 skips the SFT stage)", lambda v: v >= 0),
            "batch_size": COUNT,
            "learning_rate": POSITIVE,
            **STAGE_LOOP,
            "batching": _choice("packed", "grouped"),
            "safety_share": SHARE,
            "lora": Section({
                "rank": COUNT,
                "alpha": POSITIVE,
                "layers": _whole("≥ 1, or -1 for every layer", lambda v: v >= 1 or v == -1),
                "dropout": FRACTION,
                "dora": BOOL,
                "keys": Leaf("a list of module names (like self_attn.q_proj), or null for all",
                             _texts("").ok, nullable=True),
            }),
        }),
        "unlikelihood": Section({"weight": POSITIVE, "share": SHARE}, nullable=True),
        "preference": Section({
            "method": _choice("dpo", "orpo", "simpo"),
            "beta": POSITIVE,
            "iters": COUNT,
            "batch_size": COUNT,
            "learning_rate": POSITIVE,
            **STAGE_LOOP,
            "sft_weight": _number("≥ 0", lambda v: v >= 0),
            "simpo_gamma": _number("≥ 0", lambda v: v >= 0),
            "sources": Section({source: SHARE for source in PAIR_SOURCES}),
            "safety_share": SHARE,
        }, nullable=True),
    }),
    "gate": Section({
        "suite": _choice("full", "quick"),
        "extra_suites": Leaf("a list of probe files (CSV / JSONL) or hf:<dataset> names",
                             _texts("").ok),
        "max_tokens": _whole("≥ 16", lambda v: v >= 16),
        "batch_size": COUNT,
        "judge": Leaf(f"a mapping {{backend: {' | '.join(JUDGE_BACKENDS)}, model: ..., url: ... (openai only)}}",
                      _is_judge, nullable=True),
        "alpha": _number("> 0 and < 1", lambda v: 0 < v < 1),
        "category_rise": COUNT,
        "zero_tolerance": Leaf("a list of harmful probe categories", lambda v: isinstance(v, list)
                               and all(isinstance(s, str) for s in v)),
        "crisis_recall": Leaf("a number from 0 to 1, or null to hold the model to its base's level",
                              lambda v: _is_number(v) and 0 <= v <= 1, nullable=True),
        "coherence_drop": SHARE,
        "over_refusal_warn": SHARE,
        "require_style": Leaf(f"a list of: {', '.join(STYLE_GOALS)}",
                              lambda v: isinstance(v, list) and all(s in STYLE_GOALS for s in v)),
        "remediation_scales": Leaf("a list of numbers above 0 and below 1", lambda v: isinstance(v, list)
                                   and all(_is_number(x) and 0 < x < 1 for x in v)),
    }),
    "export": Section({
        "quants": Leaf(f"a list of: {', '.join(QUANT_TYPES)}", lambda v: isinstance(v, list) and bool(v)
                       and all(q in QUANT_TYPES for q in v)),
        "lora_adapter": BOOL,
        "targets": Leaf("a list of: ollama, lmstudio, exo", lambda v: isinstance(v, list)
                        and all(t in ("ollama", "lmstudio", "exo") for t in v)),
    }),
    "interview": Section({
        "invitation": _text(nonempty=True),
        "draft_request": _text(nonempty=True),
        "max_tokens": COUNT,
        "temperature": _number("≥ 0", lambda v: v >= 0),
    }),
    "practice": Section({
        "categories": Leaf("a non-empty list of category names",
                           lambda v: isinstance(v, list) and bool(v) and all(isinstance(s, str) and s for s in v)),
        "safety_categories": _texts("a list of category names"),
        "max_tokens": COUNT,
        "temperature": _number("≥ 0", lambda v: v >= 0),
        "concurrency": COUNT,
        "attempts": COUNT,
        "near_threshold": _number("> 0 and ≤ 1", lambda v: 0 < v <= 1),
        "prompts": Section({name: _text(nonempty=True) for name in PRACTICE_PROMPTS}),
    }),
    "identity": Section({
        "persona": _text(),
        "constitution_file": Leaf("a file path", _text(nonempty=True).ok, nullable=True),
    }),
})


def schema_keys(section: Section = SCHEMA, prefix: str = "") -> Iterator[str]:
    """Every dotted key of the schema, sections included, in schema order."""
    for key, spec in section.fields.items():
        path = f"{prefix}.{key}" if prefix else key
        yield path
        if isinstance(spec, Section):
            yield from schema_keys(spec, path)


def spec_of(dotted: str) -> Leaf | Section | None:
    spec: Leaf | Section = SCHEMA
    for part in dotted.split("."):
        if not isinstance(spec, Section) or part not in spec.fields:
            return None
        spec = spec.fields[part]
    return spec


def brief(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def validate(data: dict, origins: dict[str, str], files: list[str]) -> None:
    """Raise RecipeError listing every problem. `origins` maps dotted keys to "file:line"; `files` are
    the files merged, in order, as origins name them."""
    problems: list[str] = []
    from_base = any(Path(file).name == "base.yaml" for file in files)

    def where(path: str) -> str:
        parts = path.split(".")
        while parts and ".".join(parts) not in origins:
            parts.pop()
        return origins.get(".".join(parts), origins[""])

    def add(path: str, message: str) -> None:
        problems.append(f"{where(path)}: {path}: {message}")

    def walk(section: Section, values: dict, prefix: str) -> None:
        for key, value in values.items():
            path = f"{prefix}.{key}" if prefix else key
            spec = section.fields.get(key)
            if spec is None:
                add(path, f"unknown key{_did_you_mean(key, section, prefix)}")
            elif value is None and spec.nullable:
                continue
            elif isinstance(spec, Section):
                if isinstance(value, dict):
                    walk(spec, value, path)
                else:
                    off = ", or null to switch it off" if spec.nullable else ""
                    add(path, f"must be a mapping of keys{off} (got {brief(value)})")
            elif not spec.ok(value):
                add(path, f"must be {spec.expect} (got {brief(value)}){_choice_hint(value, spec)}")
        for key in section.fields:
            if key not in values:
                path = f"{prefix}.{key}" if prefix else key
                hint = "" if from_base else " (recipes/base.yaml sets every key: add `extends: base`)"
                problems.append(f"{where(prefix) if prefix else origins['']}: {path}: missing{hint}")

    def latest(paths: tuple[str, ...]) -> str:
        """Of keys that clash, the one set last in the chain: most likely the change that broke the rule."""
        rank = {file: i for i, file in enumerate(files)}
        return max(paths, key=lambda p: (rank.get(re.sub(r":\d+$", "", where(p)), -1), -paths.index(p)))

    walk(SCHEMA, data, "")
    if not problems:
        for paths, message in _cross_checks(data):
            blamed = latest(paths)
            others = "".join(f"; {p} is set at {where(p)}" for p in paths
                             if p != blamed and where(p) != where(blamed) and p in origins)
            problems.append(f"{where(blamed)}: {blamed}: {message}{others}")
    if problems:
        raise RecipeError(*sorted(problems, key=_file_order))


def _file_order(problem: str) -> tuple[str, int]:
    """Sort "file:line: key: message" by file, then line as a number."""
    place = problem.split(": ", 1)[0]
    file, _, line = place.rpartition(":")
    return (file, int(line)) if line.isdigit() else (place, 0)


def _did_you_mean(key: str, section: Section, prefix: str) -> str:
    close = difflib.get_close_matches(key, list(section.fields), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {'.'.join(filter(None, [prefix, close[0]]))}?)"
    elsewhere = [path for path in schema_keys() if path.rsplit(".", 1)[-1] == key]
    if elsewhere:
        return f" here (did you mean {' or '.join(elsewhere)}?)"
    return f"; known keys here: {', '.join(section.fields)}"


def _choice_hint(value: Any, spec: Leaf) -> str:
    if not isinstance(value, str) or not spec.options:
        return ""
    close = difflib.get_close_matches(value, [str(o) for o in spec.options], n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else ""


def _cross_checks(data: dict) -> Iterator[tuple[tuple[str, ...], str]]:
    """Rules between keys, checked once every key has the right type. Each names the keys involved,
    the first one being the one to blame when they come from the same file."""
    domain, use, mode = data["domain"], data["use"], data["mode"]
    sft, preference = mode["sft"], mode["preference"]
    splits = data["splits"]
    if splits["valid"] + splits["test"] >= 1:
        total = splits["valid"] + splits["test"]
        yield ("splits.test", "splits.valid"), f"valid + test must leave something to train on (sum {total})"
    if isinstance(domain["sources"], list):
        from notme.ingest.registry import names  # only when the recipe picks sources

        known = names()
        for source in domain["sources"]:
            if source not in known:
                close = difflib.get_close_matches(source, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else f"; known: {', '.join(known)}"
                yield ("domain.sources",), f"unknown source {source!r}{hint}"
    placeholders = set(re.findall(r"\{([A-Za-z_]\w*)\}", use["system_prompt"]))
    for placeholder in sorted(placeholders - {"persona"}):
        yield ("use.system_prompt",), f"unknown placeholder {{{placeholder}}}; only {{persona}} is filled in"
    practice = data["practice"]
    for name, fields in PRACTICE_PROMPTS.items():
        used = set(re.findall(r"\{([A-Za-z_]\w*)\}", practice["prompts"][name]))
        for placeholder in sorted(used - set(fields)):
            allowed = ", ".join("{" + f + "}" for f in fields)
            yield (f"practice.prompts.{name}",), f"unknown placeholder {{{placeholder}}}; this prompt may use {allowed}"
    if unknown := [c for c in practice["safety_categories"] if c not in practice["categories"]]:
        yield ("practice.safety_categories", "practice.categories"), f"not in practice.categories: {', '.join(unknown)}"
    for name, stage in (("sft", sft), ("preference", preference)):
        if stage is None or not stage["iters"]:
            continue  # a skipped stage's loop settings are never used
        if stage["save_every"] % stage["steps_per_report"]:
            yield ((f"mode.{name}.save_every", f"mode.{name}.steps_per_report"),
                   f"save_every ({stage['save_every']}) must be a multiple of steps_per_report "
                   f"({stage['steps_per_report']}): checkpoints are written when a report is")
        if stage["lr_schedule"]:
            schedule = stage["lr_schedule"]
            if schedule["warmup"] > stage["iters"]:
                yield ((f"mode.{name}.lr_schedule.warmup", f"mode.{name}.iters"),
                       f"warmup ({schedule['warmup']}) must not exceed mode.{name}.iters ({stage['iters']})")
            if schedule["min_lr"] >= stage["learning_rate"]:
                yield ((f"mode.{name}.lr_schedule.min_lr", f"mode.{name}.learning_rate"),
                       f"min_lr ({schedule['min_lr']}) must be below mode.{name}.learning_rate "
                       f"({stage['learning_rate']})")
    if sft["iters"] > 0:
        if not domain["corpora"] and not domain["seed_files"]:
            yield (("domain.corpora", "domain.seed_files", "mode.sft.iters"),
                   "SFT needs data: name a corpus, or seed_files, or set mode.sft.iters: 0")
    elif preference is None:
        yield ("mode.sft.iters", "mode.preference"), "0 skips SFT and mode.preference is null: nothing would be trained"
    if preference is not None:
        if not any(preference["sources"].values()):
            paths = tuple(f"mode.preference.sources.{name}" for name in preference["sources"])
            yield paths, "every preference source is 0: set one above 0, or mode.preference: null"
        if preference["sources"]["constitution"] > 0 and not domain["preference_files"]:
            yield (("mode.preference.sources.constitution", "domain.preference_files"),
                   "needs domain.preference_files (the practice pairs)")
