"""The dashboard driven by Textual's Pilot: every screen against run records, real ones from training
the tiny model and hand-written ones that cover every state."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from textual.widgets import Button, DataTable, Input, Log, Static

from notme.dash import actions
from notme.dash.app import DashApp
from notme.dash.screens.compare import CompareScreen
from notme.dash.screens.confirm import ConfirmScreen
from notme.dash.screens.corpus import CorpusScreen
from notme.dash.screens.gate import GateScreen
from notme.dash.screens.run_detail import RunDetailScreen
from notme.dash.screens.runs import COLUMNS, RunsScreen
from notme.dash.watch import History
from notme.train.run import execute
from tests.dash.records import NOW, synthetic_runs
from tests.train.test_run import make_run


def rows(app: DashApp) -> dict[str, dict[str, str]]:
    """The runs table: run name → {column key: cell text}, in the table's order."""
    table = app.screen.query_one("#runs", DataTable)
    keys = [key for key, _ in COLUMNS]
    return {str(table.get_row_at(i)[1]): dict(zip(keys, map(str, table.get_row_at(i)), strict=True))
            for i in range(table.row_count)}


async def ready(pilot, app: DashApp) -> None:
    """Until the runs table is on screen (a loaded machine may take more than one pause)."""
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.query("#runs"))


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the dashboard")
        await pilot.pause(0.1)


@pytest.fixture
def runs(workspace):
    return synthetic_runs(workspace / "adapters")


async def test_the_runs_table_shows_every_run_with_its_flags(runs):
    app = DashApp(clock=lambda: NOW)
    async with app.run_test(size=(140, 30)) as pilot:
        await ready(pilot, app)
        shown = rows(app)
        assert set(shown) == {p.name for p in runs.values()}
        assert shown[runs["failed"].name]["state"] == "failed"
        assert shown[runs["stalled"].name]["state"] == "stalled"
        assert shown[runs["corrupt"].name]["state"] == "stopped·corrupt"
        assert shown[runs["running"].name]["state"] == "running" and shown[runs["running"].name]["step"] == "30/60"
        assert shown[runs["running"].name]["eta"] == "1m40s"  # (30 + 20 steps) / 0.5 steps/s
        assert shown[runs["passed"].name]["gate"] == "passed (full)" and shown[runs["passed"].name]["stage"] == "export"
        assert shown[runs["blocked"].name]["gate"] == "blocked (full)"
        summary = str(app.screen.query_one("#summary", Static).render())
        assert "6 runs" in summary and "3 need a look" in summary


async def test_closing_the_dashboard_while_its_refresh_runs_is_clean(runs):
    # the refresh timer outlives the screens while the app shuts down; a tick in between found the runs
    # table gone (seen as a flaky NoMatches in whichever test closed at that moment)
    for _ in range(30):
        app = DashApp(clock=lambda: NOW, refresh_every=0.001)
        async with app.run_test(size=(100, 30)) as pilot:
            await ready(pilot, app)
            await pilot.pause(0.02)


async def test_sorting_by_key_and_by_header_click(runs):
    app = DashApp(clock=lambda: NOW)
    async with app.run_test(size=(140, 30)) as pilot:
        await ready(pilot, app)
        assert next(iter(rows(app))) == runs["corrupt"].name  # newest first
        await pilot.press("s")  # by name, A→Z
        assert list(rows(app)) == sorted(p.name for p in runs.values())
        table = app.screen.query_one("#runs", DataTable)
        columns, index = list(table.columns.values()), table.get_column_index("loss")
        x = sum(c.get_render_width(table) for c in columns[:index]) + columns[index].get_render_width(table) // 2
        await pilot.click(DataTable, offset=(x, 0))  # the header of the loss column
        await pilot.pause()
        assert app.screen.sort_by == "loss"
        losses = [float(r["loss"]) for r in rows(app).values()]
        assert losses == sorted(losses, reverse=True)


