"""Pick a recipe to start a run from: dismissed with the recipe's name, or None."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from notme.recipe import list_recipes


class StartScreen(ModalScreen[str | None]):
    CSS_PATH = "start.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label("Start a run from which recipe? (enter: choose, escape: cancel)")
            yield OptionList(*(Option(f"{name} — {description}", id=name) for name, _, description in list_recipes()),
                             id="recipes")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
