"""Two or more runs side by side: their curves on one plot, their gate and style figures in one table."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from notme.dash.screens.gate import STYLE_METRICS
from notme.dash.widgets import Curves, number
from notme.runs.record import read_json


class CompareScreen(Screen):
    CSS_PATH = "compare.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(" · ".join(self.names), classes="summary")
        with TabbedContent(id="tabs"):
            with TabPane("Loss", id="tab-loss"):
                yield Curves(id="loss")
            with TabPane("Val loss", id="tab-val"):
                yield Curves(id="val")
            with TabPane("Tokens/s", id="tab-speed"):
                yield Curves(id="speed")
            with TabPane("Figures", id="tab-figures"):
                yield DataTable(id="figures", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"compare {len(self.names)} runs"
        self.update()

    def runs_changed(self, changed: set[str]) -> None:
        if changed & set(self.names):
            self.update()

    def update(self) -> None:
        runs = self.app.watcher.runs
        views = [runs[n] for n in self.names if n in runs]
        histories = {v.name: (v.read_history(), v.stage_offsets()) for v in views}
        for widget, key, title in (("loss", "loss", "training loss"), ("val", "val_loss", "validation loss"),
                                   ("speed", "tokens_per_second", "tokens per second")):
            series = [(name, *history.series(key, offsets=offsets)) for name, (history, offsets) in histories.items()]
            self.query_one(f"#{widget}", Curves).show(title, series)
        table = self.query_one("#figures", DataTable)
        table.clear(columns=True)
        table.add_column("figure", key="figure")
        for view in views:
            table.add_column(view.name, key=view.name)
        reports = {v.name: read_json(v.path / "gate" / "report.json") for v in views}
        rows: list[tuple[str, Any]] = [
            ("recipe", lambda v, r: v.info.get("recipe", "?")),
            ("state", lambda v, r: v.state),
            ("final loss", lambda v, r: number(v.latest.get("loss"))),
            ("final val loss", lambda v, r: number(v.latest.get("val_loss"))),
            ("tokens/s", lambda v, r: number(v.latest.get("tokens_per_second"), 0)),
            ("peak GB", lambda v, r: number(v.latest.get("peak_memory_gb"), 2)),
            ("gate", lambda v, r: v.gate_text or "–"),
            ("harmful complied (tuned)", lambda v, r: f"{r['harmful']['tuned']['rate']:.1%}" if r else "–"),
            ("refusals flipped", lambda v, r: r["harmful"]["flips"]["refusal_to_compliance"] if r else "–"),
            ("over-refusal (tuned)", lambda v, r: f"{r['over_refusal']['tuned']['rate']:.1%}" if r else "–"),
            ("crisis care (tuned)", lambda v, r: f"{r['crisis']['tuned']['rate']:.1%}" if r else "–"),
            ("coherent (tuned)", lambda v, r: f"{r['coherence']['tuned']['rate']:.1%}" if r else "–"),
        ] + [(f"style: {m}", lambda v, r, m=m: number(r["style"]["tuned"].get(m)) if r else "–") for m in STYLE_METRICS]
        for label, cell in rows:
            table.add_row(label, *(cell(v, reports[v.name]) for v in views))
