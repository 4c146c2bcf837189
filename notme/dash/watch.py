"""What the dashboard knows about the runs: read from the run records on disk, never from a training
process, so it shows runs started anywhere and survives restarts.

`RunsWatcher.refresh()` is cheap enough to call every second with hundreds of runs: it stats each
run's files and reads only what changed — for metrics.jsonl only the bytes appended since the last
read. At start it reads each metrics file from its end backwards until it has the latest values the
table shows; whole curves are read only for the runs a screen plots (`RunView.history`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from notme.gate.report import VERDICT
from notme.runs.record import ACTIVITY, LOG, METRICS, RUN, STATUS, read_activity, read_json, read_metrics, read_status

# Values the runs table shows, each the latest of its kind in metrics.jsonl.
LATEST_KEYS = ("loss", "val_loss", "tokens_per_second", "peak_memory_gb", "iterations_per_second", "learning_rate")
_TAIL_CHUNK = 64 * 1024


def mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _seconds(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def process_gone(record: dict[str, Any]) -> bool:
    """Whether the process a status record names ran on this machine and is no longer there (one on
    another Mac cannot be checked from here)."""
    pid = record.get("pid")
    return record.get("host") == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid)


@dataclass
class History:
    """A run's metric entries in full, for curves; extended with the new bytes on each read."""
    entries: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0

    def series(self, key: str, stage: str | None = None,
               offsets: dict[str, int] | None = None) -> tuple[list[int], list[float]]:
        """(steps, values) of one metric; `offsets` (RunView.stage_offsets) puts the stages one after another."""
        offsets = offsets or {}
        rows = [e for e in self.entries if key in e and "step" in e and (stage is None or e.get("stage") == stage)]
        return [int(e["step"]) + offsets.get(e.get("stage", ""), 0) for e in rows], [float(e[key]) for e in rows]

    @property
    def corrupt(self) -> list[str]:
        return [e["corrupt"] for e in self.entries if "corrupt" in e]


@dataclass
class RunView:
    """One run as the dashboard shows it."""
    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    latest: dict[str, Any] = field(default_factory=dict)   # LATEST_KEYS → value, plus "stage" of the last report
    corrupt_lines: int = 0
    verdict: dict[str, Any] | None = None
    verdict_stale: bool = False        # the adapters changed after the gate judged them
    exported: bool = False
    activity: dict[str, Any] | None = None
    stage_iters: dict[str, int] = field(default_factory=dict)
    metrics_offset: int = 0
    metrics_changed: float = 0.0       # when metrics.jsonl last grew (file time)
    history: History | None = None
    _stamps: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def state(self) -> str:
        return str(self.status.get("state", "unknown"))

    def flag(self, now: float, stall_after: float) -> str:
        """"" for a healthy run, else why it needs a look: failed, died, stalled, corrupt metrics."""
        if self.state == "failed":
            return "failed"
        if self.state == "running":
            if process_gone(self.status):
                return "died"
            last = max(self.metrics_changed, _seconds(self.status.get("updated")) or 0.0)
            if now - last > stall_after:
                return "stalled"
        if self.corrupt_lines:
            return "corrupt metrics"
        return ""

    @property
    def stage(self) -> str:
        """Where the run is: a training stage, or the gate / export working on it, or what it reached."""
        if self.activity and _activity_alive(self.activity):
            return str(self.activity["activity"])
        if self.state == "done":
            if self.exported:
                return "export"
            if self.verdict is not None:
                return "gate"
        return str(self.status.get("stage") or self.latest.get("stage") or "")

    @property
    def step(self) -> int | None:
        value = self.status.get("step")
        return int(value) if isinstance(value, int | float) else None

    @property
    def total(self) -> int | None:
        value = self.status.get("total")
        return int(value) if isinstance(value, int | float) else None

    def eta_seconds(self) -> float | None:
        """Steps left in this stage and the stages after it, at the latest steps-per-second."""
        rate = self.latest.get("iterations_per_second")
        if self.state != "running" or not rate or self.step is None or self.total is None:
            return None
        stages = list(self.stage_iters)
        current = self.status.get("stage")
        later = sum(self.stage_iters[s] for s in stages[stages.index(current) + 1:]) if current in stages else 0
        return (self.total - self.step + later) / float(rate)

    @property
    def gate_text(self) -> str:
        if self.verdict is None:
            return ""
        word = "passed" if self.verdict.get("passed") else "blocked"
        tier = self.verdict.get("tier", "")
        scale = self.verdict.get("scale", 1.0)
        text = f"{word} ({tier}{'' if scale == 1.0 else f', ×{scale}'})"
        return text + " · stale" if self.verdict_stale else text

    def stage_offsets(self) -> dict[str, int]:
        """Where each stage starts on a run-wide step axis: preference steps follow the SFT steps."""
        offsets, total = {}, 0
        for stage, iters in self.stage_iters.items():
            offsets[stage] = total
            total += iters
        return offsets

    def read_history(self) -> History:
        """Every metric entry, read once and then extended with what was appended."""
        if self.history is None:
            self.history = History()
        entries, self.history.offset = read_metrics(self.path, self.history.offset)
        self.history.entries.extend(entries)
        return self.history

    def log_tail(self, lines: int = 30) -> list[str]:
        return tail_lines(self.path / LOG, lines)


