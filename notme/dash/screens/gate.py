"""A run's gate report: the verdict, harmful compliance per category (base vs tuned), every flipped
probe verbatim, the other measures and style metrics, and the detector disagreements to review."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Markdown, Static, TabbedContent, TabPane

from notme.gate.report import render_markdown

STYLE_METRICS = ("hedging", "approval_seeking", "sycophantic_opener", "hedges_per_100_words", "mean_words",
                 "owner_similarity")


def _rate(r: dict[str, Any]) -> str:
    return f"{r['k']}/{r['n']} {r['rate']:.1%}"


class GateScreen(Screen):
    CSS_PATH = "gate.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.run_name = name

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="verdict", classes="summary")
        with TabbedContent(id="tabs"):
            with TabPane("Categories", id="tab-categories"):
                yield DataTable(id="categories", cursor_type="row", zebra_stripes=True)
            with TabPane("Flipped", id="tab-flipped"), VerticalScroll():
                yield Static(id="flipped")
            with TabPane("Measures", id="tab-measures"):
                yield DataTable(id="measures", cursor_type="row")
            with TabPane("Review", id="tab-review"):
                yield DataTable(id="review", cursor_type="row")
            with TabPane("Report", id="tab-report"), VerticalScroll():
                yield Markdown(id="report")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"gate · {self.run_name}"
        path = self.app.watcher.runs[self.run_name].path / "gate" / "report.json"
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            self.query_one("#verdict", Static).update(f"[b red]{path}: cannot read the report ({e})[/]")
            return
        self.show(report)

    def show(self, report: dict[str, Any]) -> None:
        passed = report.get("passed")
        lines = [f"[b {'green' if passed else 'red'}]{'PASSED' if passed else 'BLOCKED'}[/] · "
                 f"{report['suite']['tier']} suite, {report['suite']['probes']} probes · "
                 f"adapters at scale {report['binding']['scale']}"]
        lines += [f"[red]blocks:[/] {escape(b)}" for b in report.get("blocks", [])]
        lines += [f"[yellow]warning:[/] {escape(w)}" for w in report.get("warnings", [])]
        self.query_one("#verdict", Static).update(Text.from_markup("\n".join(lines)))

        harmful = report["harmful"]
        table = self.query_one("#categories", DataTable)
        table.add_columns("category", "base", "tuned", "rise", "new")
        for category, c in harmful["categories"].items():
            rise = Text(f"{c['rise']:+d}", style="bold red" if c["rise"] > 0 else "")
            table.add_row(category, _rate(c["base"]), _rate(c["tuned"]), rise, len(c.get("new_compliances", [])))
        table.add_row(Text("all", style="bold"), _rate(harmful["base"]), _rate(harmful["tuned"]),
                      f"{harmful['tuned']['k'] - harmful['base']['k']:+d}", harmful["flips"]["refusal_to_compliance"])

        flipped = Text()
        for row in harmful["flipped"]:
            flipped.append(f"{row['id']} ({row['category']})\n", style="bold")
            flipped.append(f"  {row['prompt']}\n", style="italic")
            flipped.append(f"  base  [{row['base']['label']}] ", style="green")
            flipped.append(" ".join(row["base"]["reply"].split()) + "\n")
            flipped.append(f"  tuned [{row['tuned']['label']}] ", style="red")
            flipped.append(" ".join(row["tuned"]["reply"].split()) + "\n\n")
        self.query_one("#flipped", Static).update(flipped or Text("No refusal turned into compliance."))

        measures = self.query_one("#measures", DataTable)
        measures.add_columns("measure", "base", "tuned")
        for label, section in (("over-refusal (benign refused)", report["over_refusal"]),
                               ("crisis care + resource", report["crisis"]), ("coherent", report["coherence"])):
            measures.add_row(label, _rate(section["base"]), _rate(section["tuned"]))
        identity = report["identity"]
        measures.add_row("identity consistency", f"{identity['base']:.2f}", f"{identity['tuned']:.2f}")
        style = report["style"]
        for metric in STYLE_METRICS:
            if metric in style["base"]:
                measures.add_row(f"style: {metric}", f"{style['base'][metric]:.3f}", f"{style['tuned'][metric]:.3f}")

        review = self.query_one("#review", DataTable)
        review.add_columns("probe", "model", "judge", "lexical", "reply")
        disagreements = report["detector"]["disagreements"]
        for row in disagreements:
            review.add_row(row["id"], row["model"], row["judge"], row["lexical"], " ".join(row["reply"].split())[:200])
        if not disagreements:
            review.add_row("–", "", "", "", "no disagreements (or no judge configured)")
        self.query_one("#report", Markdown).update(render_markdown(report))
