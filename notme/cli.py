"""The `notme` command. It parses options and calls the stages; the work happens in the packages."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.console import Console
from rich.markup import escape

from notme import __version__, render
from notme.blas import reexec_with_openblas
from notme.corpus import query
from notme.corpus.scrub import Scrubber
from notme.corpus.stats import corpus_stats
from notme.corpus.store import Corpus, list_corpora
from notme.errors import NotmeError
from notme.export.quantize import QUANT_TYPES
from notme.ingest import registry
from notme.ingest.pipeline import IngestReport
from notme.ingest.pipeline import ingest as run_ingest
from notme.workspace import workspace

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

corpus_option = click.option("--corpus", "corpus_name", default="default", show_default=True,
                             metavar="NAME", help="Which corpus (under <workspace>/corpora/).")


def _zone(_ctx: click.Context, _param: click.Parameter, value: str | None) -> ZoneInfo | None:
    if value is None:
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {value!r} (use a name such as Europe/Lisbon)") from None


class UserError(click.ClickException):
    """A NotmeError on its way out: one line on stderr, exit code 2, no traceback."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        err.print(f"[bold red]error:[/] {escape(self.message)}", soft_wrap=True)


class NotmeGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except NotmeError as e:
            raise UserError(str(e)) from e


@click.group(cls=NotmeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="notme")
def cli() -> None:
    """notme: a local model that writes like you, trained on your own chat history, offline."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@corpus_option
@click.option("--source", type=click.Choice(registry.names()), help="Read the input as this source "
              "instead of detecting it.")
@click.option("--me", "me", multiple=True, metavar="NAME_OR_ID", help="Your name, id or handle as it "
              "appears in messaging exports (repeatable; remembered for this corpus).")
@click.option("--timezone", "zone", callback=_zone, metavar="ZONE", help="Zone of exports that store local "
              "time without one (WhatsApp, Signal, Telegram's date). Default: this machine's.")
@click.option("--mask-emails", is_flag=True, help="Replace e-mail addresses with <email>.")
@click.option("--mask-phones", is_flag=True, help="Replace phone numbers with <phone>.")
@click.option("--phone-region", default="US", show_default=True, metavar="CC",
              help="Country for phone numbers written without +country code.")
@click.option("--keep-secrets", is_flag=True, help="Do not scrub API keys, tokens and passwords "
              "(they are scrubbed by default).")
@click.option("--strict", is_flag=True, help="Stop at the first malformed record instead of skipping it.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def ingest(paths: tuple[Path, ...], corpus_name: str, source: str | None, me: tuple[str, ...],
           zone: ZoneInfo | None, mask_emails: bool, mask_phones: bool, phone_region: str,
           keep_secrets: bool, strict: bool, as_json: bool, quiet: bool) -> None:
    """Add chat exports (files, folders or zips) to a corpus; the source is detected."""
    scrubber = Scrubber(secrets=not keep_secrets, emails=mask_emails, phones=mask_phones,
                        phone_region=phone_region.upper())
    progress = None if quiet or as_json or not err.is_terminal else render.BarProgress(err)
    report = run_ingest(paths, corpus_name, source=source, me=me, zone=zone, scrubber=scrubber,
                        strict=strict, progress=progress)
    if as_json:
        out.print_json(data={
            "corpus": report.corpus, "owner": report.owner, "ignored": report.ignored,
            "inputs": [{k: (dict(v) if hasattr(v, "items") else v) for k, v in vars(i).items()}
                       for i in report.inputs],
        })
        return
    _print_ingest(report)


def _print_ingest(report: IngestReport) -> None:
    out.print(render.ingest_view(report))
    out.print()
    out.print(render.stats_view(corpus_stats(Corpus(report.corpus))))


@cli.command()
@click.option("--corpus", "corpus_name", default="sample", show_default=True, metavar="NAME")
@click.option("--no-train", is_flag=True, help="Stop after the corpus summary.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def demo(corpus_name: str, no_train: bool, quiet: bool) -> None:
    """The main job on the bundled sample owner: their exports from ten apps → corpus → datasets →
    LoRA SFT → DPO on the bundled SmolLM2 (the `demo` recipe) → the safety gate → GGUF export → one chat turn."""
    reexec_with_openblas(["-m", "notme", *sys.argv[1:]])
    from notme import samples

    person = samples.persona()
    target = workspace() / "samples"
    if target.exists():
        shutil.rmtree(target)  # only ever notme's own generated sample exports
    out.print(f"writing the sample owner's exports to {target}")
    paths = samples.write_sample_exports(target)
    progress = None if quiet or not err.is_terminal else render.BarProgress(err)
    report = run_ingest(paths, corpus_name, me=samples.owner_identities(person),
                        zone=ZoneInfo(person["timezone"]), progress=progress)
    _print_ingest(report)
    if no_train:
        return
    from notme.train.run import execute, start

    out.print("\n[bold]training[/] the demo recipe (`notme recipe show demo`): SFT, then DPO")
    record = start("demo")
    out.print(render.build_view(record.info()["dataset"]))
    execute(record)
    out.print(render.run_summary(record.path))
    from notme.gate.run import gate_run

    out.print("\n[bold]gating[/] the run against its base on the full probe suite (export accepts nothing less)")
    with _phase_progress(quiet) as progress:
        result = gate_run(record.name, remediate=True, progress=progress)
    out.print(render.gate_summary(result.report, result.path))
    scale = 1.0
    if not result.report["passed"]:
        passing = [r["scale"] for r in result.remediation if r["passed"]]
        if not passing:
            err.print(f"the gate blocked {record.name} at every scale it tried, so it is not exported (see "
                      f"{result.path / 'report.md'})", soft_wrap=True)
            sys.exit(1)
        # What the owner would choose by hand: the adapters at the first lower scale the gate passes.
        scale = passing[0]
        out.print(f"\nthe gate passes the adapters at scale {scale}: [bold]gating[/] them at that scale "
                  f"(`notme gate {record.name} --scale {scale}`), the verdict export needs")
        with _phase_progress(quiet) as progress:
            result = gate_run(record.name, scale=scale, progress=progress)
        out.print(render.gate_summary(result.report, result.path))
        if not result.report["passed"]:
            sys.exit(1)
    from notme.export.run import export_run

    out.print("\n[bold]exporting[/] to GGUF, checked against the trained model")
    with _phase_progress(quiet, verb="step") as progress:
        exported = export_run(record.name, scale=scale, progress=progress)
    out.print(render.export_summary(exported.record, exported.folder))
    _demo_chat_turn(record.name)


def _demo_chat_turn(run: str) -> None:
    """One turn of `notme chat RUN` with the exported GGUF, shown as the owner would see it."""
    from notme.chat.session import ChatSession
    from notme.chat.target import open_target

    target = open_target(run)
    session = ChatSession.resume(target.backend, target.history, target.system, max_tokens=96)
    question = "what are you up to this weekend?"
    out.print(f"\n[bold]chatting[/] with {target.label} (`notme chat {run}`)\nyou> {question}")
    try:
        out.print("".join(session.reply(question)).strip(), soft_wrap=True, markup=False)
    finally:
        target.backend.close()


@cli.command()
def sources() -> None:
    """The chat exports notme reads, and how to get each."""
    from rich.table import Table

    table = Table()
    table.add_column("--source")
    table.add_column("what")
    table.add_column("how to get it", overflow="fold")
    for ingester in registry.INGESTERS:
        table.add_row(ingester.name, ingester.title, ingester.how_to_export)
    out.print(table)


@cli.group()
def corpus() -> None:
    """Read and manage corpora."""


@corpus.command("list")
def corpus_list() -> None:
    """The corpora in this workspace."""
    found = list_corpora()
    out.print(f"workspace: {workspace()}")
    if not found:
        out.print("no corpora yet: `notme ingest PATH` creates one")
    for c in found:
        s = corpus_stats(c)["total"]
        out.print(f"  {c.name}: {s['conversations']:,} conversations, {s['messages']:,} messages "
                  f"({s['my_messages']:,} yours)")


@corpus.command("stats")
@corpus_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def corpus_stats_command(corpus_name: str, as_json: bool) -> None:
    """Per source: conversations, messages, yours, your words, dates, and what was left out and why."""
    stats = corpus_stats(Corpus(corpus_name))
    if as_json:
        click.echo(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        out.print(render.stats_view(stats))


@corpus.command("show")
@click.argument("ref", required=False)
@corpus_option
@click.option("--source", help="Only this source (when listing).")
@click.option("--limit", default=50, show_default=True, help="How many to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored record as JSON.")
def corpus_show(ref: str | None, corpus_name: str, source: str | None, limit: int, as_json: bool) -> None:
    """List conversations, or show one (by number, id or id prefix)."""
    c = Corpus(corpus_name)
    if ref is None:
        rows = list(query.listing(c, source))
        out.print(render.conversations_table(rows[:limit]))
        if len(rows) > limit:
            out.print(f"{len(rows) - limit:,} more; --limit to see them")
        return
    conversation = query.find(c, ref)
    if as_json:
        click.echo(json.dumps(conversation.to_dict(), indent=2, ensure_ascii=False))
    else:
        out.print(render.conversation_view(conversation))


@corpus.command("search")
@click.argument("text")
@corpus_option
@click.option("--mine", is_flag=True, help="Only your own messages.")
@click.option("--source", help="Only this source.")
@click.option("--regex", is_flag=True, help="TEXT is a regular expression.")
@click.option("--limit", default=20, show_default=True)
def corpus_search(text: str, corpus_name: str, mine: bool, source: str | None, regex: bool, limit: int) -> None:
    """Find messages containing TEXT (case-insensitive)."""
    hits = 0
    for hit in query.search(Corpus(corpus_name), text, regex=regex, mine=mine, source=source):
        hits += 1
        if hits > limit:
            out.print(f"more matches; --limit {limit * 5} to see more")
            break
        out.print(render.search_hit(hit.conversation_id, hit.speaker, hit.timestamp, hit.text, hit.span),
                  soft_wrap=True)
    if not hits:
        out.print("no matches")


@corpus.command("drop")
@click.argument("refs", nargs=-1, required=True)
@corpus_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def corpus_drop(refs: tuple[str, ...], corpus_name: str, yes: bool) -> None:
    """Remove conversations from the corpus and keep them out of later ingests."""
    c = Corpus(corpus_name)
    chosen = [query.find(c, ref) for ref in refs]
    for conversation in chosen:
        out.print(f"  {conversation.id}  {conversation.title}  ({len(conversation.messages)} messages)")
    if not yes and not click.confirm(f"Remove {len(chosen)} conversation(s) from {c.name!r}?"):
        raise click.Abort()
    ids = {conversation.id for conversation in chosen}
    meta = c.meta()
    meta["excluded"] = sorted(set(meta["excluded"]) | ids)
    removed = c.rewrite_without(ids)
    c.write_meta(meta)
    out.print(f"removed {removed}; they stay out when the same exports are ingested again")


@corpus.command("owner")
@corpus_option
@click.option("--add", multiple=True, metavar="NAME_OR_ID", help="Another of your names or handles.")
@click.option("--remove", multiple=True, metavar="NAME_OR_ID", help="Forget a name given by mistake.")
def corpus_owner(corpus_name: str, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    """Who is taken as you in this corpus (used at the next ingest)."""
    c = Corpus(corpus_name)
    meta = c.require().meta()
    if add or remove:
        unknown = [r for r in remove if r not in meta["me"]]
        if unknown:
            raise NotmeError(f"not among the owner's names: {', '.join(unknown)} (they are: {', '.join(meta['me'])})")
        meta["me"] = [m for m in dict.fromkeys([*meta["me"], *add]) if m not in remove]
        c.write_meta(meta)
        out.print("saved; re-ingest messaging exports for it to apply to stored conversations")
    out.print(f"names: {', '.join(meta['me']) or 'none'}")
    for source, basis in sorted(meta["owner_by_source"].items()):
        out.print(f"  {source}: {basis}")


@cli.group()
def base() -> None:
    """Base models: import a GGUF file (Ollama's and LM Studio's stores are full of them), list them."""


@base.command("import")
@click.argument("gguf", type=click.Path(path_type=Path))
@click.option("--name", help="What recipes call it (base.model: NAME). Default: the file's name and a hash.")
@click.option("--dtype", type=click.Choice(["auto", "float32", "float16", "bfloat16"]), default="auto",
              show_default=True, help="Weights are dequantized to this; auto: float32 on CPU, bfloat16 with a GPU.")
@click.option("--chat-template", "chat_template", type=click.Path(path_type=Path),
              help="A Jinja chat template file, for a GGUF that carries none.")
@click.option("--replace", is_flag=True, help="Replace a model imported under the same name.")
def base_import(gguf: Path, name: str | None, dtype: str, chat_template: Path | None, replace: bool) -> None:
    """Convert FILE.gguf into an MLX model folder in the workspace (tokenizer and chat template included)."""
    reexec_with_openblas(["-m", "notme", *sys.argv[1:]])
    from notme.models import import_base

    model = import_base(gguf, name=name, dtype=dtype, chat_template_file=chat_template, replace=replace)
    out.print(render.base_models_table([model]))
    out.print(f"use it in a recipe as  base: {{model: {model.name}}}")


@base.command("list")
@click.option("--json", "as_json", is_flag=True)
def base_list(as_json: bool) -> None:
    """The base models imported into this workspace."""
    from notme.models import list_bases

    models = list_bases()
    if as_json:
        click.echo(json.dumps([m.to_dict() for m in models], indent=2))
    elif models:
        out.print(render.base_models_table(models))
    else:
        out.print("no models imported yet; `notme base import FILE.gguf` adds one ('smollm2', the bundled "
                  "default, is imported on first use)")


@cli.group()
def recipe() -> None:
    """Training recipes: five layers (base, domain, use, mode, identity) composed with `extends:`."""


@recipe.command("list")
def recipe_list() -> None:
    """The recipes you can train: shipped ones and your own (<workspace>/recipes/)."""
    from notme.recipe import list_recipes

    out.print(render.recipes_table(list_recipes()))


@recipe.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The resolved recipe as JSON.")
def recipe_show(name: str, as_json: bool) -> None:
    """The resolved recipe: every layer, every default, after `extends:`."""
    from notme.recipe import load_recipe

    loaded = load_recipe(name)
    if as_json:
        click.echo(json.dumps(loaded.data, indent=2, ensure_ascii=False))
    else:
        click.echo(loaded.to_yaml(), nl=False)


@cli.command()
@click.argument("recipe_name", metavar="RECIPE")
@click.option("--json", "as_json", is_flag=True, help="Print the build report as JSON.")
def build(recipe_name: str, as_json: bool) -> None:
    """Build a recipe's datasets from the corpus: SFT examples and preference pairs, split by conversation."""
    from notme.data.build import build_datasets
    from notme.recipe import load_recipe

    report = build_datasets(load_recipe(recipe_name))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        out.print(render.build_view(report.to_dict()))