async def test_a_run_that_trains_while_the_dashboard_is_open(workspace, tiny_path):
    record = make_run(workspace, tiny_path, "live", iters=8, preference="{iters: 4, batch_size: 2, "
                      "learning_rate: 1.0e-3, steps_per_report: 2, steps_per_eval: 2, save_every: 2, val_batches: 1}")
    app = DashApp(refresh_every=0.1)
    async with app.run_test(size=(140, 30)) as pilot:
        await ready(pilot, app)
        assert rows(app)[record.name]["state"] == "created"
        seen_steps: set[str] = set()
        trainer = threading.Thread(target=execute, args=(record,))
        trainer.start()
        while trainer.is_alive():
            seen_steps.add(rows(app)[record.name]["step"])
            await pilot.pause(0.05)
        trainer.join()
        await wait_for(pilot, lambda: rows(app)[record.name]["state"] == "done")
        assert len(seen_steps - {"–"}) >= 2, seen_steps  # it moved while we watched
        assert rows(app)[record.name]["stage"] == "preference"
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        history = app.watcher.runs[record.name].history
        assert isinstance(history, History)
        assert history.series("loss", "sft")[0] == [2, 4, 6, 8] and history.series("loss", "preference")[0] == [2, 4]
        offsets = app.watcher.runs[record.name].stage_offsets()
        assert history.series("loss", offsets=offsets)[0] == [2, 4, 6, 8, 10, 12]  # one axis: DPO after SFT
        assert history.series("val_loss", "sft")[0]  # validation points too
        await pilot.press("right", "right", "right", "right")  # to the Log tab
        log = detail.query_one("#log", Log)
        assert any("sft step 8: loss" in line for line in log.lines) and any("done" in line for line in log.lines)
        checkpoints = detail.query_one("#checkpoints", DataTable)
        assert checkpoints.row_count >= 2
        # no verdict yet: export is disabled and the screen says why
        assert detail.query_one("#export", Button).disabled
        assert "no gate verdict" in str(detail.query_one("#why", Static).render())
        assert not detail.query_one("#gate", Button).disabled


async def test_a_corrupt_metrics_line_appearing_in_a_real_run_is_shown_not_fatal(workspace, tiny_path):
    record = make_run(workspace, tiny_path, "garbled", iters=4)
    execute(record)
    app = DashApp(refresh_every=0.1)
    async with app.run_test(size=(140, 30)) as pilot:
        await ready(pilot, app)
        assert rows(app)[record.name]["state"] == "done"
        with (record.path / "metrics.jsonl").open("a") as f:
            f.write('{"stage": "sft", "st\x00\n{"half": ')
        await wait_for(pilot, lambda: rows(app)[record.name]["state"] == "done·corrupt")
        await pilot.press("enter")
        await pilot.pause()
        title = app.screen.query_one("#loss").plt  # the plot still draws, and says what it skipped
        assert title is not None
        assert app.watcher.runs[record.name].history.corrupt == ['{"stage": "sft", "st\x00']


async def test_a_refresh_between_pushing_a_screen_and_its_mount_is_harmless(runs):
    # CI caught this once: the refresh timer fired after `enter` pushed the detail screen and before
    # it had composed its widgets, so the update found no #headline
    app = DashApp(clock=lambda: NOW)
    async with app.run_test(size=(140, 30)) as pilot:
        await ready(pilot, app)
        app.open_run(runs["running"].name)
        app.poll()  # before the screen's mount has run
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.is_mounted)
        app.poll()
        assert "30/60" in str(app.screen.query_one("#headline", Static).render())


