"""The run record: everything a training run leaves in `adapters/<run>/`, written so that any
other process (the dashboard, `notme gate`, a second terminal) can read it at any moment.

    run.json              what the run is: recipe, base model, dataset digest, host, notme version
    recipe.yaml           the resolved recipe
    status.json           where it is now (state, stage, step of total, message); replaced atomically
    metrics.jsonl         one JSON object per report, appended and flushed (a reader may see a
                          half-written last line while the run writes: skip it)
    log.txt               the same events as lines for a person: reports, stage starts, state changes,
                          gate and export
    activity.json         present while a gate or an export works on the run (which, pid, host, since)
    adapters.safetensors  the latest adapters, with adapter_config.json: `mlx_lm.generate
                          --adapter-path adapters/<run>` loads them
    checkpoints/<stage>-<step>/   adapters, optimizer state and the resume state of that step
    data/                 the datasets the run trained on (copies, so the run stays explainable)

The writer lives here; readers should only need the file names above and `read_*` below.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notme import __version__
from notme.corpus.store import atomic_write, now_iso
from notme.errors import NotmeError
from notme.workspace import adapters_dir

STATUS = "status.json"
METRICS = "metrics.jsonl"
RUN = "run.json"
LOG = "log.txt"
ACTIVITY = "activity.json"
CHECKPOINTS = "checkpoints"
_CHECKPOINT = re.compile(r"^(?P<stage>[a-z]+)-(?P<step>\d+)$")

# States a run can be in. "running" with a stale `updated` means the process died without saying so.
STATES = ("created", "running", "done", "failed", "stopped")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    stage: str
    step: int


class RunRecord:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, recipe_name: str, info: dict[str, Any], root: Path | None = None) -> RunRecord:
        """A new run folder named `<recipe>-<date>-<time>` (a suffix if two start in one second)."""
        root = root or adapters_dir()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ["", *(f"-{i}" for i in range(2, 100))]:
            path = root / f"{recipe_name}-{stamp}{suffix}"
            try:
                path.mkdir(parents=True)
                break
            except FileExistsError:
                continue
        else:
            raise NotmeError(f"cannot create a run folder in {root}")
        record = cls(path)
        atomic_write(path / RUN, json.dumps({
            "name": path.name, "recipe": recipe_name, "created": now_iso(), "host": socket.gethostname(),
            "notme": __version__, **info,
        }, indent=2) + "\n")
        record.set_status("created")
        return record

    @classmethod
    def open(cls, name_or_path: str | Path) -> RunRecord:
        path = Path(name_or_path)
        if not path.is_dir():
            path = adapters_dir() / str(name_or_path)
        if not (path / RUN).is_file():
            known = ", ".join(r.name for r in list_runs()[-5:]) or "none yet"
            raise NotmeError(f"no run {str(name_or_path)!r} in {adapters_dir()} (latest: {known})")
        return cls(path)

    def info(self) -> dict[str, Any]:
        return json.loads((self.path / RUN).read_text())

    def update_info(self, **fields: Any) -> None:
        atomic_write(self.path / RUN, json.dumps(self.info() | fields, indent=2) + "\n")

    def set_status(self, state: str, **fields: Any) -> None:
        """Replace status.json: the state plus whatever else is known now (stage, step, total, message)."""
        assert state in STATES, state
        status = {"state": state, "updated": now_iso(), "pid": os.getpid(), "host": socket.gethostname(), **fields}
        atomic_write(self.path / STATUS, json.dumps(status, indent=2) + "\n")
        if state != "running":  # a running run's steps are logged with its metrics
            self.log(state + (f": {fields['message']}" if fields.get("message") else ""))

    def status(self) -> dict[str, Any]:
        return read_status(self.path)

    def append_metrics(self, entry: dict[str, Any]) -> None:
        """One line per report, flushed, so a reader sees it at once."""
        line = json.dumps({"time": now_iso(), **entry}, separators=(",", ":")) + "\n"
        with (self.path / METRICS).open("a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
        self.log(describe_metrics(entry))

    def log(self, text: str) -> None:
        with (self.path / LOG).open("a", encoding="utf-8") as out:
            out.write(f"{now_iso()}  {text}\n")

    @contextlib.contextmanager
    def activity(self, what: str) -> Iterator[None]:
        """Say in activity.json (and the log) that a gate or an export works on this run, while it does."""
        atomic_write(self.path / ACTIVITY, json.dumps({"activity": what, "since": now_iso(), "pid": os.getpid(),
                                                       "host": socket.gethostname()}) + "\n")
        self.log(f"{what} starts")
        try:
            yield
        except BaseException as e:
            self.log(f"{what} stopped: {e or type(e).__name__}")
            raise
        finally:
            (self.path / ACTIVITY).unlink(missing_ok=True)
        self.log(f"{what} done")

    def checkpoint_dir(self, stage: str, step: int) -> Path:
        return self.path / CHECKPOINTS / f"{stage}-{step:06d}"

    def checkpoints(self) -> list[Checkpoint]:
        found = []
        folder = self.path / CHECKPOINTS
        if folder.is_dir():
            for child in folder.iterdir():
                match = _CHECKPOINT.match(child.name)
                if match and (child / "state.json").is_file():  # written last: the checkpoint is whole
                    found.append(Checkpoint(child, match["stage"], int(match["step"])))
        return sorted(found, key=lambda c: (c.path.stat().st_mtime, c.step))


def read_json(file: Path) -> Any:
    """A JSON file another process replaces or may not have written yet: its content, or None."""
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def read_status(path: Path) -> dict[str, Any]:
    status = read_json(path / STATUS)
    return {"state": "unknown"} if status is None else status


def describe_metrics(entry: dict[str, Any]) -> str:
    """One metrics entry as a log line."""
    stage, step = entry.get("stage", "?"), entry.get("step")
    if entry.get("event") == "start":
        skipped = f", skipped {entry['skipped']}" if entry.get("skipped") else ""
        return f"{stage} starts: {entry.get('train', 0)} train, {entry.get('valid', 0)} valid{skipped}"
    if "val_loss" in entry:
        return f"{stage} step {step}: val_loss {entry['val_loss']:.4f} ({entry.get('val_seconds', 0):.1f} s)"
    if "loss" in entry:
        return (f"{stage} step {step}: loss {entry['loss']:.4f}, lr {entry.get('learning_rate', 0):.2e}, "
                f"{entry.get('tokens_per_second', 0):.0f} tok/s, peak {entry.get('peak_memory_gb', 0):.2f} GB")
    return json.dumps(entry, separators=(",", ":"))


def read_activity(path: Path) -> dict[str, Any] | None:
    return read_json(path / ACTIVITY)


def read_metrics(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The run's metric entries from byte `offset` on, and the offset to continue from next time."""
    return read_appended(path / METRICS, offset)


