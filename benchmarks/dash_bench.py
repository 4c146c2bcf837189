"""Dashboard startup and refresh over many large run records, against reading the same files once with
plain Python.

    .venv/bin/python benchmarks/dash_bench.py                    # 200 runs × 20,000 metric lines
    .venv/bin/python benchmarks/dash_bench.py --runs 20 --lines 2000   # a quick look

Baselines, in the same run and on the same (warm) files: every metrics.jsonl read whole (`read()`),
and read line by line with `json.loads` (what a dashboard that re-read its files would do). Measured:
the watcher's first scan; the whole app's start until the runs table holds every run (headless); and
the refresh after one metric line is appended to one run — its time and the bytes it read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.dash.records import metrics, write_run

CACHE = Path(__file__).resolve().parent / ".cache" / "dash"


def build(root: Path, runs: int, lines: int) -> Path:
    """`runs` run records of `lines` metric lines each (reused between invocations)."""
    folder = root / f"{runs}x{lines}" / "adapters"
    done = folder / ".complete"
    if done.is_file():
        return folder
    rows = metrics("sft", lines * 2 // 3, every=1)[:lines]  # one val line per two training lines
    for i in range(runs):
        write_run(folder, f"bench-20261101-{i:06d}", "bench", "done" if i % 4 else "running", rows, sft=lines,
                  stage="sft", step=i, total=lines)
    done.write_text("")
    return folder


def plain_read(root: Path) -> tuple[float, float, int]:
    """(seconds to read() every file, seconds to json.loads every line, bytes)."""
    files = sorted(root.glob("*/metrics.jsonl"))
    started = time.perf_counter()
    total = sum(len(f.read_bytes()) for f in files)
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for file in files:
        with file.open("rb") as f:
            for line in f:
                json.loads(line)
    return read_seconds, time.perf_counter() - started, total


async def app_figures(root: Path, appends: int) -> dict[str, float]:
    from notme.dash.app import DashApp
    from notme.dash.screens.runs import RunsScreen

    started = time.perf_counter()
    app = DashApp(root=root, refresh_every=3600)  # refreshes are driven by hand below
    async with app.run_test(size=(160, 50)) as pilot:
        while not (isinstance(app.screen, RunsScreen) and app.screen.table.row_count == len(app.watcher.runs)):
            await pilot.pause(0.01)
        startup = time.perf_counter() - started
        target = app.watcher.ordered()[0]
        refreshes, read = [], []
        for i in range(appends):
            line = json.dumps({"stage": "sft", "step": 10**6 + i, "loss": 0.5, "tokens_per_second": 900.0}) + "\n"
            with (target.path / "metrics.jsonl").open("a") as f:
                f.write(line)
            before = target.metrics_offset
            started = time.perf_counter()
            app.poll()  # watcher.refresh() and every screen's update
            await pilot.pause(0)
            refreshes.append(time.perf_counter() - started)
            read.append(target.metrics_offset - before)
            assert app.screen.table.get_cell(target.name, "loss") == "0.500"
        idle = []
        for _ in range(appends):
            started = time.perf_counter()
            app.poll()
            idle.append(time.perf_counter() - started)
    return {"startup": startup, "refresh": statistics.median(refreshes), "refresh_max": max(refreshes),
            "bytes_read": statistics.median(read), "line_bytes": len(line), "idle": statistics.median(idle)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--appends", type=int, default=20)
    args = parser.parse_args()

    from notme.dash.watch import RunsWatcher

    started = time.perf_counter()
    root = build(CACHE, args.runs, args.lines)
    print(f"{args.runs} runs × {args.lines:,} metric lines in {root} (ready in {time.perf_counter() - started:.1f} s)")
    plain_read(root)  # warm the page cache: every side reads warm files
    read_seconds, parse_seconds, total = plain_read(root)
    started = time.perf_counter()
    watcher = RunsWatcher(root)
    watcher.refresh()
    scan = time.perf_counter() - started
    figures = asyncio.run(app_figures(root, args.appends))

    print(f"\nmetrics: {total / 1e6:,.0f} MB in {args.runs} files")
    print(f"{'':44} {'seconds':>10} {'× plain read+parse':>20}")
    rows = [("baseline: read() every file", read_seconds), ("baseline: read + json.loads every line", parse_seconds),
            ("watcher's first scan (all runs)", scan), ("dashboard start until the table is full", figures["startup"]),
            ("refresh after one appended line (median)", figures["refresh"]),
            ("refresh after one appended line (slowest)", figures["refresh_max"]),
            ("refresh with nothing new (median)", figures["idle"])]
    for label, seconds in rows:
        print(f"{label:44} {seconds:10.4f} {seconds / parse_seconds:>19.4f}×")
    print(f"\nbytes read by a refresh after one appended line: {figures['bytes_read']:.0f} "
          f"(the line is {figures['line_bytes']} bytes; the files hold {total:,})")


if __name__ == "__main__":
    main()