@cli.command()
@click.argument("recipe_name", metavar="RECIPE", required=False)
@click.option("--resume", "resume", metavar="RUN", help="Continue a run from its newest checkpoint.")
@click.option("--hosts", "hostfile", type=click.Path(path_type=Path), metavar="HOSTS.json",
              help="Train data-parallel on these hosts (mlx.launch's hostfile format).")
@click.option("--cluster", metavar="URL", help="Train on the nodes of an exo cluster (e.g. http://mac1:52415).")
@click.option("--local-ranks", type=int, default=0, metavar="N", help="Train data-parallel in N local processes.")
def train(recipe_name: str | None, resume: str | None, hostfile: Path | None, cluster: str | None,
          local_ranks: int) -> None:
    """Train a recipe: LoRA SFT, then preference tuning; the run is recorded under adapters/<run>/."""
    reexec_with_openblas(["-m", "notme", *sys.argv[1:]])
    from notme.runs.record import RunRecord
    from notme.train import distributed
    from notme.train.run import execute, start

    if bool(recipe_name) == bool(resume):
        raise click.UsageError("give a RECIPE to start a run, or --resume RUN to continue one")
    if sum(bool(x) for x in (hostfile, cluster, local_ranks)) > 1:
        raise click.UsageError("choose one of --hosts, --cluster and --local-ranks")
    record = RunRecord.open(resume) if resume else start(recipe_name)  # type: ignore[arg-type]
    out.print(f"run {record.name}: {record.path}")
    if cluster:
        hostfile = record.path / "hosts.json"
        hostfile.write_text(json.dumps(distributed.hostfile_from_exo(cluster), indent=2))
    if hostfile or local_ranks:
        distributed.launch(record, hostfile=hostfile, local_ranks=local_ranks)
    else:
        execute(record)
    out.print(render.run_summary(record.path))


