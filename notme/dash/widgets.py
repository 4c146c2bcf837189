"""Widgets that only render what they are given."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static
from textual_plotext import PlotextPlot

from notme.errors import NotmeError

Series = tuple[str, list[int], list[float]]


class Curves(PlotextPlot):
    """Line plots of (label, steps, values) series sharing one axis."""

    def show(self, title: str, series: list[Series], ylabel: str = "") -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel("step (SFT, then preference)")
        if ylabel:
            plt.ylabel(ylabel)
        drawn = False
        for label, xs, ys in series:
            if xs:
                plt.plot(xs, ys, label=label, marker="braille")
                drawn = True
        if not drawn:
            plt.title(f"{title}: nothing recorded yet")
        self.refresh()


class Bars(PlotextPlot):
    """Stacked bars of counts per label (messages per month)."""

    def show(self, title: str, labels: list[str], stacks: list[tuple[str, list[int]]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title if labels else f"{title}: nothing dated")
        if labels:
            plt.stacked_bar(labels, [values for _, values in stacks], labels=[name for name, _ in stacks])
        self.refresh()


class Conversation(VerticalScroll):
    """Chat bubbles, newest at the bottom (styled in app.tcss by role: user, assistant, note)."""

    def add(self, role: str, text: str) -> Static:
        bubble = Static(text, classes=f"message {role}", markup=False)
        self.mount(bubble)
        self.scroll_end(animate=False)
        return bubble

    def fill(self, bubble: Static, pieces: Iterable[str]) -> None:
        """Show a reply in `bubble` as it streams in; from a worker thread. A failure shows in its place."""
        text = ""
        try:
            for piece in pieces:
                text += piece
                self.app.call_from_thread(bubble.update, text)
        except Exception as e:  # the screen stays up and says what went wrong
            self.app.call_from_thread(bubble.update, f"(no reply: {failure(e)})")
        self.app.call_from_thread(self.scroll_end, animate=False)


def failure(error: Exception) -> str:
    """An error for a screen to show: our own messages as they are, anything else with its kind."""
    return str(error) if isinstance(error, NotmeError) else f"{type(error).__name__}: {error}"


def number(value: object, digits: int = 3) -> str:
    if isinstance(value, int | float):
        return f"{value:.{digits}f}"
    return "–"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


STATE_STYLES = {"running": "bold green", "done": "", "failed": "bold red", "stopped": "yellow",
                "created": "dim", "stalled": "bold yellow", "died": "bold red", "corrupt metrics": "bold magenta"}


def state_text(state: str, flag: str) -> Text:
    """The state column: the flag (failed, died, stalled, corrupt metrics) wins, in its colour."""
    shown = flag if flag and flag != state else state
    if flag == "corrupt metrics":
        shown = f"{state}·corrupt"
    return Text(shown, style=STATE_STYLES.get(flag or state, ""))


def verdict_text(text: str) -> Text:
    if not text:
        return Text("–", style="dim")
    style = "green" if text.startswith("passed") else "bold red"
    return Text(text, style="yellow" if "stale" in text else style)