def _activity_alive(activity: dict[str, Any]) -> bool:
    pid = activity.get("pid")
    return activity.get("host") != socket.gethostname() or (isinstance(pid, int) and pid_alive(pid))


def tail_lines(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a text file, read from its end."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 200 * lines))
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-lines:]


def _fold(latest: dict[str, Any], entries: list[dict[str, Any]]) -> int:
    """Entries (oldest first) into the latest values; returns how many were corrupt."""
    corrupt = 0
    for entry in entries:
        if "corrupt" in entry:
            corrupt += 1
            continue
        for key in LATEST_KEYS:
            if key in entry:
                latest[key] = entry[key]
        if "stage" in entry:
            latest["stage"] = entry["stage"]
    return corrupt


def read_latest(path: Path) -> tuple[dict[str, Any], int, int]:
    """(latest values, corrupt lines seen, offset of the end of the last whole line), reading
    metrics.jsonl backwards from its end only as far as needed to find every latest value."""
    file = path / METRICS
    latest: dict[str, Any] = {}
    corrupt = 0
    try:
        f = file.open("rb")
    except FileNotFoundError:
        return latest, 0, 0
    with f:
        end = f.seek(0, os.SEEK_END)
        position, carry, whole_end = end, b"", None
        while position > 0 and not all(k in latest for k in LATEST_KEYS):
            start = max(0, position - _TAIL_CHUNK)
            f.seek(start)
            block = f.read(position - start) + carry
            position = start
            lines = block.split(b"\n")
            carry = lines.pop(0) if start > 0 else b""  # maybe cut: joined with the next chunk back
            if whole_end is None:
                # the bytes after the last newline are a line still being written: left for the next read
                whole_end = end - len(lines[-1]) if lines else end
                lines = lines[:-1]
            found: dict[str, Any] = {}
            entries = []
            for raw in lines:
                if raw.strip():
                    try:
                        entries.append(json.loads(raw))
                    except json.JSONDecodeError:
                        entries.append({"corrupt": ""})
            corrupt += _fold(found, entries)
            latest = found | latest  # what was found further back fills only what is still missing
        if whole_end is None:
            whole_end = end
    return latest, corrupt, whole_end


