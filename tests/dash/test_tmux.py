"""`notme dash` in a real terminal: tmux runs it at 80×24, the test presses keys and reads the screen."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.dash.records import synthetic_runs


def screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True,
                          check=True).stdout


def wait_for(session: str, text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        shown = screen(session)
        if text in shown:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared; the screen shows:\n{shown}")
        time.sleep(0.2)


@pytest.fixture
def tmux_session(workspace):
    assert shutil.which("tmux"), "tmux is needed for this test (apt install tmux; .ci/run installs it)"
    session = f"notme-test-{uuid.uuid4().hex[:8]}"
    # the environment goes in the command: a tmux server already running would give its own to the session
    command = shlex.join(["env", f"NOTME_HOME={workspace}", "TERM=xterm-256color", sys.executable, "-m", "notme",
                          "dash", "--stall-after", "99999999"])
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)
    yield session
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def keys(session: str, *pressed: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, *pressed], check=True)


def test_the_dashboard_in_a_real_terminal(workspace, tmux_session):
    runs = synthetic_runs(workspace / "adapters")
    shown = wait_for(tmux_session, "6 runs")
    assert runs["corrupt"].name in shown and "stopped·corrupt" in shown and "failed" in shown
    assert "Sort" in shown.splitlines()[-1]  # the footer lists the bindings
    keys(tmux_session, "s")
    shown = wait_for(tmux_session, "sorted by run")
    table = [line for line in shown.splitlines() if "-2026" in line]
    assert table[0].split()[0] == "coach-20261203-110000"  # by name, A→Z
    keys(tmux_session, "Enter")  # the cursor stayed on the run it was on (the newest) while the rows moved
    shown = wait_for(tmux_session, "Checkpoints")
    assert runs["corrupt"].name in shown.splitlines()[0] and "stopped (corrupt metrics)" in shown
    keys(tmux_session, "Escape")
    wait_for(tmux_session, "6 runs")
    keys(tmux_session, "q")
    deadline = time.monotonic() + 20
    while subprocess.run(["tmux", "has-session", "-t", tmux_session], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "q did not quit:\n" + screen(tmux_session)
        time.sleep(0.2)
