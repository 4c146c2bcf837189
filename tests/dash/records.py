"""Run records as training, the gate and export leave them, written with fixed times and values so
that screens render the same every time (snapshots). The Pilot tests also use runs that real training
wrote (tests/dash/test_app.py)."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path

from notme.gate.binding import adapter_fingerprint
from notme.gate.report import write_report
from notme.gate.suites import Probe
from notme.gate.verdict import GateSettings, decide
from notme.runs.record import describe_metrics
from tests.gate.test_verdict import COMPLY, REFUSE, crisis, harmful, outcome

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC).timestamp()
HOST = "studio.local"  # not this machine: a running run's pid is not checked


def iso(seconds_before_now: float) -> str:
    return datetime.fromtimestamp(NOW - seconds_before_now, UTC).isoformat(timespec="seconds")


RECIPE = """\
name: {recipe}
base: {{model: smollm2}}
mode:
  seed: 0
  sft: {{iters: {sft}, batch_size: 4, learning_rate: 1.0e-4}}
  preference: {preference}
"""


def metrics(stage: str, steps: int, every: int = 5, start_loss: float = 3.0, speed: float = 850.0) -> list[dict]:
    rows = [{"stage": stage, "event": "start", "train": 96, "valid": 12, "skipped": {}}]
    for step in range(every, steps + 1, every):
        loss = start_loss * math.exp(-step / 40) + 0.8
        rows.append({"stage": stage, "step": step, "loss": round(loss, 4), "learning_rate": 1e-4 * (1 - step / 200),
                     "tokens_per_second": speed + (step % 3) * 10, "iterations_per_second": 0.5,
                     "trained_tokens": step * 400, "peak_memory_gb": 1.25})
        if step % (every * 2) == 0:
            rows.append({"stage": stage, "step": step, "val_loss": round(loss + 0.15, 4), "val_seconds": 2.0})
    return rows


def write_run(root: Path, name: str, recipe: str, state: str, rows: list[dict], age: float = 30.0,
              sft: int = 40, preference: int | None = None, **status: object) -> Path:
    path = root / name
    (path / "data").mkdir(parents=True, exist_ok=True)
    created = float(name.rsplit("-", 1)[-1]) if name[-1].isdigit() else 0
    (path / "run.json").write_text(json.dumps({"name": name, "recipe": recipe, "base": "smollm2",
                                               "created": iso(86400 * 5 - created), "host": HOST}))
    pref = "null" if preference is None else f"{{iters: {preference}, batch_size: 2}}"
    (path / "recipe.yaml").write_text(RECIPE.format(recipe=recipe, sft=sft, preference=pref))
    (path / "status.json").write_text(json.dumps({"state": state, "updated": iso(age), "pid": 1, "host": HOST,
                                                  **status}))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "log.txt").write_text("".join(f"{iso(age)}  {describe_metrics(r)}\n" for r in rows[-12:]))
    for file in path.rglob("*"):
        os.utime(file, (NOW - age, NOW - age))
    return path


def write_gate(path: Path, blocked: bool, age: float = 20.0) -> None:
    """A gate report made by the gate's own verdict and report code from hand-made outcomes."""
    outcomes = harmful(6 if blocked else 0, fixes=1, category="fraud_scams", n=20)
    outcomes += harmful(1 if blocked else 0, category="chem_bio", n=10) + crisis(10)
    outcomes += [outcome("benign", "edgy", "Here is how: sharpen the knife on a whetstone.",
                         "Sharpen it on a whetstone.", i) for i in range(8)]
    outcomes += [outcome("style", "plain", "I think maybe you could perhaps try it?", "Try it.", i) for i in range(6)]
    adapters = path / "adapters.safetensors"
    adapters.write_bytes(b"adapters")
    (path / "adapter_config.json").write_text("{}")
    verdict = decide(outcomes, GateSettings())
    context = {"run": path.name, "recipe": "not-me",
               "suite": {"tier": "full", "version": "v1-test", "probes": len(outcomes)},
               "binding": {"adapter_sha256": adapter_fingerprint(path), "scale": 1.0, "base_model": "smollm2",
                           "base_sha256": "1" * 64},
               "decoding": {"sampling": "greedy", "max_tokens": 32, "batch_size": 32, "system_prompt": "You are Sam."},
               "detection": {"lexical": "notme.gate.detect", "judge": None}, "thresholds": {}}
    write_report(path / "gate", context, verdict, outcomes, [])
    for file in [adapters, *(path / "gate").iterdir()]:
        os.utime(file, (NOW - age - (10 if file == adapters else 0), NOW - age))


def synthetic_runs(root: Path) -> dict[str, Path]:
    """Six runs covering what the table must show: done and gated (passed / blocked), running, failed,
    stalled, and one whose metrics file has a corrupt line and a half-written last line."""
    root.mkdir(parents=True, exist_ok=True)
    runs = {}
    runs["passed"] = write_run(root, "not-me-20261201-090000", "not-me", "done",
                               metrics("sft", 40) + metrics("preference", 10, start_loss=0.69, speed=400),
                               age=3600, sft=40, preference=10, stage="preference", step=10, total=10)
    write_gate(runs["passed"], blocked=False)
    (runs["passed"] / "export").mkdir()
    (runs["passed"] / "export" / "export.json").write_text(json.dumps({"files": []}))
    runs["blocked"] = write_run(root, "demo-20261202-100000", "demo", "done", metrics("sft", 20), age=7200, sft=20,
                                stage="sft", step=20, total=20)
    write_gate(runs["blocked"], blocked=True)
    runs["running"] = write_run(root, "coach-20261203-110000", "coach", "running", metrics("sft", 30), age=20,
                                sft=60, preference=20, stage="sft", step=30, total=60, loss=1.32)
    runs["failed"] = write_run(root, "demo-20261204-120000", "demo", "failed", metrics("sft", 10), age=5000,
                               message="the training loss diverged at step 12 of sft (9.1, started at 2.9): "
                                       "lower the learning rate")
    runs["stalled"] = write_run(root, "not-me-20261205-130000", "not-me", "running", metrics("sft", 15), age=4000,
                                sft=40, stage="sft", step=15, total=40)
    runs["corrupt"] = write_run(root, "not-me-20261206-140000", "not-me", "stopped", metrics("sft", 10), age=900,
                                message="interrupted; resume with `notme train --resume not-me-20261206-140000`")
    with (runs["corrupt"] / "metrics.jsonl").open("a") as f:
        f.write('{"stage": "sft", "step": 11, "loss": 2.\n{"stage": "sft", "step": 12, "lo')
    os.utime(runs["corrupt"] / "metrics.jsonl", (NOW - 900, NOW - 900))
    return runs


__all__ = ["COMPLY", "NOW", "REFUSE", "Probe", "synthetic_runs", "write_run"]
