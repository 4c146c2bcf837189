"""`notme gate RUN` and `notme assess MODEL`: generate on the probes, label, decide, report.

The base's replies depend only on the base, the probes and the decoding, so they are cached under
`<workspace>/gate-cache/` and shared by every run of that base (and by `--remediate`, which only
regenerates the tuned side at lower adapter scales).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notme.backends.mlx import MLXBackend
from notme.corpus.store import atomic_write
from notme.data.heldout import held_out_turns
from notme.errors import InputError, NotmeError, read_jsonl_objects
from notme.gate.binding import adapter_fingerprint, model_fingerprint
from notme.gate.detect import Label, classify
from notme.gate.judge import Judge
from notme.gate.report import write_report
from notme.gate.suites import Probe, load_suite, suite_version
from notme.gate.verdict import GateSettings, Outcome, Verdict, decide
from notme.runs.record import RunRecord, trained_system_prompt
from notme.workspace import workspace

Progress = Callable[[str, int, int], None]  # (phase, done so far, total)
HELD_OUT_PROMPTS = 64  # held-out corpus prompts for the style metrics: enough for a stable profile

DEFAULTS: dict[str, Any] = {"suite": "full", "extra_suites": [], "max_tokens": 256, "batch_size": 32, "judge": None,
                            "remediation_scales": [0.75, 0.5, 0.25]}


@dataclass
class GateResult:
    report: dict[str, Any]
    path: Path
    remediation: list[dict[str, Any]] = field(default_factory=list)


def gate_run(run: str | Path, tier: str | None = None, scale: float = 1.0, remediate: bool = False,
             progress: Progress | None = None) -> GateResult:
    """Gate a finished run against its base; writes `<run>/gate/report.json` and `report.md`."""
    record = RunRecord.open(run)
    state = record.status().get("state")
    if state != "done":
        raise NotmeError(f"{record.name}: the run is {state or 'not started'}, not done; the gate judges finished "
                         "runs only")
    from notme.recipe import load_recipe

    recipe = load_recipe(str(record.path / "recipe.yaml")).data
    gate = {**DEFAULTS, **(recipe.get("gate") or {})}
    if not 0 < scale <= 4:
        raise NotmeError(f"--scale must be above 0 (and at most 4), got {scale}")
    with record.activity("gate"):
        probes = load_suite(tier or gate["suite"], gate["extra_suites"])
        system = trained_system_prompt(record.path)
        held_out = _held_out(record.path)
        settings = GateSettings.from_recipe(gate)

        session = _Session.load(recipe["base"], gate, system, progress)
        base = session.replies(probes, held_out, cache=True)
        adapter_sha = adapter_fingerprint(record.path)
        session.add_adapters(record.path)
        judge = Judge.from_spec(gate["judge"]) if gate.get("judge") else None

        def attempt(factor: float) -> tuple[Verdict, list[Outcome], list[tuple[str, str, str]]]:
            session.set_scale(factor)
            tuned = session.replies(probes, held_out, cache=False)
            outcomes = label_outcomes(probes, base["probes"], tuned["probes"], judge)
            triples = [(b, t, own) for b, t, own in zip(base["held_out"], tuned["held_out"],
                                                        [h[1] for h in held_out], strict=True)]
            return decide(outcomes, settings, triples), outcomes, triples

        verdict, outcomes, _ = attempt(scale)
        context = {
            "run": record.name, "recipe": recipe.get("name"), "suite": {"tier": tier or gate["suite"],
                                                                        "version": suite_version(probes),
                                                                        "probes": len(probes)},
            "binding": {"adapter_sha256": adapter_sha, "scale": scale, "base_model": session.describe(),
                        "base_sha256": session.base_sha},
            "decoding": {"sampling": "greedy", "max_tokens": gate["max_tokens"], "batch_size": gate["batch_size"],
                         "system_prompt": system, "chat_template": "the base tokenizer's"},
            "detection": {"lexical": "notme.gate.detect", "judge": judge.describe() if judge else None},
            "thresholds": vars(settings),
        }
        remediation: list[dict[str, Any]] = []
        if remediate and not verdict.passed:
            for factor in [f for f in gate["remediation_scales"] if f < scale]:
                lowered, _, _ = attempt(factor)
                remediation.append({"scale": factor, "passed": lowered.passed, "blocks": lowered.blocks,
                                    "style": lowered.sections["style"]["tuned"]})
                if lowered.passed:
                    break
            session.set_scale(scale)
        report = write_report(record.path / "gate", context, verdict, outcomes, remediation)
        record.log(f"gate ({context['suite']['tier']} suite, scale {scale}): "
                   + ("PASSED" if verdict.passed else "BLOCKED: " + "; ".join(verdict.blocks)))
        return GateResult(report, record.path / "gate", remediation)


def assess(model: str, tier: str = "full", system: str = "", max_tokens: int = 256, batch_size: int = 32,
           progress: Progress | None = None) -> GateResult:
    """The baseline report of a base model before any training: its rates on every probe kind."""
    probes = load_suite(tier)
    gate = {**DEFAULTS, "max_tokens": max_tokens, "batch_size": batch_size}
    session = _Session.load({"model": model}, gate, system, progress)
    replies = session.replies(probes, [], cache=True)["probes"]
    outcomes = label_outcomes(probes, replies, replies, None)
    verdict = decide(outcomes, GateSettings(crisis_recall=None))
    name = Path(session.folder).name
    context = {"assessment": name, "suite": {"tier": tier, "version": suite_version(probes), "probes": len(probes)},
               "binding": {"base_model": session.describe(), "base_sha256": session.base_sha},
               "decoding": {"sampling": "greedy", "max_tokens": max_tokens, "batch_size": batch_size,
                            "system_prompt": system, "chat_template": "the model tokenizer's"},
               "detection": {"lexical": "notme.gate.detect", "judge": None}}
    out = workspace() / "assessments" / name
    report = write_report(out, context, verdict, outcomes, [], assessment=True)
    return GateResult(report, out)


def label_outcomes(probes: list[Probe], base: list[str], tuned: list[str], judge: Judge | None) -> list[Outcome]:
    """Lexical labels for every reply; the judge's for harmful and benign replies where it is configured and
    gives one of the three answers (the lexical label stays beside it, for the disagreement list)."""
    base_lex = [classify(r) for r in base]
    tuned_lex = [classify(r) for r in tuned]
    base_final, tuned_final = list(base_lex), list(tuned_lex)
    if judge:
        judged = [i for i, p in enumerate(probes) if p.kind in ("harmful", "benign")]
        asked = [(probes[i].prompt, base[i]) for i in judged] + [(probes[i].prompt, tuned[i]) for i in judged]
        answers = judge.label(asked)
        for slot, i in enumerate(judged):
            base_final[i] = answers[slot] or base_lex[i]
            tuned_final[i] = answers[len(judged) + slot] or tuned_lex[i]
    return [Outcome(p, b, t, bf, tf, bl, tl)
            for p, b, t, bf, tf, bl, tl in zip(probes, base, tuned, base_final, tuned_final, base_lex, tuned_lex,
                                               strict=True)]


def classify_file(path: Path, out: Path | None = None, judge_spec: dict[str, Any] | None = None) -> dict[str, int]:
    """`notme gate classify`: label each {"prompt", "response"} line; writes FILE.labelled.jsonl (or `out`)."""
    rows = []
    for number, row in read_jsonl_objects(path):
        if not isinstance(row.get("response"), str):
            raise InputError(path, 'each line needs a "response" string (and a "prompt")', where=f"line {number}")
        rows.append(row)
    labels: list[Label] = [classify(r["response"]) for r in rows]
    if judge_spec:
        judged = Judge.from_spec(judge_spec).label([(str(r.get("prompt", "")), r["response"]) for r in rows])
        labels = [j or lex for j, lex in zip(judged, labels, strict=True)]
    out = out or path.with_name(path.stem + ".labelled.jsonl")
    counts: dict[str, int] = {"refusal": 0, "partial": 0, "compliance": 0}
    with out.open("w", encoding="utf-8") as f:
        for row, label in zip(rows, labels, strict=True):
            counts[label.label] += 1
            f.write(json.dumps({**row, "label": label.label, "tier": label.tier, "reason": label.reason},
                               ensure_ascii=False) + "\n")
    return counts


# ----------------------------------------------------------------------------------- internals

class _Session:
    """The base model loaded once; generation with the adapters off (base) or on (tuned)."""

    def __init__(self, model: Any, tokenizer: Any, folder: Path, gate: dict[str, Any], system: str,
                 progress: Progress | None) -> None:
        self.model, self.tokenizer, self.folder = model, tokenizer, folder
        self.gate, self.system, self.progress = gate, system, progress
        self.base_sha = model_fingerprint(folder)
        self.backend = MLXBackend(loaded=(model, tokenizer), batch_size=int(gate["batch_size"]), label=str(folder))
        self.lora: list[tuple[Any, float]] = []  # (LoRA layer, its trained scale)
        self.side = "base"
        self.scale = 1.0
        self.variant: list[Any] = []

    @classmethod
    def load(cls, base: dict[str, Any], gate: dict[str, Any], system: str, progress: Progress | None) -> _Session:
        from notme.models import load_model

        model, tokenizer, folder = load_model(base["model"], dtype=base.get("dtype", "auto"),
                                              quantize=base.get("quantize"))
        model.eval()
        session = cls(model, tokenizer, folder, gate, system, progress)
        session.variant = [base.get("dtype", "auto"), base.get("quantize")]  # same weights, other numerics
        return session

    def describe(self) -> str:
        return str(self.folder)

    def add_adapters(self, run: Path) -> None:
        from mlx_lm.tuner.utils import load_adapters

        load_adapters(self.model, str(run))
        self.model.eval()  # no LoRA dropout while generating
        self.lora = [(m, float(m.scale)) for _, m in self.model.named_modules() if hasattr(m, "lora_a")]
        self.side = "tuned"

    def set_scale(self, factor: float) -> None:
        for layer, trained in self.lora:
            layer.scale = trained * factor
        self.scale = factor

    def replies(self, probes: list[Probe], held_out: list[tuple[list[dict], str]], cache: bool) -> dict[str, list[str]]:
        """Replies to the probes and to the held-out corpus prompts. Cached separately: the probe replies
        of a base are shared by every run on it, the held-out ones belong to one run's data."""
        probe_chats = [self._chat(p.prompt) for p in probes]
        held_chats = [context for context, _ in held_out]
        total, done = len(probe_chats) + len(held_chats), 0
        label = "base model" if self.side == "base" else f"tuned ×{self.scale:g}"

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if self.progress:
                self.progress(label, done, total)

        return {"probes": self._generate(probe_chats, cache, tick), "held_out": self._generate(held_chats, cache, tick)}

    def _generate(self, chats: list[list[dict]], cache: bool, tick: Callable[[int], None]) -> list[str]:
        if not chats:
            return []
        key = [self.base_sha, self.variant, self.gate["max_tokens"], self.gate["batch_size"], chats]
        digest = hashlib.sha256(json.dumps(key, ensure_ascii=False).encode())
        path = workspace() / "gate-cache" / f"{digest.hexdigest()[:24]}.json"
        if cache and path.is_file():
            texts = json.loads(path.read_text(encoding="utf-8"))
            tick(len(texts))
            return texts
        texts = self.backend.generate(chats, int(self.gate["max_tokens"]), tick)
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(texts, ensure_ascii=False))
        return texts

    def _chat(self, prompt: str) -> list[dict[str, str]]:
        return ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": prompt}]


def _held_out(run: Path) -> list[tuple[list[dict], str]]:
    """(context, the owner's actual reply) from the run's test split: prompts the model never trained on."""
    return held_out_turns(run / "data" / "sft" / "test.jsonl", HELD_OUT_PROMPTS)
