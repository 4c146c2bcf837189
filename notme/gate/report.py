"""The gate's two reports: report.json (everything, every generation) and report.md (for a person)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from notme.corpus.store import atomic_write
from notme.gate.verdict import Outcome, Verdict

VERDICT = "verdict.json"


def write_report(folder: Path, context: dict[str, Any], verdict: Verdict, outcomes: list[Outcome],
                 remediation: list[dict[str, Any]], assessment: bool = False) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    report = {**context, "passed": None if assessment else verdict.passed,
              "blocks": [] if assessment else verdict.blocks, "warnings": [] if assessment else verdict.warnings,
              **verdict.sections, "remediation": remediation, "probes": [o.row() for o in outcomes]}
    atomic_write(folder / "report.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    atomic_write(folder / "report.md", render_markdown(report, assessment))
    if not assessment:  # the verdict alone, for readers that need no replies (the dashboard)
        atomic_write(folder / VERDICT, json.dumps(verdict_summary(report), indent=1) + "\n")
    return report


def verdict_summary(report: dict[str, Any]) -> dict[str, Any]:
    return {"passed": report["passed"], "tier": report["suite"]["tier"], "scale": report["binding"]["scale"],
            "adapter_sha256": report["binding"]["adapter_sha256"], "blocks": report["blocks"],
            "warnings": report["warnings"], "harmful": {side: report["harmful"][side]["rate"]
                                                         for side in ("base", "tuned")}}


def _pct(r: dict[str, Any]) -> str:
    low, high = r["ci95"]
    return f"{r['k']}/{r['n']} = {r['rate']:.1%} [{low:.1%}, {high:.1%}]"


def render_markdown(report: dict[str, Any], assessment: bool = False) -> str:
    lines: list[str] = []
    add = lines.append
    if assessment:
        add(f"# Baseline assessment: {report['assessment']}\n")
    else:
        add(f"# Gate report: {report['run']}\n")
        add(f"**{'PASSED' if report['passed'] else 'BLOCKED'}**\n")
        for block in report["blocks"]:
            add(f"- blocks: {block}")
        for warning in report["warnings"]:
            add(f"- warning: {warning}")
        add("")
    b = report["binding"]
    add("## What was compared\n")
    add(f"- base model: `{b['base_model']}` (sha256 {b['base_sha256'][:16]}…)")
    if "adapter_sha256" in b:
        add(f"- adapters: sha256 {b['adapter_sha256'][:16]}… at scale {b['scale']}")
    s, d = report["suite"], report["decoding"]
    add(f"- probes: {s['probes']} ({s['tier']} suite, {s['version']})")
    add(f"- decoding: {d['sampling']}, at most {d['max_tokens']} tokens, batch {d['batch_size']}; system prompt: "
        f"{json.dumps(d['system_prompt'][:120], ensure_ascii=False)}")
    judge = report["detection"]["judge"]
    add(f"- refusal detector: lexical{f' + judge {judge}' if judge else ' only (no judge configured)'}\n")

    sides = ("base",) if assessment else ("base", "tuned")
    h = report["harmful"]
    add("## Harmful requests (compliance, lower is better; 95% Wilson intervals)\n")
    add("| category | " + " | ".join(sides) + ("" if assessment else " | rise") + " |")
    add("|---|" + "---|" * len(sides) + ("" if assessment else "---:|"))
    for category, c in h["categories"].items():
        add(f"| {category} | " + " | ".join(_pct(c[side]) for side in sides)
            + ("" if assessment else f" | {c['rise']:+d}") + " |")
    add("| **all** | " + " | ".join(_pct(h[side]) for side in sides) + ("" if assessment else " | ") + " |\n")
    if not assessment:
        f = h["flips"]
        low, high = h["difference_ci95"]
        add(f"Refusal → compliance: {f['refusal_to_compliance']}; compliance → refusal: {f['compliance_to_refusal']}; "
            f"one-sided exact McNemar p = {h['mcnemar_p']:.4f}; paired difference {low:+.1%} to {high:+.1%}.\n")
    o, c, coh = report["over_refusal"], report["crisis"], report["coherence"]
    add("## Other measures\n")
    add("| measure | " + " | ".join(sides) + " |")
    add("|---|" + "---|" * len(sides))
    add("| benign prompts refused (over-refusal) | " + " | ".join(_pct(o[side]) for side in sides) + " |")
    add("| high-risk disclosures given care + a resource | " + " | ".join(_pct(c[side]) for side in sides) + " |")
    add("| coherent replies | " + " | ".join(_pct(coh[side]) for side in sides) + " |")
    add("| identity consistency across paraphrases | " + " | ".join(f"{report['identity'][side]:.2f}"
                                                                 for side in sides) + " |")
    style = report["style"]
    for metric in ("hedging", "approval_seeking", "sycophantic_opener", "hedges_per_100_words", "mean_words",
                   "owner_similarity"):
        if metric in style["base"]:
            add(f"| style: {metric} | " + " | ".join(f"{style[side][metric]:.3f}" for side in sides) + " |")
    add("")
    if report.get("remediation"):
        add("## Remediation: lower adapter scales\n")
        add("| scale | verdict | blocks | hedging | approval_seeking |")
        add("|---:|---|---:|---:|---:|")
        for r in report["remediation"]:
            add(f"| {r['scale']} | {'passes' if r['passed'] else 'blocked'} | {len(r['blocks'])} | "
                f"{r['style']['hedging']:.3f} | {r['style']['approval_seeking']:.3f} |")
        passing = [r for r in report["remediation"] if r["passed"]]
        add("\n" + (f"Scale {passing[0]['scale']} passes: gate it for export with "
                    f"`notme gate {report['run']} --scale {passing[0]['scale']}`." if passing else
                    "No scale tried passes: retrain with more safety anchors (mode.preference.safety_share) or a "
                    "lower learning rate.") + "\n")
    if not assessment and h["flipped"]:
        add("## Every refusal that turned into compliance, verbatim\n")
        for row in h["flipped"]:
            add(f"### {row['id']} ({row['category']})\n")
            add(f"> {row['prompt']}\n")
            add(f"base ({row['base']['label']}, {row['base']['tier']}): {_quote(row['base']['reply'])}\n")
            add(f"tuned ({row['tuned']['label']}, {row['tuned']['tier']}): {_quote(row['tuned']['reply'])}\n")
    disagreements = report["detector"]["disagreements"]
    if disagreements:
        add("## Judge and lexical detector disagree (review these)\n")
        for row in disagreements:
            add(f"- {row['id']} ({row['model']}): judge {row['judge']}, lexical {row['lexical']}: "
                f"{_quote(row['reply'])}")
        add("")
    return "\n".join(lines) + "\n"


def _quote(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return "`" + (text[:limit] + "…" if len(text) > limit else text).replace("`", "'") + "`"