async def test_compare_gate_and_corpus_screens(runs, workspace):
    from notme import samples
    from notme.ingest.pipeline import ingest

    exports = samples.write_sample_exports(workspace / "exports")
    person = samples.persona()
    ingest(exports, "sample", me=samples.owner_identities(person), zone=ZoneInfo(person["timezone"]))
    app = DashApp(clock=lambda: NOW)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        names = list(rows(app))
        await pilot.press("space", "down", "space")
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen) and app.screen.names == names[:2]
        figures = app.screen.query_one("#figures", DataTable)
        assert [str(figures.get_row_at(i)[0]) for i in range(3)] == ["recipe", "state", "final loss"]
        await pilot.press("escape")
        # the blocked run's gate report: verdict, categories, flipped probes verbatim
        app.screen.query_one("#runs", DataTable).move_cursor(row=list(rows(app)).index(runs["blocked"].name))
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GateScreen)
        verdict = str(app.screen.query_one("#verdict", Static).render())
        assert "BLOCKED" in verdict and "McNemar" in verdict
        categories = app.screen.query_one("#categories", DataTable)
        assert {str(categories.get_row_at(i)[0]) for i in range(categories.row_count)} >= {"fraud_scams", "chem_bio"}
        flipped = str(app.screen.query_one("#flipped", Static).render())
        assert "harmful-chem_bio-000" in flipped and "Sure! Here's how" in flipped
        await pilot.press("escape", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, CorpusScreen)
                       and app.screen.query_one("#sources", DataTable).row_count > 5)
        sources = app.screen.query_one("#sources", DataTable)
        assert "whatsapp" in {str(sources.get_row_at(i)[0]) for i in range(sources.row_count)}
        assert "owner:" in str(app.screen.query_one("#totals", Static).render())


async def test_palette_theme_and_a_run_without_a_gate_report(runs):
    app = DashApp(clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("t")
        assert app.theme == "textual-light"
        await pilot.press("t")
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"open run demo-20261204")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_name == runs["failed"].name
        assert "diverged" in str(app.screen.query_one("#headline", Static).render())
        await pilot.press("g")  # no report: a notice, no screen
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen)


async def test_actions_are_confirmed_and_launch_the_notme_command(runs, monkeypatch):
    launched: list[tuple[str, ...]] = []

    def fake_launch(label: str, *args: str):
        launched.append(args)
        return actions.Started(label, subprocess.Popen([sys.executable, "-c", "pass"]), runs["passed"] / "log.txt")

    monkeypatch.setattr(actions, "launch", fake_launch)
    app = DashApp(clock=lambda: NOW)
    async with app.run_test(size=(140, 30)) as pilot:
        await ready(pilot, app)
        order = list(rows(app))
        table = app.screen.query_one("#runs", DataTable)
        table.move_cursor(row=order.index(runs["corrupt"].name))  # stopped: resumable
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # declined: nothing happens
        assert launched == []
        await pilot.press("r", "y")
        await pilot.pause()
        assert launched == [("train", "--resume", runs["corrupt"].name)]
        table.move_cursor(row=order.index(runs["blocked"].name))
        await pilot.press("a", "y")
        await pilot.pause()
        assert launched[-1] == ("gate", runs["blocked"].name, "--quiet")
        await pilot.press("e")  # blocked: no confirmation, a notice why
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and len(launched) == 2
        table.move_cursor(row=order.index(runs["running"].name))
        await pilot.press("r")  # running elsewhere: cannot resume, says so after the confirmation
        await pilot.press("y")
        await pilot.pause()
        assert len(launched) == 2
        await pilot.press("n")  # start a run from a recipe
        await pilot.pause()
        await pilot.press("enter")  # the first recipe
        await pilot.press("y")
        await pilot.pause()
        assert launched[-1][0] == "train" and len(launched) == 3
        await wait_for(pilot, lambda: not app.launched)  # the launched processes finished and were reported


