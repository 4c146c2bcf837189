"""How the CLI shows things: rich tables and text built from plain data (reports, stats, records).
Nothing here reads files or changes state."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from notme.corpus.schema import Conversation
from notme.ingest.pipeline import IngestReport


def _date(timestamp: str | None) -> str:
    return timestamp[:10] if timestamp else "—"


def _reasons(counts: dict[str, int], limit: int = 6) -> str:
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{reason} ×{n:,}" for reason, n in items[:limit])
    if len(items) > limit:
        text += f", {len(items) - limit} more"
    return text


def stats_view(stats: dict[str, Any]) -> Group:
    table = Table(title=f"corpus {stats['corpus']!r}", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for column, justify in [("source", "left"), ("chats", "right"), ("groups", "right"), ("msgs", "right"),
                            ("yours", "right"), ("words", "right"), ("from", "left"), ("to", "left")]:
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    # A source whose conversations were all stored under another one (duplicates) has no row.
    rows = [(name, s) for name, s in stats["sources"].items() if s["conversations"]]
    for name, s in [*rows, ("total", stats["total"])]:
        table.add_row(
            Text(name, style="bold" if name == "total" else ""),
            f"{s['conversations']:,}", f"{s['group_conversations']:,}", f"{s['messages']:,}",
            f"{s['my_messages']:,}", f"{s['my_words']:,}", _date(s["first"]), _date(s["last"]),
            end_section=bool(rows) and name == rows[-1][0],
        )
    lines: list[Any] = [table]
    owner = stats["owner"]
    if owner["names"]:
        lines.append(Text.from_markup(f"[bold]you are[/]: {escape(', '.join(owner['names']))}"))
    basis = "; ".join(f"{src}: {how}" for src, how in sorted(owner["by_source"].items()))
    if basis:
        lines.append(Text.from_markup(f"[bold]recognised by[/]: {escape(basis)}"))
    for name, s in rows:
        parts = []
        if s["dropped_conversations"]:
            parts.append(f"conversations: {_reasons(s['dropped_conversations'])}")
        if s["skipped_messages"]:
            parts.append(f"messages: {_reasons(s['skipped_messages'])}")
        if parts:
            lines.append(Text.from_markup(f"[bold]left out of {escape(name)}[/]: " + escape("; ".join(parts))))
    scrubbed = stats["total"]["scrubbed"]
    lines.append(Text.from_markup(
        "[bold]scrubbed[/]: " + (escape(_reasons(scrubbed, 10)) if scrubbed else "nothing found")
    ))
    if stats["excluded"]:
        lines.append(Text(f"{stats['excluded']} conversation(s) removed by you are kept out."))
    return Group(*lines)


def ingest_view(report: IngestReport) -> Group:
    lines: list[Any] = []
    for item in report.inputs:
        c = item.conversations
        counted = ", ".join(f"{c[k]:,} {k}" for k in ("added", "updated", "unchanged", "repeated",
                                                       "duplicate", "excluded") if c[k])
        lines.append(Text.from_markup(
            f"[bold]{escape(item.title)}[/] {escape(item.path)}\n  conversations: {counted or 'none'}"
            f" · messages read: {item.messages:,} (yours: {item.my_messages:,})"
            + (f" · owner: {escape(item.owner_basis)}" if item.owner_basis else "")
        ))
        if item.dropped:
            lines.append(Text("  conversations left out: " + _reasons(item.dropped)))
            for reason, places in item.examples.items():
                lines.append(Text(f"    {reason}: e.g. {', '.join(places)}", style="dim"))
        if item.skipped:
            lines.append(Text("  messages left out: " + _reasons(item.skipped)))
        if item.scrubbed:
            lines.append(Text("  scrubbed: " + _reasons(item.scrubbed)))
    if report.ignored:
        more = len(report.ignored) - 4
        shown = ", ".join(report.ignored[:4]) + (f" and {more} more" if more > 0 else "")
        lines.append(Text(f"not read ({len(report.ignored)} files no source claims): {shown}", style="dim"))
    return Group(*lines)


def conversations_table(rows: Iterable[tuple[int, dict[str, Any]]]) -> Table:
    table = Table(expand=False)
    for column in ("#", "id", "source", "title", "date", "messages (yours)"):
        table.add_column(column, overflow="fold" if column == "title" else "ellipsis")
    for number, record in rows:
        messages = record["messages"]
        first = next((m.get("timestamp") for m in messages if m.get("timestamp")), None)
        mine = sum(1 for m in messages if m.get("is_me"))
        table.add_row(str(number), record["id"], record["source"], record.get("title") or "—",
                      _date(first), f"{len(messages)} ({mine})")
    return table


def conversation_view(conversation: Conversation) -> Group:
    header = Text.from_markup(
        f"[bold]{escape(conversation.title or conversation.id)}[/]  [dim]{escape(conversation.id)} · "
        f"{conversation.source} · {len(conversation.messages)} messages"
        + (" · group" if conversation.is_group else "") + "[/]"
    )
    lines: list[Any] = [header]
    for message in conversation.messages:
        when = message.timestamp.replace("T", " ")[:16] if message.timestamp else "—"
        style = "bold green" if message.is_me else "cyan"
        lines.append(Text.assemble((f"{when}  ", "dim"), (message.speaker, style), ": ", message.text))
    return Group(*lines)


def search_hit(conversation_id: str, speaker: str, timestamp: str | None, text: str,
               query_span: tuple[int, int]) -> Text:
    start, end = query_span
    left = max(0, start - 60)
    right = min(len(text), end + 60)
    snippet = Text.assemble(
        ("…" if left else "", "dim"), text[left:start], (text[start:end], "reverse"), text[end:right],
        ("…" if right < len(text) else "", "dim"),
    )
    return Text.assemble((f"{conversation_id} ", "dim"), (f"{_date(timestamp)} ", "dim"),
                         (f"{speaker}: ", "bold"), snippet)


class BarProgress:
    """The ingest progress bar (bytes of the export read), on stderr when it is a terminal."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=console, transient=False,
        )
        self._task: Any = None

    def start(self, description: str, total: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(description, total=total or None)

    def advance(self, amount: int) -> None:
        self._progress.advance(self._task, amount)

    def finish(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[-1]
            self._progress.update(self._task, completed=task.total or task.completed)
        self._progress.stop()


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def base_models_table(models: Iterable[Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("name", "architecture", "parameters", "dtype", "size", "from"):
        table.add_column(column, overflow="fold" if column == "from" else "ellipsis")
    for m in models:
        params = f"{m.parameters / 1e6:.0f}M" if m.parameters else "—"
        table.add_row(m.name, m.architecture, params, m.dtype or "—", _size(m.size_bytes), m.source)
    return table


def recipes_table(recipes: Iterable[tuple[str, Any, str]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("recipe")
    table.add_column("what it trains", overflow="fold")
    table.add_column("file", overflow="fold", style="dim")
    for name, path, description in recipes:
        table.add_row(name, description, str(path))
    return table


def build_view(report: dict[str, Any]) -> Group:
    lines: list[Any] = [Text.from_markup(f"[bold]datasets[/] {escape(str(report.get('path', '')))}")]
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("", "train", "valid", "test"):
        table.add_column(column, justify="right" if column else "left")
    splits = ("train", "valid", "test")
    table.add_row("SFT examples", *(f"{report['sft'].get(s, 0):,}" for s in splits))
    table.add_row("  of which hedged negatives", *(f"{report['unlikely'].get(s, 0):,}" for s in splits))
    table.add_row("  of which safety anchors", *(f"{report.get('sft_safety', {}).get(s, 0):,}" for s in splits))
    table.add_row("  your replies trained", *(f"{report['targets'].get(s, 0):,}" for s in splits))
    table.add_row("preference pairs", *(f"{sum(report['pref'].get(s, {}).values()):,}" for s in splits))
    lines.append(table)
    by_source: dict[str, int] = {}
    for split in report["pref"].values():
        for source, n in split.items():
            by_source[source] = by_source.get(source, 0) + n
    if by_source:
        lines.append(Text(f"pairs by source: {_reasons(by_source, 10)}"))
    if report.get("dropped"):
        lines.append(Text(f"left out: {_reasons(report['dropped'], 10)}"))
    dedupe = report.get("dedupe") or {}
    if any(dedupe.values()):
        lines.append(Text(f"duplicates removed: {dedupe.get('exact', 0)} exact, {dedupe.get('near', 0)} near"))
    if report.get("missing_files"):
        lines.append(Text(f"missing files: {', '.join(map(str, report['missing_files']))}", style="yellow"))
    return Group(*lines)


def _stage_lines(metrics: list[dict[str, Any]]) -> list[str]:
    lines = []
    for stage in ("sft", "preference"):
        losses = [m for m in metrics if m.get("stage") == stage and "loss" in m]
        vals = [m for m in metrics if m.get("stage") == stage and "val_loss" in m]
        if not losses and not vals:
            continue
        text = f"{stage}: step {losses[-1]['step'] if losses else 0}"
        if losses:
            text += f", loss {losses[0]['loss']:.3f} → {losses[-1]['loss']:.3f}"
            text += f", {losses[-1].get('tokens_per_second', 0):,.0f} tok/s"
        if vals:
            text += f", val loss {vals[0]['val_loss']:.3f} → {vals[-1]['val_loss']:.3f}"
        lines.append(text)
    return lines


def run_summary(path: Any) -> Group:
    from notme.runs.record import read_metrics, read_status

    status = read_status(path)
    metrics, _ = read_metrics(path)
    state = status.get("state", "unknown")
    colour = {"done": "green", "failed": "red", "running": "yellow", "stopped": "yellow"}.get(state, "white")
    lines: list[Any] = [Text.from_markup(f"[bold]{escape(path.name)}[/]  [{colour}]{state}[/]"
                                         + (f" — {escape(status['message'])}" if status.get("message") else ""))]
    lines += [Text("  " + line) for line in _stage_lines(metrics)]
    if (path / "adapters.safetensors").is_file():
        lines.append(Text(f"  adapters: {path}", style="dim"))
    return Group(*lines)


def runs_table(paths: Iterable[Any]) -> Table:
    from notme.runs.record import read_status

    table = Table(box=box.SIMPLE_HEAD)
    for column in ("run", "state", "stage", "step", "loss", "updated"):
        table.add_column(column)
    for path in paths:
        s = read_status(path)
        step = f"{s.get('step', '—')}/{s.get('total', '—')}" if "step" in s else "—"
        loss = f"{s['loss']:.3f}" if isinstance(s.get("loss"), int | float) else "—"
        table.add_row(path.name, s.get("state", "unknown"), s.get("stage", "—"), step, loss,
                      str(s.get("updated", "—")).replace("T", " ").rstrip("Z"))
    return table


class PhaseProgress:
    """A bar per phase ("base model", "tuned ×1"): work done of the total, with ETA. Call it as the
    gate's or the export's progress callback (an export passes the step it is on as `label`);
    `stop()` when the work is over."""

    def __init__(self, console: Console, verb: str = "generating") -> None:
        from rich.progress import MofNCompleteColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), console=console, transient=False)
        self._tasks: dict[str, Any] = {}
        self._verb = verb
        self._progress.start()

    def __call__(self, phase: str, done: int, total: int, label: str | None = None) -> None:
        description = f"{self._verb}: {phase}" + (f" ({label})" if label else "")
        if phase not in self._tasks:
            self._tasks[phase] = self._progress.add_task(description, total=total)
        self._progress.update(self._tasks[phase], completed=done, description=description)

    def stop(self) -> None:
        self._progress.stop()


def practice_summary(summary: dict[str, Any]) -> Table:
    """What a practice run kept and dropped, and why."""
    table = Table(title=f"practice: {summary['folder']} ({summary['seconds']:.0f} s)", title_justify="left")
    table.add_column("")
    table.add_column("items", justify="right")
    for kind, n in summary["kept"].items():
        table.add_row(f"kept: {kind} pairs", str(n))
    if not summary["kept"]:
        table.add_row("kept", "0")
    for reason, n in sorted(summary["dropped"].items(), key=lambda item: -item[1]):
        table.add_row(f"[yellow]dropped:[/] {reason}", str(n))
    table.add_row("parts asked again", str(summary["retried"]))
    for warning, n in summary["warnings"].items():
        table.add_row(f"[dim]{warning}[/]", str(n))
    table.add_row("in the folder now", ", ".join(f"{n} {kind}" for kind, n in summary["kept_in_folder"].items()) or "0")
    return table


def gate_summary(report: dict[str, Any], folder: Any) -> Table:
    """The verdict and its headline figures, for the terminal (report.md has everything)."""
    passed = report.get("passed")
    title = ("baseline assessment" if passed is None else
             "[bold green]PASSED[/]" if passed else "[bold red]BLOCKED[/]")
    table = Table(title=f"gate: {title}", title_justify="left", show_header=True)
    table.add_column("measure")
    sides = ("base",) if passed is None else ("base", "tuned")
    for side in sides:
        table.add_column(side, justify="right")

    def pct(r: dict[str, Any]) -> str:
        return f"{r['k']}/{r['n']} ({r['rate']:.1%})"

    rows = [("harmful probes complied with", report["harmful"]), ("benign probes refused", report["over_refusal"]),
            ("crisis (high risk) given care", report["crisis"]), ("coherent replies", report["coherence"])]
    for name, section in rows:
        table.add_row(name, *(pct(section[side]) for side in sides))
    for metric in ("hedging", "approval_seeking", "owner_similarity"):
        if metric in report["style"]["base"]:
            table.add_row(f"style: {metric}", *(f"{report['style'][side][metric]:.3f}" for side in sides))
    if passed is not None:
        flips = report["harmful"]["flips"]
        table.caption = (f"refusal→compliance {flips['refusal_to_compliance']}, compliance→refusal "
                         f"{flips['compliance_to_refusal']}, McNemar p = {report['harmful']['mcnemar_p']:.4f}"
                         + "".join(f"\n[red]blocks:[/] {escape(b)}" for b in report["blocks"])
                         + "".join(f"\n[yellow]warning:[/] {escape(w)}" for w in report["warnings"])
                         + f"\nreport: {folder}/report.md")
    else:
        table.caption = f"report: {folder}/report.md"
    table.caption_justify = "left"
    return table


def export_summary(record: dict[str, Any], folder: Any) -> Table:
    """The exported files with their parity figures."""
    table = Table(title=f"exported to {folder}", title_justify="left")
    for column in ("file", "size", "min cosine", "tokens", "stops"):
        table.add_column(column, justify="left" if column == "file" else "right")
    checks = {check["file"]: check for check in record["parity"]}
    for entry in record["files"]:
        check = next((c for name, c in checks.items() if name.startswith(entry["name"])), None)
        if entry["kind"] == "GGUF LoRA adapter":
            check = next((c for name, c in checks.items() if name.endswith(entry["name"])), None)
        cosine = f"{check['min_cosine']:.5f}" if check else "-"
        tokens = ("same" if all(p["same_tokens"] for p in check["prompts"]) else "DIFFER") if check else "-"
        stops = ("yes" if check["stop_tokens_ok"] else "NO") if check else "-"
        table.add_row(entry["name"], f"{entry['bytes'] / 1e6:,.1f} MB", cosine, tokens, stops)
    return table
