"""The runs table: every run under adapters/, live, sortable; failed, dead and stalled runs flagged."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from notme.dash.watch import RunView
from notme.dash.widgets import duration, number, state_text, verdict_text

# (key, label): the key is also the sort key (notme.dash.watch.sort_key).
# No recipe column: a run's name starts with its recipe's.
COLUMNS = [("mark", " "), ("name", "run"), ("stage", "stage"), ("state", "state"), ("step", "step"),
           ("loss", "loss"), ("val_loss", "val"), ("gate", "gate"), ("eta", "ETA"), ("tokens_per_second", "tok/s"),
           ("peak_memory_gb", "GB")]
SORTABLE = [key for key, _ in COLUMNS if key != "mark"]


class RunsScreen(Screen):
    CSS_PATH = "runs.tcss"
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("space", "mark", "Mark"),
        Binding("m", "compare", "Compare"),
        Binding("s", "sort", "Sort"),
        Binding("g", "gate_report", "Gate"),
        Binding("c", "app.corpus", "Corpus"),
        Binding("i", "app.interview", "Interview", show=False),
        Binding("p", "app.practice", "Practice", show=False),
        Binding("n", "app.new_run", "New"),
        Binding("x", "act('stop')", "Stop"),
        Binding("r", "act('resume')", "Resume"),
        Binding("a", "act('gate')", "Run gate"),
        Binding("e", "act('export')", "Export"),
        Binding("o", "chat", "Chat"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort_by = "created"
        self.reverse = True
        self.marked: set[str] = set()
        self.order: list[str] = []
        self.shown: dict[str, list[str]] = {}  # run → its cells as shown, to update only what differs

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="summary", classes="summary")
        table: DataTable = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.rebuild()

    @property
    def table(self) -> DataTable:
        return self.query_one("#runs", DataTable)

    def selected(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return key.value

    def cells(self, view: RunView) -> list[object]:
        flag = view.flag(self.app.clock(), self.app.watcher.stall_after)
        step = f"{view.step}/{view.total}" if view.step is not None and view.total else "–"
        return [
            Text("✓", style="bold") if view.name in self.marked else "",
            view.name, view.stage or "–", state_text(view.state, flag),
            step, number(view.latest.get("loss")), number(view.latest.get("val_loss")), verdict_text(view.gate_text),
            duration(None if flag else view.eta_seconds()), number(view.latest.get("tokens_per_second"), 0),
            number(view.latest.get("peak_memory_gb"), 2),
        ]

    def rebuild(self) -> None:
        """All rows again, in the current order, keeping the cursor on the same run."""
        table, keep = self.table, self.selected()
        views = self.app.watcher.ordered(self.sort_by, self.reverse)
        table.clear()
        self.shown = {}
        for view in views:
            cells = self.cells(view)
            table.add_row(*cells, key=view.name)
            self.shown[view.name] = [str(c) for c in cells]
        self.order = [v.name for v in views]
        if keep in self.order:
            table.move_cursor(row=self.order.index(keep))
        self.show_summary()

    def runs_changed(self, changed: set[str]) -> None:
        watcher = self.app.watcher
        order = [v.name for v in watcher.ordered(self.sort_by, self.reverse)]
        if order != self.order:
            self.rebuild()
            return
        table = self.table
        for name in self.order:  # a running run's flag and ETA change with time alone
            view = watcher.runs[name]
            if name in changed or view.state == "running":
                shown = self.shown[name]
                for i, ((key, _), value) in enumerate(zip(COLUMNS, self.cells(view), strict=True)):
                    if str(value) != shown[i]:
                        table.update_cell(name, key, value)
                        shown[i] = str(value)
        self.show_summary()

    def show_summary(self) -> None:
        watcher = self.app.watcher
        states = [v.state for v in watcher.runs.values()]
        flagged = watcher.flagged(self.app.clock())
        sort = f"sorted by {dict(COLUMNS).get(self.sort_by, self.sort_by)}"
        parts = [f"{len(states)} runs", f"{states.count('running')} running", f"{states.count('done')} done"]
        if flagged:
            parts.append(f"[b red]{len(flagged)} need a look[/]")
        if self.marked:
            parts.append(f"{len(self.marked)} marked (m: compare)")
        parts.append(sort + (" ↓" if self.reverse else " ↑"))
        if not states:
            parts = [f"no runs yet in {watcher.root} — press n to start one from a recipe"]
        self.query_one("#summary", Static).update(Text.from_markup(" · ".join(parts)))

    # actions

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_run(event.row_key.value)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in SORTABLE:
            self.reverse = not self.reverse if key == self.sort_by else True
            self.sort_by = key
            self.rebuild()

    def action_open(self) -> None:
        if name := self.selected():
            self.app.open_run(name)

    def action_mark(self) -> None:
        if name := self.selected():
            self.marked ^= {name}
            mark = self.cells(self.app.watcher.runs[name])[0]
            self.table.update_cell(name, "mark", mark)
            self.shown[name][0] = str(mark)
            self.show_summary()

    def action_sort(self) -> None:
        keys = ["created", *SORTABLE]
        self.sort_by = keys[(keys.index(self.sort_by) + 1) % len(keys)]
        self.reverse = self.sort_by in ("created", "step", "eta", "tokens_per_second", "peak_memory_gb")
        self.rebuild()

    def action_compare(self) -> None:
        from notme.dash.screens.compare import CompareScreen

        names = [n for n in self.order if n in self.marked]
        if len(names) < 2:
            self.notify("mark two or more runs with space, then press m", severity="warning")
            return
        self.app.push_screen(CompareScreen(names))

    def action_gate_report(self) -> None:
        from notme.dash.screens.gate import GateScreen

        name = self.selected()
        if name and (self.app.watcher.runs[name].path / "gate" / "report.json").is_file():
            self.app.push_screen(GateScreen(name))
        elif name:
            self.notify(f"{name} has no gate report yet (a: run the gate)", severity="warning")

    def action_act(self, kind: str) -> None:
        if name := self.selected():
            self.app.act_on_run(kind, name)

    def action_chat(self) -> None:
        if name := self.selected():
            self.app.open_chat(name)