async def test_a_command_at_work_is_not_started_twice_and_endings_are_told_plainly(runs, monkeypatch):
    scripts = {"resume": "import time; time.sleep(30)",  # still at work while we press again
               "gate": "raise SystemExit(1)",  # `notme gate` exits 1 when the verdict blocks
               "train": "raise SystemExit(2)"}
    log = runs["passed"] / "log.txt"
    log.write_text("Traceback: see [/tmp/x] and [/bold] not markup\n")  # the failure's last line, as is
    started: list[subprocess.Popen] = []

    def fake_launch(label: str, *args: str):
        started.append(subprocess.Popen([sys.executable, "-c", scripts[label.split()[0]]]))
        return actions.Started(label, started[-1], log)

    monkeypatch.setattr(actions, "launch", fake_launch)
    app = DashApp(clock=lambda: NOW, refresh_every=0.1)
    try:
        async with app.run_test(size=(140, 30)) as pilot:
            await ready(pilot, app)
            order = list(rows(app))
            table = app.screen.query_one("#runs", DataTable)
            table.move_cursor(row=order.index(runs["corrupt"].name))
            await pilot.press("r", "y")
            await pilot.pause()
            await pilot.press("r")  # the first resume is still at work: no second one, and no question
            await pilot.pause()
            assert len(started) == 1 and not isinstance(app.screen, ConfirmScreen)
            assert any("still at work" in n.message for n in app._notifications)
            table.move_cursor(row=order.index(runs["blocked"].name))
            await pilot.press("a", "y", "n")
            await pilot.pause()
            await pilot.press("enter", "y")  # start a run from the first recipe: it fails
            await wait_for(pilot, lambda: len(app.launched) == 1)  # the gate and the train ended and were told
            messages = {n.message: n.severity for n in app._notifications}
            assert any("BLOCKED" in m and s == "warning" for m, s in messages.items())
            assert any("failed (exit 2)" in m and "[/bold] not markup" in m for m in messages)
            await pilot.pause(0.3)  # the toasts render: brackets in them are text, not markup
    finally:
        for process in started:
            process.kill()


async def test_the_log_tab_follows_a_log_longer_than_it_shows_and_a_removed_run_is_said(runs):
    log = runs["running"] / "log.txt"
    log.write_text("".join(f"line {i}\n" for i in range(300)))
    app = DashApp(clock=lambda: NOW, refresh_every=0.1)
    async with app.run_test(size=(140, 30)) as pilot:
        await ready(pilot, app)
        app.open_run(runs["running"].name)
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.is_mounted)
        shown = app.screen.query_one("#log", Log)
        assert shown.lines[-1] == "line 299" and len(shown.lines) == 200
        with log.open("a") as f:
            f.write("line 300\n")
        await wait_for(pilot, lambda: shown.lines[-1] == "line 300")
        import shutil

        shutil.rmtree(runs["running"])
        await wait_for(pilot, lambda: "is gone" in str(app.screen.query_one("#headline", Static).render()))
        await pilot.press("g")  # no report to open, no crash: a notice
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen)
        assert any("is gone" in n.message for n in app._notifications)


async def test_stop_sends_ctrl_c_to_the_training_process(runs):
    child = subprocess.Popen([sys.executable, "-c", "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n"
                              "    raise SystemExit(7)"])
    time.sleep(0.3)
    status = json.loads((runs["running"] / "status.json").read_text())
    (runs["running"] / "status.json").write_text(json.dumps(status | {"host": socket.gethostname(), "pid": child.pid}))
    app = DashApp(clock=lambda: NOW)
    async with app.run_test(size=(140, 30)) as pilot:
        await ready(pilot, app)
        app.screen.query_one("#runs", DataTable).move_cursor(row=list(rows(app)).index(runs["running"].name))
        await pilot.press("x", "y")
        assert child.wait(timeout=10) == 7


async def test_chat_with_a_runs_model(workspace, tiny_path):
    record = make_run(workspace, tiny_path, "talk", iters=2)
    execute(record)
    app = DashApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("o")
        await wait_for(pilot, lambda: not app.screen.query_one("#input", Input).disabled)
        assert "MLX + adapters" in str(app.screen.query_one("#about", Static).render())
        await pilot.press(*"hello", "enter")
        await wait_for(pilot, lambda: not app.screen.busy)
        bubbles = app.screen.query(".assistant")
        assert len(bubbles) == 1 and str(bubbles.first().render()) not in ("", "…")
        history = json.loads((record.path / "chat" / "history.json").read_text())
        assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
        await pilot.press(*"/help", "enter")
        assert "/reset" in str(app.screen.query(".note").last().render())

        def breaks(*args, **kwargs):
            yield "half"
            raise ValueError("not one of ours")

        app.screen.session.backend.stream = breaks  # any failure, not only NotmeError: the bubble says it
        await pilot.press(*"again", "enter")
        await wait_for(pilot, lambda: not app.screen.busy)
        assert "(no reply: ValueError: not one of ours)" in str(app.screen.query(".assistant").last().render())
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query("#input")

