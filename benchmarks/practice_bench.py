"""Practice throughput: requests in flight at once against one at a time, on the same local server.

    .venv/bin/python benchmarks/practice_bench.py                   # SmolLM2 behind mlx_lm.server, 12 pairs each
    .venv/bin/python benchmarks/practice_bench.py --count 4 --model /path/to/model   # a quick look

One `mlx_lm.server` (started here on 127.0.0.1, `--decode-concurrency` = the largest concurrency) serves
the model; `Practice.run` makes `--count` constitution pairs with concurrency 1 (the baseline), then
with each other concurrency, into fresh folders. Each pair is four requests (scenario, impulsive answer,
critique, refined answer). The model is SmolLM2-135M by default: `notme demo --no-train` imports it.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import child_env

CONSTITUTION = """How I act
1. Care: I protect people from serious harm, including the person asking.
2. Honesty: I say what I think, plainly.
3. Directness: I answer without hedging or asking for approval.
"""


def start_server(model: str, concurrency: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "mlx_lm", "server", "--model", model, "--host", "127.0.0.1",
                                "--port", str(port), "--decode-concurrency", str(concurrency)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**child_env(), "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    body = json.dumps({"model": "default_model", "messages": [{"role": "user", "content": "hi"}],
                       "max_tokens": 1}).encode()
    for _ in range(600):
        try:
            urllib.request.urlopen(urllib.request.Request(f"{url}/v1/chat/completions", data=body), timeout=5).read()
            return process, url
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.kill()
    raise SystemExit("mlx_lm.server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a model folder (default: the bundled SmolLM2, imported)")
    parser.add_argument("--count", type=int, default=12, help="pairs per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    from notme.backends.openai import OpenAIBackend
    from notme.constitution.practice import Practice, PracticeSettings
    from notme.models.loading import resolve_model
    from notme.recipe import load_recipe

    model = args.model or str(resolve_model("smollm2"))
    recipe = load_recipe("constitution").data
    process, url = start_server(model, max(args.concurrency))
    try:
        results = []
        for concurrency in [1, *args.concurrency]:
            settings = PracticeSettings.from_recipe({**recipe["practice"], "max_tokens": args.max_tokens,
                                                     "concurrency": concurrency})
            backend = OpenAIBackend(url, "default_model", parallel=concurrency)
            with tempfile.TemporaryDirectory() as folder:
                started = time.perf_counter()
                summary = Practice(backend, CONSTITUTION, settings, Path(folder)).run(args.count)
                seconds = time.perf_counter() - started
            kept = summary["kept"].get("constitution", 0)
            dropped = sum(summary["dropped"].values())
            results.append((concurrency, seconds, kept, dropped, summary["retried"]))
    finally:
        process.terminate()
    print(f"model {model}, {args.count} pairs per run, {args.max_tokens} tokens per part, server {url}")
    header = ("in flight", "seconds", "pairs/min", "kept", "dropped", "asked again", "× one at a time")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (9, 8, 10, 5, 8, 12, 17), strict=True)))
    base = results[0][2] / results[0][1]
    for concurrency, seconds, kept, dropped, retried in results:
        rate = kept / seconds
        print(f"{concurrency:>9} {seconds:8.1f} {rate * 60:10.1f} {kept:5d} {dropped:8d} {retried:12d} "
              f"{rate / base:16.2f}×")


if __name__ == "__main__":
    main()
