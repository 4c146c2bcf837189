"""`notme train`: a recipe in, a run record out — build the datasets, load the base, SFT, then
preference tuning, each stage checkpointed and resumable.

`start(recipe)` prepares a run (datasets copied into it, so it can be resumed or explained later);
`execute(run)` trains it — in this process, or in every rank under `mlx.launch` (notme.train.worker)
— picking up from its newest checkpoint if it has one.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx

from notme.corpus.store import atomic_write
from notme.errors import NotmeError
from notme.runs.record import Checkpoint, RunRecord
from notme.train.batching import Batcher, ExampleSet, PairSet
from notme.train.lora import apply_adapters, write_adapter_config
from notme.train.losses import make_preference_loss, make_sft_loss
from notme.train.reference import reference_logps
from notme.train.stage import StageConfig, run_stage
from notme.train.tokenize import Skip, preference_pair, sft_example

DATA = "data"


def start(recipe_ref: str, root: Path | None = None) -> RunRecord:
    """Build the recipe's datasets and create the run that will train on them."""
    from notme.data.build import build_datasets
    from notme.recipe import load_recipe

    recipe = load_recipe(recipe_ref)  # validated: a recipe that cannot train fails here, before any work
    report = build_datasets(recipe)
    record = RunRecord.create(recipe.name, {
        "recipe_digest": recipe.digest, "base": recipe.get("base.model"), "dataset": report.to_dict(),
    }, root=root)
    atomic_write(record.path / "recipe.yaml", recipe.to_yaml())
    shutil.copytree(report.path, record.path / DATA)
    return record


def stage_configs(recipe: dict[str, Any]) -> list[StageConfig]:
    """The stages a (validated, resolved) recipe trains, in order."""
    mode, use = recipe["mode"], recipe["use"]
    stages = []
    for name in ("sft", "preference"):
        settings = mode.get(name)
        if not settings or not settings["iters"]:
            continue
        stages.append(StageConfig(
            stage=name, iters=settings["iters"], batch_size=settings["batch_size"],
            learning_rate=float(settings["learning_rate"]), lr_schedule=settings["lr_schedule"],
            grad_accumulation=settings["grad_accumulation"], steps_per_report=settings["steps_per_report"],
            steps_per_eval=settings["steps_per_eval"], save_every=settings["save_every"],
            val_batches=settings["val_batches"], max_seq_length=use["max_seq_length"], seed=mode["seed"],
        ))
    return stages


@dataclass
class Loaded:
    examples: list[Any]
    skipped: Counter[str]


def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _tokenize(records: Iterable[dict[str, Any]], convert: Callable[[dict[str, Any]], Any]) -> Loaded:
    loaded = Loaded([], Counter())
    for record in records:
        try:
            loaded.examples.append(convert(record))
        except Skip as why:
            loaded.skipped[str(why)] += 1
    return loaded


def _resume_point(record: RunRecord, stages: list[StageConfig]) -> tuple[int, Checkpoint | None]:
    """(index of the stage to run, checkpoint to resume it from) after the newest checkpoint."""
    checkpoints = record.checkpoints()
    if not checkpoints:
        return 0, None
    newest = checkpoints[-1]
    index = next(i for i, s in enumerate(stages) if s.stage == newest.stage)
    if newest.step >= stages[index].iters:  # that stage finished: the next one starts from its adapters
        return index + 1, newest
    return index, newest


