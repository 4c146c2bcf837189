"""A corpus: per-source counts, the owner's share, messages over time, what was skipped and scrubbed."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Select, Static, TabbedContent, TabPane

from notme.corpus.stats import corpus_stats
from notme.corpus.store import Corpus, list_corpora
from notme.dash.widgets import Bars
from notme.errors import NotmeError


def share(mine: int, total: int) -> str:
    return f"{mine / total:.0%}" if total else "–"


class CorpusScreen(Screen):
    CSS_PATH = "corpus.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Header()
        names = [c.name for c in list_corpora()]
        yield Select([(n, n) for n in names], value=names[0] if names else Select.NULL, allow_blank=not names,
                     id="corpus", compact=True)
        yield Static("no corpus yet: `notme ingest` builds one" if not names else "reading…", id="totals",
                     classes="summary")
        with TabbedContent(id="tabs"):
            with TabPane("Sources", id="tab-sources"):
                yield DataTable(id="sources", cursor_type="row", zebra_stripes=True)
            with TabPane("Over time", id="tab-time"):
                yield Bars(id="months")
            with TabPane("Left out", id="tab-left-out"):
                yield DataTable(id="left-out", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "corpus"
        self.query_one("#sources", DataTable).add_columns(
            "source", "conversations", "groups", "messages", "mine", "my share", "my words", "first", "last")
        self.query_one("#left-out", DataTable).add_columns("source", "what", "why", "count")
        select = self.query_one("#corpus", Select)
        if select.value is not Select.NULL:
            self.load(str(select.value))

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.load(str(event.value))

    @work(thread=True, exclusive=True)
    def load(self, name: str) -> None:
        try:
            stats = corpus_stats(Corpus(name))
        except NotmeError as e:
            self.app.call_from_thread(self.query_one("#totals", Static).update, Text(str(e), style="bold red"))
            return
        self.app.call_from_thread(self.show, stats)

    def show(self, stats: dict[str, Any]) -> None:
        total = stats["total"]
        owner = ", ".join(stats["owner"]["names"]) or "not set (notme corpus owner --add NAME)"
        self.query_one("#totals", Static).update(Text.from_markup(
            f"[b]{stats['corpus']}[/] · {total['conversations']} conversations · {total['messages']} messages, "
            f"{total['my_messages']} the owner's ({share(total['my_messages'], total['messages'])}) · "
            f"{(total['first'] or '?')[:10]} → {(total['last'] or '?')[:10]} · owner: {escape(owner)}"))
        sources = self.query_one("#sources", DataTable)
        sources.clear()
        left_out = self.query_one("#left-out", DataTable)
        left_out.clear()
        for name, s in stats["sources"].items():
            sources.add_row(name, s["conversations"], s["group_conversations"], s["messages"], s["my_messages"],
                            share(s["my_messages"], s["messages"]), s["my_words"], (s["first"] or "–")[:10],
                            (s["last"] or "–")[:10])
            for what, key in (("messages skipped", "skipped_messages"),
                              ("conversations dropped", "dropped_conversations"), ("scrubbed", "scrubbed")):
                for why, count in s[key].items():
                    left_out.add_row(name, what, why, count)
        if not left_out.row_count:
            left_out.add_row("–", "nothing", "", 0)
        months = stats["by_month"]
        self.query_one("#months", Bars).show(
            "messages per month", list(months),
            [("the owner's", [m[1] for m in months.values()]), ("others'", [m[0] - m[1] for m in months.values()])])
