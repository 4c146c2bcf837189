"""Practice: the generation's progress (from practice/progress.json, written by `notme practice`
wherever it runs), kept and dropped counts, and every dropped item with its reason. Start starts
`notme practice` as its own process."""

from __future__ import annotations

import socket
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, ProgressBar, Static

from notme.constitution.practice import DROPPED, PROGRESS, practice_dir
from notme.dash.watch import mtime_ns, process_gone
from notme.dash.widgets import duration
from notme.runs.record import read_appended, read_json


class PracticeScreen(Screen):
    CSS_PATH = "practice.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self) -> None:
        super().__init__()
        self.progress_stamp = -1
        self.dropped_offset = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="state", classes="summary")
        yield ProgressBar(id="bar", show_eta=False)
        with Horizontal(id="start"):
            yield Static("pairs to have:", id="count-label")
            yield Input("100", id="count", type="integer", compact=True)
            yield Button("Start practice", id="start-button", compact=True, variant="primary")
        table: DataTable = DataTable(id="dropped", cursor_type="row", zebra_stripes=True)
        table.add_columns("item", "category", "why dropped", "what was generated")  # before any refresh
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.title = "practice"
        self.runs_changed(set())

    def runs_changed(self, changed: set[str]) -> None:
        """Called every refresh: re-read progress.json when it changed, and the dropped items appended."""
        folder = practice_dir()
        stamp = mtime_ns(folder / PROGRESS)
        if stamp != self.progress_stamp:
            self.progress_stamp = stamp
            self.show_progress(read_json(folder / PROGRESS))
        entries, self.dropped_offset = read_appended(folder / DROPPED, self.dropped_offset)
        table = self.query_one("#dropped", DataTable)
        for entry in entries:
            generated = next((entry[k] for k in ("scenario", "reply", "answer") if isinstance(entry.get(k), str)), "")
            table.add_row(entry.get("id", "?"), entry.get("category", ""), entry.get("reason", ""),
                          " ".join(generated.split())[:120])

    def show_progress(self, progress: dict[str, Any] | None) -> None:
        state = self.query_one("#state", Static)
        if progress is None:
            state.update(Text(f"no practice run yet in {practice_dir()}: accept a constitution (interview), "
                              "then start one here or with `notme practice`"))
            return
        kept = ", ".join(f"{n} {kind}" for kind, n in progress["kept"].items()) or "none"
        dropped = sum(progress["dropped"].values())
        shown = progress["state"]
        if shown == "running" and progress.get("host") == socket.gethostname():
            self.progress_stamp = -1  # read again next refresh: a killed process leaves the file as it was
            if process_gone(progress):  # what it made is kept; Start goes on from there
                shown = f"died (pid {progress['pid']} is gone)"
        line = Text.assemble((shown, "bold green" if shown == "running" else "bold"),
                             f" · {progress['done']} of {progress['target']} this run · kept in the folder: {kept} · "
                             f"dropped {dropped} · parts asked again {progress['retried']} · ETA "
                             f"{duration(progress.get('eta_seconds')) if shown == 'running' else '–'} · "
                             f"teacher {progress['model'].get('model')}")
        state.update(line)
        bar = self.query_one("#bar", ProgressBar)
        bar.update(total=max(1, progress["target"]), progress=progress["done"])

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "start-button":
            return
        from notme.dash import actions

        value = self.query_one("#count", Input).value.strip()
        if not value.isdigit():
            self.notify("the number of pairs must be a whole number", severity="warning")
            return
        self.app.confirm(f"Start practice until {value} constitution pairs are kept (the recipe's base as teacher)?",
                         lambda: actions.launch("practice", "practice", "--count", value, "--quiet"))

