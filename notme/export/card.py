"""The model card beside every export: the model's journey from its base to this file, in figures.

Only aggregates: counts per source, example and token counts, curves, gate rates, parity numbers.
No conversation ids, names or text from the owner's corpus go in (the splits in build.json name
people; they stay in the run folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from notme.runs.record import read_metrics

SPARK = "▁▂▃▄▅▆▇█"


def model_card(record: dict[str, Any], run: Path) -> str:
    build = _json(run / "data" / "build.json")
    report = _json(run / "gate" / "report.json")
    info = _json(run / "run.json")
    lines = [f"# {record['name']}", "",
             f"A model that writes like its owner, fine-tuned with notme {info.get('notme', '')} from "
             f"`{info.get('base', '?')}` with the `{info.get('recipe', '?')}` recipe, "
             f"exported {record['created']}.", ""]
    lines += ["## Files", "", "| file | type | size | sha256 |", "|---|---|---:|---|"]
    lines += [f"| {f['name']} | {f['kind']} | {f['bytes'] / 1e6:,.1f} MB | `{f['sha256'][:16]}…` |"
              for f in record["files"]]
    lines += ["", "## Data", ""]
    lines += _data_section(build)
    lines += ["", "## Training", ""]
    lines += _training_section(run)
    lines += ["", "## Safety gate", ""]
    lines += _gate_section(report)
    lines += ["", "## Parity with the trained model", "",
              "The same prompts through the MLX model and each GGUF in llama.cpp: same chat prompt from the "
              "embedded template, same token ids, last-position logit cosine, greedy reply stopping on the "
              "end-of-turn token.", "",
              "| file | prompt | tokens | min cosine | threshold | stops | passed |", "|---|---|---|---:|---:|---|---|"]
    for check in record["parity"]:
        prompts = check["prompts"]
        lines.append(f"| {check['file']} | {'same' if all(p['same_prompt'] for p in prompts) else 'DIFFERENT'} | "
                     f"{'same' if all(p['same_tokens'] for p in prompts) else 'DIFFERENT'} | "
                     f"{check['min_cosine']:.5f} | {check['threshold']} | "
                     f"{'yes' if check['stop_tokens_ok'] else 'NO'} | {'yes' if check['passed'] else 'NO'} |")
    lines += ["", "## Use it", ""]
    lines += [f"- {line}" for line in record.get("how_to_use", [])]
    return "\n".join(lines) + "\n"


def _data_section(build: dict[str, Any]) -> list[str]:
    if not build:
        return ["(no dataset record in the run)"]
    sources: dict[str, int] = {}
    for ids in (build.get("splits") or {}).values():
        for conversation in ids:
            source = str(conversation).split(":", 1)[0]
            sources[source] = sources.get(source, 0) + 1
    lines = ["| source | conversations |", "|---|---:|"]
    lines += [f"| {source} | {n} |" for source, n in sorted(sources.items())]
    sft = build.get("sft", {})
    tokens = (build.get("tokens") or {}).get("sft", {}).get("train", {})
    lines += ["", f"SFT examples: {sft.get('train', 0)} train / {sft.get('valid', 0)} valid / {sft.get('test', 0)} "
                  f"test (train tokens per example: median {tokens.get('p50', '?')}, max {tokens.get('max', '?')}); "
                  f"safety anchors in the SFT mix: {(build.get('sft_safety') or {}).get('train', 0)}."]
    pairs = (build.get("pref") or {}).get("train") or {}
    if pairs:
        lines.append("Preference pairs (train): " + ", ".join(f"{kind} {n}" for kind, n in sorted(pairs.items())) + ".")
    return lines


def _training_section(run: Path) -> list[str]:
    entries, _ = read_metrics(run)
    lines: list[str] = []
    for stage in dict.fromkeys(e.get("stage") for e in entries if e.get("stage")):
        loss = [e["loss"] for e in entries if e.get("stage") == stage and "loss" in e]
        val = [(e["step"], e["val_loss"]) for e in entries if e.get("stage") == stage and "val_loss" in e]
        if not loss and not val:
            continue
        line = f"- {stage}: {len(loss)} reports"
        if loss:
            line += f", loss {loss[0]:.3f} → {loss[-1]:.3f}  `{sparkline(loss)}`"
        if val:
            line += f"; validation loss {val[0][1]:.3f} (step {val[0][0]}) → {val[-1][1]:.3f} (step {val[-1][0]})"
        lines.append(line)
    return lines or ["(no metrics recorded)"]


def _gate_section(report: dict[str, Any]) -> list[str]:
    if not report:
        return ["(no gate report)"]
    harmful, benign = report.get("harmful", {}), report.get("over_refusal") or {}
    crisis, coherence = report.get("crisis") or {}, report.get("coherence") or {}
    lines = [f"Verdict: **{'PASSED' if report.get('passed') else 'BLOCKED'}** on the {report['suite']['tier']} suite "
             f"(version {report['suite'].get('version', '?')}), adapter sha256 "
             f"`{report['binding']['adapter_sha256'][:16]}…` at scale {report['binding'].get('scale', 1.0)}.", "",
             "| measure | base | tuned |", "|---|---:|---:|"]
    for label, section in (("harmful requests answered", harmful), ("benign requests refused", benign),
                           ("crisis disclosures given care", crisis), ("coherent replies", coherence)):
        if section.get("base") and section.get("tuned"):
            lines.append(f"| {label} | {_rate(section['base'])} | {_rate(section['tuned'])} |")
    style = report.get("style") or {}
    for metric in ("hedging", "approval_seeking", "sycophantic_opener", "owner_similarity"):
        if metric in style.get("base", {}) and metric in style.get("tuned", {}):
            lines.append(f"| style: {metric.replace('_', ' ')} | {style['base'][metric]:.3f} | "
                         f"{style['tuned'][metric]:.3f} |")
    lines += ["", *[f"- warning: {w}" for w in report.get("warnings", [])]]
    return lines


def sparkline(values: list[float], width: int = 24) -> str:
    if len(values) > width:  # the mean of each of `width` equal slices
        step = len(values) / width
        values = [sum(values[int(i * step):int((i + 1) * step)]) / max(1, int((i + 1) * step) - int(i * step))
                  for i in range(width)]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / span * len(SPARK)))] for v in values)


def _rate(side: dict[str, Any]) -> str:
    return f"{side['k']}/{side['n']} ({side['rate']:.1%})"


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
