"""What the dashboard can do to runs: each action is a `notme` command started as its own process
(detached, so it outlives the dashboard), or a signal to a training process. The dashboard then sees
the effect in the run records like any other reader."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from notme.dash.watch import RunView, pid_alive
from notme.errors import NotmeError
from notme.workspace import workspace


@dataclass
class Started:
    """A command the dashboard started: its process and the file its output goes to."""
    label: str
    process: subprocess.Popen
    log: Path

    def finished(self) -> int | None:
        return self.process.poll()

    def last_line(self) -> str:
        lines = [line for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else ""


def launch(label: str, *args: str) -> Started:
    """`notme ARGS` in its own session (a closed dashboard leaves it running); output to workspace/logs/."""
    logs = workspace() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stem = f"dash-{time.strftime('%Y%m%d-%H%M%S')}-{label.replace(' ', '-')}"
    for n in itertools.count(1):  # two commands started in one second keep their own logs
        log = logs / (f"{stem}.log" if n == 1 else f"{stem}-{n}.log")
        try:
            out = log.open("x", encoding="utf-8")
        except FileExistsError:
            continue
        break
    with out:
        process = subprocess.Popen([sys.executable, "-m", "notme", *args], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, env=os.environ.copy())
    return Started(label, process, log)


def start_run(recipe: str) -> Started:
    return launch(f"train {Path(recipe).stem}", "train", recipe)


def resume_run(view: RunView) -> Started:
    if view.state not in ("stopped", "failed") and view.flag(time.time(), float("inf")) != "died":
        raise NotmeError(f"{view.name} is {view.state}: only a stopped, failed or dead run resumes")
    return launch(f"resume {view.name}", "train", "--resume", view.name)


def gate_run(view: RunView) -> Started:
    if view.state != "done":
        raise NotmeError(f"{view.name} is {view.state}: the gate judges finished runs only")
    return launch(f"gate {view.name}", "gate", view.name, "--quiet")


def export_run(view: RunView) -> Started:
    reason = export_blocker(view)
    if reason:
        raise NotmeError(reason)
    return launch(f"export {view.name}", "export", view.name)


def export_blocker(view: RunView) -> str | None:
    """Why this run cannot be exported now, or None. The same check `notme export` makes."""
    from notme.gate.binding import require_passing_verdict

    if view.state != "done":
        return f"{view.name} is {view.state}; export needs a finished run with a passing gate"
    try:
        require_passing_verdict(view.path, float((view.verdict or {}).get("scale", 1.0)))
    except NotmeError as e:
        return str(e)
    return None


def stop_run(view: RunView) -> str:
    """Ask a training process to stop as Ctrl-C would: it checkpoints nothing new and marks itself stopped
    (resumable from its last checkpoint)."""
    pid, host = view.status.get("pid"), view.status.get("host")
    if view.state != "running":
        raise NotmeError(f"{view.name} is {view.state}, not running")
    if host != socket.gethostname():
        raise NotmeError(f"{view.name} runs on {host}; stop it there (this is {socket.gethostname()})")
    if not isinstance(pid, int) or not pid_alive(pid):
        raise NotmeError(f"{view.name}'s process {pid} is gone; resume the run instead")
    os.kill(pid, signal.SIGINT)
    return f"asked {view.name} (pid {pid}) to stop"