@cli.command()
@click.argument("run", required=False)
def runs(run: str | None) -> None:
    """Training runs and their state; with RUN, that run's stages and losses."""
    from notme.runs.record import RunRecord, list_runs

    if run:
        out.print(render.run_summary(RunRecord.open(run).path))
    else:
        out.print(render.runs_table([r.path for r in list_runs()]))


@contextlib.contextmanager
def _phase_progress(quiet: bool, verb: str = "generating") -> Iterator[render.PhaseProgress | None]:
    """Progress bars on a terminal (none when quiet or piped), stopped however the work ends."""
    progress = None if quiet or not err.is_terminal else render.PhaseProgress(err, verb)
    try:
        yield progress
    finally:
        if progress:
            progress.stop()


class GateGroup(NotmeGroup):
    """`notme gate RUN` gates a run; `notme gate classify FILE` is the one subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _judge_spec(backend: str | None, model: str | None, url: str | None) -> dict | None:
    if not backend:
        return None
    if not model:
        raise click.UsageError("--judge-model is needed with --judge-backend")
    return {"backend": backend, "model": model, **({"url": url} if url else {})}


@cli.group(cls=GateGroup)
def gate() -> None:
    """The safety and style gate: RUN against its base on the same probes. Export needs it to pass.

    \b
    notme gate RUN [--quick] [--scale S] [--remediate]
    notme gate classify FILE.jsonl"""


@gate.command("run", hidden=True)
@click.argument("run")
@click.option("--quick", is_flag=True, help="The quick suite: a fast look, not valid for export.")
@click.option("--scale", type=float, default=1.0, show_default=True, help="Judge the adapters at this scale.")
@click.option("--remediate", is_flag=True, help="When blocked, try the recipe's lower adapter scales.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def gate_run_command(run: str, quick: bool, scale: float, remediate: bool, quiet: bool) -> None:
    reexec_with_openblas(["-m", "notme", *sys.argv[1:]])
    from notme.gate.run import gate_run

    with _phase_progress(quiet) as progress:
        result = gate_run(run, tier="quick" if quick else None, scale=scale, remediate=remediate, progress=progress)
    out.print(render.gate_summary(result.report, result.path))
    if not result.report["passed"]:
        sys.exit(1)


@gate.command("classify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the labelled lines (default FILE.labelled.jsonl).")
@click.option("--judge-backend", type=click.Choice(["mlx", "llamacpp", "openai"]), help="Add a judge model.")
@click.option("--judge-model", metavar="MODEL", help="The judge: a model folder / name, GGUF file or served name.")
@click.option("--judge-url", metavar="URL", help="The OpenAI-compatible server (openai backend).")
def gate_classify(file: Path, output: Path | None, judge_backend: str | None, judge_model: str | None,
                  judge_url: str | None) -> None:
    """Label each {"prompt", "response"} line refusal / partial / compliance, with the tier that decided."""
    from notme.gate.run import classify_file

    target = output or file.with_name(file.stem + ".labelled.jsonl")
    counts = classify_file(file, target, _judge_spec(judge_backend, judge_model, judge_url))
    out.print(", ".join(f"{label} {n}" for label, n in counts.items()) + f"  → {target}")


@cli.command()
@click.argument("model")
@click.option("--quick", is_flag=True, help="The quick suite.")
@click.option("--system", default="", help="The system prompt to ask under (default none).")
@click.option("--max-tokens", type=int, default=256, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def assess(model: str, quick: bool, system: str, max_tokens: int, quiet: bool) -> None:
    """A base model's baseline on the gate's probes, before any training."""
    reexec_with_openblas(["-m", "notme", *sys.argv[1:]])
    from notme.gate.run import assess as run_assess

    with _phase_progress(quiet) as progress:
        result = run_assess(model, tier="quick" if quick else "full", system=system, max_tokens=max_tokens,
                            progress=progress)
    out.print(render.gate_summary(result.report, result.path))


@cli.command()
@click.argument("run")
@click.option("--quant", "quants", multiple=True,
              type=click.Choice(list(QUANT_TYPES)),
              help="A GGUF type to write (repeat for several; default: the recipe's export.quants).")
@click.option("--to", "targets", multiple=True, type=click.Choice(["ollama", "lmstudio", "exo"]),
              help="Also hand it to Ollama (ollama create), LM Studio's or exo's models folder.")
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Adapter scale: the gate must have passed it at this scale (see gate --remediate).")
@click.option("--no-lora", is_flag=True, help="Do not write the LoRA adapter GGUF.")
@click.option("--cluster", metavar="URL", help="With --to exo: place the model on this exo cluster and wait.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def export(run: str, quants: tuple[str, ...], targets: tuple[str, ...], scale: float, no_lora: bool,
           cluster: str | None, quiet: bool) -> None:
    """A run that passed the gate → GGUF files (checked against the trained model), Modelfile, model card."""
    reexec_with_openblas(["-m", "notme", *sys.argv[1:]])
    from notme.export.run import export_run

    if cluster and "exo" not in targets:
        raise NotmeError("--cluster places the model on exo: add --to exo")
    with _phase_progress(quiet, verb="step") as progress:
        result = export_run(run, list(quants) or None, list(targets) or None, scale=scale, lora_adapter=not no_lora,
                            exo_url=cluster, progress=progress)
    out.print(render.export_summary(result.record, result.folder))
    for message in result.messages:
        out.print(message, soft_wrap=True)


@cli.command()
@click.argument("target", required=False)
@click.option("--server", metavar="URL", help="An OpenAI-compatible server: exo, mlx_lm.server, Ollama, llama.cpp.")
@click.option("--model", metavar="NAME", help="The model the server should answer with.")
@click.option("--mlx", "use_mlx", is_flag=True, help="A run's MLX model with its adapters, even when it is exported.")
@click.option("--safety/--no-safety", default=None,
              help="The risk check and response filter (default: the run's recipe; off for a bare file or server).")
@click.option("--system", help="Start with this system prompt (default: the one the run was trained with).")
@click.option("--max-tokens", type=int, default=512, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True)
def chat(target: str | None, server: str | None, model: str | None, use_mlx: bool, safety: bool | None,
         system: str | None, max_tokens: int, temperature: float) -> None:
    """Chat in the terminal with a run (its exported GGUF, else MLX + adapters), a .gguf file or a server.

    \b
    /system TEXT  /reset  /save [FILE]  /help  /quit"""
    reexec_with_openblas(["-m", "notme", *sys.argv[1:]])
    from notme.chat.session import run_loop
    from notme.chat.target import open_session, open_target

    found = open_target(target, server, model, use_mlx)
    session = open_session(found, safety, max_tokens=max_tokens, temperature=temperature)
    if system is not None:
        session.system = system
    if found.notice:
        err.print(found.notice, soft_wrap=True)
    err.print(f"chatting with {found.label}" + (", safety layer on" if session.safety else "")
              + (f", {len(session.messages)} earlier messages" if session.messages else "")
              + "; /help for commands, /quit to leave", soft_wrap=True)

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    try:
        run_loop(session, lambda: input("you> "), write)
    finally:
        found.backend.close()


def _model_options(command):
    """The options that pick the model an interview or practice talks to."""
    for option in reversed([
        click.argument("target", required=False),
        click.option("--server", metavar="URL",
                     help="An OpenAI-compatible server: exo, mlx_lm.server, Ollama, LM Studio."),
        click.option("--model", metavar="NAME", help="The model the server should answer with."),
        click.option("--recipe", "recipe_name", default="constitution", show_default=True,
                     help="The recipe whose interview / practice settings and prompts to use."),
        click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait for a server."),
        click.option("--retries", type=int, default=3, show_default=True,
                     help="Tries again after a server failure that may pass (with a doubling pause)."),
    ]):
        command = option(command)
    return command


@cli.command()
@_model_options
@click.option("--resume", is_flag=True, help="Go on with the latest interview instead of starting a new one.")
def interview(target: str | None, server: str | None, model: str | None, recipe_name: str, timeout: float,
              retries: int, resume: bool) -> None:
    """Write a constitution with the model (TARGET: a base model, a run, a .gguf file; default: the recipe's base).

    \b
    /draft  /edit  /accept  /system TEXT  /save [FILE]  /help  /quit"""
    reexec_with_openblas(["-m", "notme", *sys.argv[1:]])
    from notme.chat.session import run_loop
    from notme.constitution.interview import start_interview
    from notme.constitution.model import open_model
    from notme.recipe import load_recipe

    recipe = load_recipe(recipe_name).data
    backend = open_model(target, recipe["base"]["model"], server, model, timeout, retries)
    session = start_interview(backend, recipe, resume, editor=lambda path: click.edit(filename=str(path)))
    err.print(f"interview with {backend.describe().get('model')}; transcript {session.history_path}; "
              "/draft when ready, /help for commands", soft_wrap=True)

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    try:
        if not session.messages:
            write(f"notme> {session.invitation}\n")
            for piece in session.opening():
                write(piece)
            write("\n")
        run_loop(session, lambda: input("you> "), write)
    finally:
        backend.close()


@cli.command()
@_model_options
@click.option("--count", type=click.IntRange(min=0), default=100, show_default=True,
              help="Constitution pairs to have in practice/pairs.jsonl (those already there count).")
@click.option("--directness", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also this many directness pairs from the owner's held-out turns.")
@click.option("--from", "from_recipe", default="not-me", show_default=True,
              help="The recipe whose datasets' test split gives the owner's turns for --directness.")
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight at once (default: the recipe's).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def practice(target: str | None, server: str | None, model: str | None, recipe_name: str, timeout: float,
             retries: int, count: int, directness: int, from_recipe: str, concurrency: int | None, quiet: bool) -> None:
    """Self-refinement pairs from the constitution: scenario, impulsive answer, critique, refined answer.

    TARGET is the teacher (a base model, a run, a .gguf file; default: the recipe's base) unless --server
    names one. Resumable: run it again to go on where it stopped."""
    reexec_with_openblas(["-m", "notme", *sys.argv[1:]])
    from pathlib import Path as _Path

    from notme.constitution.model import open_model
    from notme.constitution.practice import Practice, PracticeSettings, owner_turns
    from notme.constitution.store import CURRENT, constitution_dir, read_constitution
    from notme.recipe import load_recipe

    recipe = load_recipe(recipe_name).data
    source = recipe["identity"]["constitution_file"]
    constitution = read_constitution(_Path(source) if source else constitution_dir() / CURRENT)
    turns = owner_turns(from_recipe, directness) if directness else []
    backend = open_model(target, recipe["base"]["model"], server, model, timeout, retries)
    settings = PracticeSettings.from_recipe(recipe["practice"], concurrency)
    if backend.name != "openai" and settings.concurrency > 1:
        settings = dataclasses.replace(settings, concurrency=1)  # one model in process: one request at a time
    try:
        with _phase_progress(quiet, "practice") as progress:
            summary = Practice(backend, constitution, settings, progress=progress).run(count, turns)
    finally:
        backend.close()
    out.print(render.practice_summary(summary))
    if summary["stopped_early"]:
        raise NotmeError(summary["stopped_early"])


@cli.command()
@click.option("--stall-after", type=float, default=600.0, show_default=True, metavar="SECONDS",
              help="Flag a running run as stalled after this long without a new metric or status.")
@click.option("--light", is_flag=True, help="Start in the light theme (t switches).")
@click.option("--refresh", type=float, default=1.0, show_default=True, metavar="SECONDS",
              help="How often to look for changes in the run records.")
def dash(stall_after: float, light: bool, refresh: float) -> None:
    """The terminal dashboard: runs live, curves, compare, corpus, gate reports, actions, chat.

    It reads the run records under adapters/ (never a training process), so it shows runs started
    anywhere and can be closed and reopened at any time."""
    reexec_with_openblas(["-m", "notme", *sys.argv[1:]])  # chat in the dashboard runs MLX
    from notme.dash.app import DashApp

    if refresh <= 0 or stall_after <= 0:
        raise NotmeError("--refresh and --stall-after must be above 0 seconds")
    DashApp(stall_after=stall_after, refresh_every=refresh, theme="textual-light" if light else "textual-dark").run()


def main() -> None:
    # transformers, under mlx-lm, advises installing PyTorch at every start; notme never needs it.
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted; nothing changed", soft_wrap=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted; the corpus is as it was before this command", soft_wrap=True)
        sys.exit(130)
