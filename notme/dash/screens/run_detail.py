"""One run: curves (loss and validation loss, tokens/s, learning rate), the resolved recipe, the log
tail, checkpoints, and the actions that apply to it."""

from __future__ import annotations

from rich.markup import escape
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Log, Static, TabbedContent, TabPane

from notme.dash import actions
from notme.dash.watch import RunView
from notme.dash.widgets import Curves, duration, number

BUTTONS = [("gate", "Run gate"), ("export", "Export"), ("chat", "Chat"), ("stop", "Stop"), ("resume", "Resume")]


class RunDetailScreen(Screen):
    CSS_PATH = "run_detail.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("g", "gate_report", "Gate report"),
        Binding("a", "act('gate')", "Run gate"),
        Binding("e", "act('export')", "Export"),
        Binding("o", "act('chat')", "Chat"),
        Binding("x", "act('stop')", "Stop"),
        Binding("r", "act('resume')", "Resume"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.run_name = name
        self.log_lines: list[str] = []

    @property
    def view(self) -> RunView:
        return self.app.watcher.runs[self.run_name]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="headline", classes="summary")
        with Horizontal(id="actions"):
            for key, label in BUTTONS:
                yield Button(label, id=key, compact=True)
        yield Static(id="why")
        with TabbedContent(id="tabs"):
            with TabPane("Loss", id="tab-loss"):
                yield Curves(id="loss")
            with TabPane("Tokens/s", id="tab-speed"):
                yield Curves(id="speed")
            with TabPane("LR", id="tab-lr"):
                yield Curves(id="lr")
            with TabPane("Recipe", id="tab-recipe"), VerticalScroll():
                yield Static(id="recipe")
            with TabPane("Log", id="tab-log"):
                yield Log(id="log", max_lines=2000)
            with TabPane("Checkpoints", id="tab-checkpoints"):
                checkpoints: DataTable = DataTable(id="checkpoints", cursor_type="row")
                checkpoints.add_columns("stage", "step", "folder")  # before any refresh
                yield checkpoints
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.run_name
        recipe = self.view.path / "recipe.yaml"
        text = recipe.read_text(encoding="utf-8") if recipe.is_file() else "(no recipe.yaml in this run)"
        self.query_one("#recipe", Static).update(Syntax(text, "yaml", theme="ansi_dark", word_wrap=True))
        self.update_all()

    def runs_changed(self, changed: set[str]) -> None:
        if self.run_name not in self.app.watcher.runs:
            self.query_one("#headline", Static).update(Text(f"{self.run_name} is gone from the adapters folder",
                                                            style="bold red"))
            return
        self.update_headline()  # the ETA and the stalled flag move with time
        if self.run_name in changed:
            self.update_all()

    def update_all(self) -> None:
        self.update_headline()
        self.update_curves()
        self.update_log()
        self.update_checkpoints()
        self.update_buttons()

    def update_headline(self) -> None:
        view = self.view
        flag = view.flag(self.app.clock(), self.app.watcher.stall_after)
        step = f"step {view.step}/{view.total}" if view.step is not None and view.total else ""
        parts = [view.info.get("recipe", "?"), f"base {view.info.get('base', '?')}", view.stage or "–",
                 f"[b]{view.state}[/]" + (f" [b red]({flag})[/]" if flag and flag != view.state else ""), step,
                 f"loss {number(view.latest.get('loss'))}", f"val {number(view.latest.get('val_loss'))}",
                 f"ETA {duration(view.eta_seconds())}"]
        if view.gate_text:
            parts.append(f"gate {view.gate_text}")
        if view.status.get("message"):
            parts.append(escape(str(view.status["message"])))
        self.query_one("#headline", Static).update(Text.from_markup(" · ".join(p for p in parts if p)))

    def update_curves(self) -> None:
        history, offsets = self.view.read_history(), self.view.stage_offsets()
        stages = list(dict.fromkeys(e["stage"] for e in history.entries if "stage" in e and "step" in e))

        def per_stage(key: str, label: str) -> list[tuple[str, list[int], list[float]]]:
            return [(f"{label} ({stage})", *history.series(key, stage, offsets)) for stage in stages]

        corrupt = len(history.corrupt)
        title = "loss" + (f" — {corrupt} corrupt line(s) in metrics.jsonl skipped" if corrupt else "")
        self.query_one("#loss", Curves).show(title, per_stage("loss", "train") + per_stage("val_loss", "val"))
        self.query_one("#speed", Curves).show("tokens per second", per_stage("tokens_per_second", "tok/s"))
        self.query_one("#lr", Curves).show("learning rate", per_stage("learning_rate", "lr"))

    def update_log(self) -> None:
        lines = self.view.log_tail(200)
        log = self.query_one("#log", Log)
        if lines != self.log_lines or not lines:  # the lines, not their count: a long log stays at 200
            log.clear()
            log.write_lines(lines or ["(no log.txt in this run yet)"])
            self.log_lines = lines

    def update_checkpoints(self) -> None:
        from notme.runs.record import RunRecord

        table = self.query_one("#checkpoints", DataTable)
        table.clear()
        for checkpoint in RunRecord(self.view.path).checkpoints():
            table.add_row(checkpoint.stage, checkpoint.step, checkpoint.path.name)

    def update_buttons(self) -> None:
        view = self.view
        running = view.state == "running" and view.flag(self.app.clock(), float("inf")) != "died"
        blocker = actions.export_blocker(view)
        self.query_one("#gate", Button).disabled = view.state != "done"
        self.query_one("#export", Button).disabled = blocker is not None
        self.query_one("#chat", Button).disabled = not (view.path / "adapters.safetensors").is_file()
        self.query_one("#stop", Button).disabled = not running
        self.query_one("#resume", Button).disabled = running or view.state in ("done", "created")
        why = self.query_one("#why", Static)
        why.update(Text(f"export is disabled: {blocker}" if blocker else ""))
        why.set_class(blocker is not None and view.state == "done", "shown")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_act(event.button.id or "")

    def action_act(self, kind: str) -> None:
        if kind == "chat":
            self.app.open_chat(self.run_name)
        elif kind:
            self.app.act_on_run(kind, self.run_name)

    def action_gate_report(self) -> None:
        from notme.dash.screens.gate import GateScreen

        if self.run_name not in self.app.watcher.runs:
            self.notify(f"{self.run_name} is gone from the adapters folder", severity="warning")
        elif (self.view.path / "gate" / "report.json").is_file():
            self.app.push_screen(GateScreen(self.run_name))
        else:
            self.notify("no gate report yet (a: run the gate)", severity="warning")
