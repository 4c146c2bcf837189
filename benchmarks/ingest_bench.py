"""Ingest speed and memory against the plain baseline, measured in one run.

For a generated ChatGPT export at two sizes and a generated WhatsApp chat, each in its own process:
  - notme ingest: wall time, messages per second, peak resident memory;
  - baseline: a plain `json.load` of the same ChatGPT file (for WhatsApp: reading the file's
    lines into a list), its time and peak memory;
and the ratios notme / baseline. Target (issue 2): the 500 MB ChatGPT ingest peaks under a quarter
of `json.load`'s memory.

    .venv/bin/python benchmarks/ingest_bench.py               # 50 MB and 500 MB, 200k WhatsApp lines
    .venv/bin/python benchmarks/ingest_bench.py --sizes 20    # quicker
Inputs are generated once into benchmarks/.cache/ (git-ignored) and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
sys.path.insert(0, str(ROOT))

from notme.samples.chatgpt import ChatGPTConversation  # noqa: E402

_TEXT = """the query plan shows a sequential scan on orders so add the index on user id and created at
then run analyze again and compare the buffers before and after the change because the planner
estimates are off by a factor of ten when statistics are stale after the import bouldering tonight
at seven bring the chalk bag miso needs a walk first rent is due friday"""
WORDS = tuple(_TEXT.split())


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def write_chatgpt(path: Path, target_bytes: int, seed: int = 7) -> int:
    """A realistic export of about `target_bytes`, written one conversation at a time."""
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    written, count = 0, 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        while written < target_bytes:
            conv = ChatGPTConversation(f"Chat {count}", start + timedelta(hours=count), seed=count)
            conv.hidden_system()
            for turn in range(rng.randint(3, 15)):
                conv.user(" ".join(_sentence(rng, 5, 25) for _ in range(rng.randint(1, 3))))
                if turn % 5 == 2:
                    conv.tool_round("df.describe()", _sentence(rng, 20, 60))
                conv.assistant("\n\n".join(_sentence(rng, 20, 60) for _ in range(rng.randint(2, 6))))
                if turn % 7 == 3:
                    conv.regenerate(_sentence(rng, 20, 60))
            data = json.dumps(conv.to_dict(), ensure_ascii=False)
            out.write(("," if count else "") + data)
            written += len(data) + 1
            count += 1
        out.write("]")
    return count


_PEAK = "\nimport resource as _r; print('PEAK', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)"


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """(seconds, peak resident memory in bytes, stdout) of `code` run in a fresh Python process."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + _PEAK, *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    peak = int(lines[-1].split()[1])
    # ru_maxrss is kilobytes on Linux, bytes on macOS.
    return seconds, peak * (1 if sys.platform == "darwin" else 1024), "\n".join(lines[:-1])


BASELINE_JSON = "import json,sys; data=json.load(open(sys.argv[1],'rb')); print(len(data))"
BASELINE_LINES = "import sys; lines=open(sys.argv[1],encoding='utf-8').readlines(); print(len(lines))"
NOTME = """
import json, sys
from notme.ingest.pipeline import ingest
from notme.corpus.scrub import Scrubber
report = ingest([sys.argv[1]], "bench", me=sys.argv[2:])
print(json.dumps({"messages": sum(i.messages for i in report.inputs),
                  "conversations": sum(sum(i.conversations.values()) for i in report.inputs)}))
"""


def bench_notme(path: Path, me: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, NOTME_HOME=home, PYTHONPATH=str(ROOT))
        seconds, peak, out = _run(NOTME, str(path), *me, env=env)
    counts = json.loads(out.strip().splitlines()[-1])
    return {"seconds": seconds, "peak": peak, **counts}


def report_row(name: str, size: int, ours: dict, base: tuple[float, int, str], baseline: str) -> dict:
    row = {
        "input": name, "size_mb": round(size / 1e6, 1),
        "messages": ours["messages"], "seconds": round(ours["seconds"], 2),
        "messages_per_s": round(ours["messages"] / ours["seconds"]),
        "peak_mb": round(ours["peak"] / 2**20), "baseline": baseline,
        "baseline_seconds": round(base[0], 2), "baseline_peak_mb": round(base[1] / 2**20),
        "memory_ratio": round(ours["peak"] / base[1], 3),
        "time_ratio": round(ours["seconds"] / base[0], 2),
    }
    print(f"{name:<28} {row['size_mb']:>7} MB  {row['messages']:>9,} msgs  {row['seconds']:>7.1f} s  "
          f"{row['messages_per_s']:>8,} msg/s  peak {row['peak_mb']:>6} MB | {baseline}: "
          f"{row['baseline_seconds']:>6.1f} s peak {row['baseline_peak_mb']:>6} MB | "
          f"memory ×{row['memory_ratio']:.3f}  time ×{row['time_ratio']:.2f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500], help="ChatGPT export sizes in MB")
    parser.add_argument("--whatsapp-lines", type=int, default=200_000)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = []
    for size_mb in args.sizes:
        path = CACHE / f"chatgpt-{size_mb}mb" / "conversations.json"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"generating {path} …", flush=True)
            write_chatgpt(path, size_mb * 1_000_000)
        size = path.stat().st_size
        ours = bench_notme(path.parent, [])
        rows.append(report_row(f"ChatGPT {size_mb} MB", size, ours, _run(BASELINE_JSON, str(path)), "json.load"))
    if args.whatsapp_lines:
        from benchmarks.whatsapp_input import write_whatsapp

        path = CACHE / f"whatsapp-{args.whatsapp_lines}" / "WhatsApp Chat with Maya Chen.txt"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"generating {path} …", flush=True)
            write_whatsapp(path, args.whatsapp_lines)
        ours = bench_notme(path, ["Sam Rivera"])
        rows.append(report_row(f"WhatsApp {args.whatsapp_lines:,} lines", path.stat().st_size, ours,
                               _run(BASELINE_LINES, str(path)), "readlines"))
    largest = max((r for r in rows if r["input"].startswith("ChatGPT")), key=lambda r: r["size_mb"], default=None)
    if largest:
        verdict = "PASS" if largest["memory_ratio"] < 0.25 else "FAIL"
        print(f"\ntarget: {largest['input']} peak memory < 0.25 × json.load's: "
              f"×{largest['memory_ratio']:.3f} → {verdict}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