def execute(record: RunRecord, on_stage: Callable[[str, dict[str, Any]], None] | None = None) -> None:
    """Train the run to the end of its last stage, resuming from its newest checkpoint."""
    from notme.models import load_model
    from notme.recipe import load_recipe

    recipe = load_recipe(str(record.path / "recipe.yaml")).data
    stages = stage_configs(recipe)
    rank = mx.distributed.init().rank()
    model, tokenizer, model_path = load_model(recipe["base"]["model"], dtype=recipe["base"].get("dtype", "auto"),
                                              quantize=recipe["base"].get("quantize"))
    mx.random.seed(int(recipe["mode"].get("seed", 0)))  # the same recipe starts from the same adapters
    adapter_config = apply_adapters(model, recipe["mode"]["sft"]["lora"])
    if rank == 0:
        write_adapter_config(record.path, adapter_config, str(model_path))
    first, checkpoint = _resume_point(record, stages)
    try:
        for index, config in enumerate(stages[first:], start=first):
            resume = None
            if index == first and checkpoint is not None:  # only the first stage of this process resumes
                if checkpoint.stage == config.stage:
                    resume = checkpoint
                else:  # the previous stage finished there: start from its adapters
                    model.load_weights(str(checkpoint.path / "adapters.safetensors"), strict=False)
            summary = _run(record, recipe, config, model, tokenizer, resume)
            if on_stage:
                on_stage(config.stage, summary)
    except NotmeError as e:  # the loss broke (TrainingStopped), or the data or settings cannot train
        if rank == 0:
            record.set_status("failed", message=str(e))
        raise
    except KeyboardInterrupt:
        if rank == 0:
            record.set_status("stopped", message=f"interrupted; resume with `notme train --resume {record.name}`")
        raise
    if rank == 0:
        record.set_status("done", stage=stages[-1].stage, step=stages[-1].iters, total=stages[-1].iters)


def _run(record: RunRecord, recipe: dict[str, Any], config: StageConfig, model: Any, tokenizer: Any,
         resume: Checkpoint | None) -> dict[str, Any]:
    data = record.path / DATA
    max_len = config.max_seq_length
    batcher = Batcher(packed=recipe["mode"]["sft"]["batching"] == "packed", seed=config.seed)
    if config.stage == "sft":
        train = _tokenize(_read_jsonl(data / "sft" / "train.jsonl"), lambda r: sft_example(tokenizer, r, max_len))
        valid = _tokenize(_read_jsonl(data / "sft" / "valid.jsonl"), lambda r: sft_example(tokenizer, r, max_len))
        if not train.examples:
            raise NotmeError(f"no SFT examples to train on in {data / 'sft' / 'train.jsonl'} "
                             f"({dict(train.skipped) or 'the file is empty'})")
        unlikelihood = (recipe["mode"].get("unlikelihood") or {}).get("weight", 0.0)
        loss = make_sft_loss(float(unlikelihood))
        train_set, valid_set = ExampleSet(train.examples), ExampleSet(valid.examples)
    else:
        preference = recipe["mode"]["preference"]
        batcher.packed = False  # pairs are scored whole, one pair per row
        train = _tokenize(_read_jsonl(data / "pref" / "train.jsonl"), lambda r: preference_pair(tokenizer, r, max_len))
        valid = _tokenize(_read_jsonl(data / "pref" / "valid.jsonl"), lambda r: preference_pair(tokenizer, r, max_len))
        if len(train.examples) < config.batch_size:
            raise NotmeError(f"{len(train.examples)} preference pairs in {data / 'pref' / 'train.jsonl'}, fewer than "
                             f"one batch of {config.batch_size}: add sources or set mode.preference to null")
        train_set, valid_set = PairSet(train.examples), PairSet(valid.examples)
        if preference["method"] == "dpo":
            used = {"train": batcher.pairs_used(train_set, config.batch_size, config.iters, loop=True),
                    "valid": batcher.pairs_used(valid_set, config.batch_size, config.val_batches, loop=False)
                    if len(valid_set) else []}
            for name, pairs in (("train", train_set), ("valid", valid_set)):
                if len(pairs):
                    pairs.reference = reference_logps(model, pairs, config.batch_size, max_len, used[name],
                                                      cache=record.path / f"reference-{name}.npz")
        loss = make_preference_loss(preference["method"], float(preference["beta"]),
                                    float(preference.get("sft_weight", 0.0)), float(preference.get("simpo_gamma", 0.5)))
    summary = {"train": len(train_set), "valid": len(valid_set), "skipped": dict(train.skipped + valid.skipped)}
    if mx.distributed.init().rank() == 0:
        record.append_metrics({"stage": config.stage, "event": "start", **summary})
    run_stage(model, config, train_set, valid_set, loss, record, batcher, resume)
    return summary
