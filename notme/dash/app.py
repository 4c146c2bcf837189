"""The dashboard app: one watcher over the run records, refreshed every second; screens render it.

Screens that show runs implement `runs_changed(names)`; the app calls it on every screen in the stack
after each refresh, so a screen underneath is current when it comes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from notme.dash import actions
from notme.dash.screens.confirm import ConfirmScreen
from notme.dash.screens.runs import RunsScreen
from notme.dash.watch import RunsWatcher, RunView
from notme.errors import NotmeError
from notme.workspace import adapters_dir

THEMES = ("textual-dark", "textual-light")


class DashCommands(Provider):
    """Command palette entries: every screen and action, and every run by name."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = self.app
        assert isinstance(app, DashApp)
        found: list[tuple[str, Callable[[], object], str]] = [
            ("Corpus", app.action_corpus, "per-source counts, the owner's share, messages over time"),
            ("Interview", app.action_interview, "write the constitution with the constitution recipe's base model"),
            ("Practice", app.action_practice, "self-refinement pairs from the constitution: progress, dropped items"),
            ("New run from a recipe", app.action_new_run, "pick a recipe and start training"),
            ("Toggle dark / light theme", app.action_toggle_theme, "the other theme"),
        ]
        for view in app.watcher.ordered():
            found.append((f"Open run {view.name}", partial(app.open_run, view.name), f"{view.state} · {view.stage}"))
        return found

    async def discover(self) -> Hits:
        for name, run, help_text in self._commands()[:5]:
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)


class DashApp(App):
    TITLE = "notme dash"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {DashCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("t", "toggle_theme", "Theme"),
        Binding("ctrl+p", "command_palette", "Commands", show=False),
    ]

    def __init__(self, root: Path | None = None, stall_after: float = 600.0, refresh_every: float = 1.0,
                 clock: Callable[[], float] = time.time, theme: str = "textual-dark") -> None:
        super().__init__()
        self.watcher = RunsWatcher(root or adapters_dir(), stall_after)
        self.refresh_every = refresh_every
        self.clock = clock
        self.launched: list[actions.Started] = []
        self.theme = theme

    def on_mount(self) -> None:
        self.watcher.refresh()
        self.push_screen(RunsScreen())
        self.set_interval(self.refresh_every, self.poll)

    def poll(self) -> None:
        if not self.is_running:  # shutting down: the screens are being taken apart (the timer is stopped last)
            return
        changed = self.watcher.refresh()
        for screen in self.screen_stack:
            update = getattr(screen, "runs_changed", None)
            if update and screen.is_mounted:  # a screen just pushed may not have composed its widgets yet
                update(changed)
        for started in list(self.launched):
            code = started.finished()
            if code is not None:
                self.launched.remove(started)
                if code == 0:
                    self.notify(f"{started.label}: done")
                elif code == 1 and started.label.startswith("gate "):  # `notme gate` exits 1 on a blocked verdict
                    self.notify(f"{started.label}: BLOCKED, not exportable (g: the report)", severity="warning",
                                timeout=15)
                else:
                    self.notify(f"{started.label} failed (exit {code}): {started.last_line()}\nlog: {started.log}",
                                severity="error", timeout=15)

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        # plain text always: messages carry paths, errors and log lines, where brackets are not markup
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def run_view(self, name: str) -> RunView | None:
        return self.watcher.runs.get(name)

    # screens

    def open_run(self, name: str) -> None:
        from notme.dash.screens.run_detail import RunDetailScreen

        if name in self.watcher.runs:
            self.push_screen(RunDetailScreen(name))

    def action_corpus(self) -> None:
        from notme.dash.screens.corpus import CorpusScreen

        self.push_screen(CorpusScreen())

    def action_interview(self) -> None:
        from notme.dash.screens.interview import InterviewScreen

        self.push_screen(InterviewScreen())

    def action_practice(self) -> None:
        from notme.dash.screens.practice import PracticeScreen

        self.push_screen(PracticeScreen())

    def action_toggle_theme(self) -> None:
        self.theme = THEMES[(THEMES.index(self.theme) + 1) % len(THEMES)] if self.theme in THEMES else THEMES[0]

    def action_new_run(self) -> None:
        from notme.dash.screens.start import StartScreen

        def chosen(recipe: str | None) -> None:
            if recipe:
                self.confirm(f"Start a run of the recipe {recipe}?", lambda: actions.start_run(recipe))

        self.push_screen(StartScreen(), chosen)

    # actions on a run, each confirmed first

    def confirm(self, question: str, act: Callable[[], object]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.perform(act)

        self.push_screen(ConfirmScreen(question), answered)

    def perform(self, act: Callable[[], object]) -> None:
        try:
            result = act()
        except NotmeError as e:
            self.notify(str(e), severity="error", timeout=10)
            return
        if isinstance(result, actions.Started):
            self.launched.append(result)
            self.notify(f"{result.label}: started (pid {result.process.pid}); output in {result.log}")
        elif isinstance(result, str):
            self.notify(result)

    def act_on_run(self, kind: str, name: str) -> None:
        """stop / resume / gate / export the run `name`, after a confirmation (or say why it cannot)."""
        view = self.run_view(name)
        if view is None:
            return
        at_work = next((s for s in self.launched if s.label.endswith(f" {name}")), None)
        if at_work and kind != "stop":  # a second resume would train beside the first on the same files
            self.notify(f"{at_work.label} is still at work (pid {at_work.process.pid}); wait for it to end",
                        severity="warning", timeout=10)
            return
        if kind == "export" and (reason := actions.export_blocker(view)):
            self.notify(f"export is disabled: {reason}", severity="warning", timeout=10)
            return
        questions = {"stop": f"Stop {name}? It can be resumed from its last checkpoint.",
                     "resume": f"Resume {name} from its last checkpoint?",
                     "gate": f"Run the safety gate on {name}? (minutes: every probe twice)",
                     "export": f"Export {name} as GGUF?"}
        functions = {"stop": actions.stop_run, "resume": actions.resume_run, "gate": actions.gate_run,
                     "export": actions.export_run}
        self.confirm(questions[kind], partial(functions[kind], view))

    def open_chat(self, name: str) -> None:
        from notme.dash.screens.chat import ChatScreen

        view = self.run_view(name)
        if view is None or not (view.path / "adapters.safetensors").is_file():
            self.notify(f"{name} has no trained adapters to chat with yet", severity="warning")
            return
        self.push_screen(ChatScreen(name))
