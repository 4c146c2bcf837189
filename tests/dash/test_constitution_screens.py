"""The Interview and Practice screens, driven by Pilot."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from textual.widgets import Button, DataTable, Input, Static, TextArea

from notme.constitution import store
from notme.constitution.practice import DROPPED, PROGRESS, Practice, practice_dir
from notme.dash import actions
from notme.dash.app import DashApp
from notme.dash.screens.confirm import ConfirmScreen
from notme.dash.screens.interview import InterviewScreen
from notme.dash.screens.practice import PracticeScreen
from tests.constitution.test_practice import CONSTITUTION, Teacher, good, settings
from tests.dash.test_app import ready, wait_for


async def test_interview_talk_draft_edit_accept(workspace, tiny_path):
    app = DashApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot, app)
        greedy = workspace / "greedy.yaml"  # sampled, the tiny model's draft can come back empty
        greedy.write_text("extends: constitution\ninterview: {temperature: 0.0}\n")
        await app.push_screen(InterviewScreen(target=str(tiny_path), recipe=str(greedy)))
        await pilot.pause()
        await wait_for(pilot, lambda: not app.screen.query_one("#input", Input).disabled)
        screen = app.screen
        assert len(screen.query(".assistant")) == 1  # the model answered the invitation
        await pilot.press(*"hello", "enter")
        await wait_for(pilot, lambda: not screen.busy)
        assert len(screen.query(".assistant")) == 2
        await pilot.press(*"/help", "enter")  # a command is not sent to the model
        assert "/accept" in str(screen.query(".note").last().render()) and len(screen.query(".assistant")) == 2
        await pilot.press(*"/draft", "enter")  # the same as F2
        await wait_for(pilot, lambda: not screen.busy and screen.query_one("#draft", TextArea).text.strip())
        draft = store.draft_path().read_text().split()
        assert draft and draft[0] in screen.query_one("#draft", TextArea).text  # the model's draft, to edit
        screen.query_one("#draft", TextArea).text = CONSTITUTION  # the owner rewrites it
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # not yet: /accept from the input asks the same
        await pilot.pause()
        screen.query_one("#input", Input).focus()
        await pilot.press(*"/accept", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert (store.constitution_dir() / store.CURRENT).read_text() == CONSTITUTION.strip() + "\n"
        assert [v.name for v in store.versions()] == ["v001.md"]
        transcript = json.loads(store.latest_transcript().read_text())
        assert len(transcript["messages"]) == 6  # invitation, hello, draft request, each answered
        # the owner writes in the editor while the model drafts: the finished draft does not replace it
        release, draft = threading.Event(), screen.session.draft
        screen.session.draft = lambda: release.wait(30) and draft()
        await pilot.press("f2")
        screen.query_one("#draft", TextArea).text = "my own words"
        release.set()
        await wait_for(pilot, lambda: not screen.busy)
        assert screen.query_one("#draft", TextArea).text == "my own words"
        assert store.draft_path().read_text().strip() != "my own words"  # the model's, kept beside it


async def test_practice_progress_dropped_items_and_start(workspace, monkeypatch):
    def script(kind, prompt, n):
        return "" if kind == "critique" and n <= 3 else good(kind, prompt, n)

    Practice(Teacher(script), CONSTITUTION, settings(concurrency=1)).run(2)
    launched = []

    def fake_launch(label, *args):
        launched.append(args)
        return actions.Started(label, subprocess.Popen([sys.executable, "-c", "pass"]), practice_dir() / PROGRESS)

    monkeypatch.setattr(actions, "launch", fake_launch)
    app = DashApp(refresh_every=0.1)
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PracticeScreen)
        state = str(screen.query_one("#state", Static).render())
        assert state.startswith("done") and "kept in the folder: 2 constitution" in state and "dropped 1" in state
        table = screen.query_one("#dropped", DataTable)
        assert table.row_count == 1 and "critique: empty or unusable output" in str(table.get_row_at(0)[2])
        # another practice run elsewhere: the screen follows its files
        Practice(Teacher(lambda k, p, n: "" if k == "scenario" else good(k, p, n)), CONSTITUTION,
                 settings(concurrency=1, attempts=1)).run(3)
        await wait_for(pilot, lambda: table.row_count > 1)
        assert all("scenario:" in str(table.get_row_at(i)[2]) for i in range(1, table.row_count))
        # pressed, not clicked: a notification toast can lie over the button at the click's coordinates
        screen.query_one("#start-button", Button).press()
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await pilot.pause()
        assert launched == [("practice", "--count", "100", "--quiet")]
        # a practice process killed mid-run leaves progress.json saying "running": the screen sees it died
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        progress = json.loads((practice_dir() / PROGRESS).read_text())
        (practice_dir() / PROGRESS).write_text(json.dumps({**progress, "state": "running", "pid": gone.pid}))
        await wait_for(pilot, lambda: "died" in str(screen.query_one("#state", Static).render()))


async def test_practice_screen_before_any_practice(workspace):
    app = DashApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("p")
        await pilot.pause()
        assert "no practice run yet" in str(app.screen.query_one("#state", Static).render())
        assert not (practice_dir() / DROPPED).exists()