def read_appended(file: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Entries of a JSONL file another process appends to, from byte `offset` on, and the offset to go on
    from. A last line still being written (no newline yet) is left for the next read; a line that is not
    JSON comes back as {"corrupt": its text}."""
    if not file.is_file():
        return [], 0
    entries = []
    with file.open("rb") as f:
        f.seek(offset)
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            offset += len(raw)
            try:
                entries.append(json.loads(raw))
            except json.JSONDecodeError:
                entries.append({"corrupt": raw.decode("utf-8", "replace").strip()})
    return entries, offset


def list_runs(root: Path | None = None) -> list[RunRecord]:
    root = root or adapters_dir()
    if not root.is_dir():
        return []
    runs = [RunRecord(p) for p in root.iterdir() if (p / RUN).is_file()]
    return sorted(runs, key=lambda r: r.path.stat().st_mtime)


def trained_system_prompt(run: Path) -> str:
    """The system prompt the run was trained with (recorded by `notme build`): the gate, export and chat
    use the same one, so the model is judged and used as it was trained."""
    build = run / "data" / "build.json"
    if build.is_file():
        data = json.loads(build.read_text(encoding="utf-8"))
        if "system" in data:
            return str(data["system"])
    train = run / "data" / "sft" / "train.jsonl"
    if train.is_file():  # runs built before build.json recorded it: the first example carries it
        with train.open(encoding="utf-8") as f:
            first = json.loads(f.readline() or "{}")
        messages = first.get("messages") or [{}]
        if messages[0].get("role") == "system":
            return str(messages[0].get("content", ""))
    return ""