class RunsWatcher:
    """Every run under `root`, kept current by `refresh()`."""

    def __init__(self, root: Path, stall_after: float = 600.0) -> None:
        self.root = root
        self.stall_after = stall_after
        self.runs: dict[str, RunView] = {}

    def refresh(self) -> set[str]:
        """Re-read what changed on disk; returns the names of the runs that changed (added, updated or gone)."""
        changed: set[str] = set()
        seen = set()
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            path = Path(entry.path)
            view = self.runs.get(entry.name)
            if view is None:
                if not (path / RUN).is_file():
                    continue
                view = self.runs[entry.name] = RunView(path)
            seen.add(entry.name)
            if self._update(view):
                changed.add(entry.name)
        for gone in set(self.runs) - seen:
            del self.runs[gone]
            changed.add(gone)
        return changed

    def _changed(self, view: RunView, key: str, path: Path) -> bool:
        stamp = mtime_ns(path)
        if view._stamps.get(key) == stamp:
            return False
        view._stamps[key] = stamp
        return True

    def _update(self, view: RunView) -> bool:
        path, changed = view.path, False
        if self._changed(view, "run", path / RUN):
            try:
                view.info = json.loads((path / RUN).read_text())
            except (OSError, json.JSONDecodeError):
                view.info = {"name": view.name, "recipe": "?"}
            changed = True
        if self._changed(view, "recipe", path / "recipe.yaml"):
            view.stage_iters = _stage_iters(path / "recipe.yaml")
            changed = True
        if self._changed(view, "status", path / STATUS):
            view.status = read_status(path)
            changed = True
        if self._changed(view, "activity", path / ACTIVITY):
            view.activity = read_activity(path)
            changed = True
        gate_changed = self._changed(view, "verdict", path / "gate" / VERDICT)
        adapters_changed = self._changed(view, "adapters", path / "adapters.safetensors")
        if gate_changed or adapters_changed:
            view.verdict = read_json(path / "gate" / VERDICT)
            view.verdict_stale = (view.verdict is not None and
                                  view._stamps["adapters"] > view._stamps["verdict"])
            changed = True
        if self._changed(view, "export", path / "export" / "export.json"):
            view.exported = (path / "export" / "export.json").is_file()
            changed = True
        if self._changed(view, "log", path / LOG):  # for the detail screen's log tab
            changed = True
        size = _size(path / METRICS)
        if size != view._stamps.get("metrics_size"):  # (the offset may stop short of a half-written line)
            view._stamps["metrics_size"] = size
            if size < view.metrics_offset or view.metrics_offset == 0:  # new, or rewritten: read its tail
                view.latest, view.corrupt_lines, view.metrics_offset = read_latest(path)
                view.history = None
            else:
                entries, view.metrics_offset = read_metrics(path, view.metrics_offset)
                view.corrupt_lines += _fold(view.latest, entries)
            view.metrics_changed = mtime_ns(path / METRICS) / 1e9
            changed = True
        return changed

    def ordered(self, key: str = "created", reverse: bool = True) -> list[RunView]:
        return sorted(self.runs.values(), key=lambda v: sort_key(v, key), reverse=reverse)

    def flagged(self, now: float | None = None) -> dict[str, str]:
        now = time.time() if now is None else now
        return {name: flag for name, view in self.runs.items() if (flag := view.flag(now, self.stall_after))}


def sort_key(view: RunView, key: str) -> tuple[int, Any]:
    """Runs ordered by one column; runs without a value sort last."""
    value: Any = {
        "created": view.info.get("created"), "name": view.name, "recipe": view.info.get("recipe"),
        "state": view.state, "stage": view.stage, "step": view.step,
        "gate": view.gate_text or None, "eta": view.eta_seconds(),
    }.get(key, view.latest.get(key))
    return (0, "") if value is None else (1, value)


def _stage_iters(recipe: Path) -> dict[str, int]:
    """{stage: iters} in training order, from the run's resolved recipe."""
    try:
        mode = (yaml.safe_load(recipe.read_text()) or {}).get("mode") or {}
    except (OSError, yaml.YAMLError):
        return {}
    return {s: int(mode[s]["iters"]) for s in ("sft", "preference")
            if isinstance(mode.get(s), dict) and mode[s].get("iters")}
