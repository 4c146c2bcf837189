"""One training stage (SFT or preference tuning) on mlx-lm's tuner, with what the tuner leaves out:
run-record metrics and status, full checkpoints, exact resume, and a stop on NaN or divergence.

Exact resume: a checkpoint holds the adapters, the optimizer state (its step drives the learning
rate schedule) and how many batches were consumed; the random state cannot be read back from MLX,
so every checkpoint step reseeds it from (seed, stage, step) — an uninterrupted run does the same at
the same steps, so both continue with the same random stream.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.tuner import trainer as mlx_trainer
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.utils import build_schedule
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from notme.errors import NotmeError
from notme.runs.record import Checkpoint, RunRecord
from notme.train.batching import Batcher
from notme.train.lora import trainable_parameters
from notme.train.losses import LossFn

STAGES = ("sft", "preference")
# Never save on mlx-lm's own schedule: checkpoints are written here, with the optimizer state.
_NEVER = 10**12


class TrainingStopped(NotmeError):
    """The loss went NaN or ran away; the run keeps its last good checkpoint."""


@dataclass(frozen=True)
class StageConfig:
    stage: str
    iters: int
    batch_size: int
    learning_rate: float
    lr_schedule: dict[str, Any] | None
    grad_accumulation: int
    steps_per_report: int
    steps_per_eval: int
    save_every: int
    val_batches: int
    max_seq_length: int
    seed: int


def stage_seed(config: StageConfig, step: int) -> int:
    return (config.seed * 1_000_003 + STAGES.index(config.stage) * 7_919 + step) % 2**31


def make_optimizer(config: StageConfig) -> optim.Optimizer:
    learning_rate: Any = config.learning_rate
    schedule = config.lr_schedule
    if schedule:
        warmup = int(schedule.get("warmup", 0))
        decay_steps = max(1, config.iters - warmup)
        learning_rate = build_schedule({
            "name": schedule.get("name", "cosine_decay"), "warmup": warmup,
            "arguments": [config.learning_rate, decay_steps, float(schedule.get("min_lr", 0.0))],
        })
    return optim.Adam(learning_rate=learning_rate)


def save_checkpoint(record: RunRecord, config: StageConfig, step: int, model: nn.Module,
                    optimizer: optim.Optimizer, state: dict[str, Any]) -> Path:
    """Adapters, optimizer state and resume state, in a folder that appears whole or not at all."""
    final = record.checkpoint_dir(config.stage, step)
    temp = final.with_name(final.name + ".partial")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    mx.save_safetensors(str(temp / "adapters.safetensors"), trainable_parameters(model))
    mx.save_safetensors(str(temp / "optimizer.safetensors"), dict(tree_flatten(optimizer.state)))
    (temp / "state.json").write_text(json.dumps({"stage": config.stage, "step": step, **state}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    temp.rename(final)
    return final


def restore_checkpoint(checkpoint: Checkpoint, model: nn.Module, optimizer: optim.Optimizer) -> dict[str, Any]:
    model.load_weights(str(checkpoint.path / "adapters.safetensors"), strict=False)
    optimizer.init(model.trainable_parameters())
    optimizer.state = tree_unflatten(list(mx.load(str(checkpoint.path / "optimizer.safetensors")).items()))
    return json.loads((checkpoint.path / "state.json").read_text())


class RecordCallback(TrainingCallback):
    """Metrics, status and checkpoints into the run record; stops a run whose loss breaks."""

    def __init__(self, record: RunRecord, config: StageConfig, model: nn.Module, optimizer: optim.Optimizer,
                 batcher: Batcher, start: int) -> None:
        self.record, self.config, self.model, self.optimizer = record, config, model, optimizer
        self.batcher, self.start = batcher, start
        self.rank = mx.distributed.init().rank()
        self.first_loss: float | None = None
        self.last_good: Path | None = None

    def _check(self, loss: float, step: int, what: str) -> None:
        if not math.isfinite(loss):
            raise TrainingStopped(f"{what} is {loss} at step {step} of {self.config.stage}: the run stopped")
        self.first_loss = loss if self.first_loss is None else self.first_loss
        # Runaway: far above where the stage started. A healthy run may wobble, not multiply.
        if loss > max(3 * self.first_loss, self.first_loss + 5):
            raise TrainingStopped(f"{what} diverged at step {step} of {self.config.stage} "
                                  f"({loss:.3f}, started at {self.first_loss:.3f}): lower the learning rate")

    def on_train_loss_report(self, info: dict[str, Any]) -> None:
        step = self.start + info["iteration"]
        loss = float(info["train_loss"])
        self._check(loss, step, "the training loss")
        if self.rank == 0:
            self.record.append_metrics({
                "stage": self.config.stage, "step": step, "loss": loss,
                "learning_rate": float(info["learning_rate"]),
                "tokens_per_second": float(info["tokens_per_second"]),
                "iterations_per_second": float(info["iterations_per_second"]),
                "trained_tokens": int(info["trained_tokens"]),
                "peak_memory_gb": float(info["peak_memory"]),
            })
            self.record.set_status("running", stage=self.config.stage, step=step, total=self.config.iters, loss=loss)
        if (step % self.config.save_every == 0 or step == self.config.iters) and \
                step % self.config.grad_accumulation == 0:
            if self.rank == 0:
                self.last_good = save_checkpoint(self.record, self.config, step, self.model, self.optimizer,
                                                 {"consumed": self.batcher.consumed, "loss": loss,
                                                  "total": self.config.iters})
            mx.random.seed(stage_seed(self.config, step))

    def on_val_loss_report(self, info: dict[str, Any]) -> None:
        step = self.start + info["iteration"]
        loss = float(info["val_loss"])
        if not math.isfinite(loss):
            raise TrainingStopped(f"the validation loss is {loss} at step {step} of {self.config.stage}")
        if self.rank == 0:
            self.record.append_metrics({"stage": self.config.stage, "step": step, "val_loss": loss,
                                        "val_seconds": float(info["val_time"])})


@contextlib.contextmanager
def _progress_with_eta(label: str, done: int, total: int) -> Iterator[None]:
    """mlx-lm's progress bar, with the whole stage's steps and an ETA."""
    base = mlx_trainer.TrainUI

    class TrainUI(base):  # type: ignore[misc, valid-type]
        def __init__(self, total_iters: int, rank: int = 0) -> None:
            super().__init__(total_iters, rank)
            self._progress = Progress(
                TextColumn(f"[bold blue]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("·"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self._console, disable=rank != 0,
            )
            self._task = self._progress.add_task(label, total=total, completed=done)

    mlx_trainer.TrainUI = TrainUI
    try:
        yield
    finally:
        mlx_trainer.TrainUI = base


def run_stage(model: nn.Module, config: StageConfig, train_set: Any, valid_set: Any, loss: LossFn,
              record: RunRecord, batcher: Batcher, resume: Checkpoint | None = None) -> None:
    """Train one stage to `config.iters` steps (from a checkpoint when resuming)."""
    optimizer = make_optimizer(config)
    start = 0
    if resume is not None:
        state = restore_checkpoint(resume, model, optimizer)
        start = int(state["step"])
        batcher.start = int(state["consumed"])
    if start >= config.iters:
        return
    mx.random.seed(stage_seed(config, start))
    callback = RecordCallback(record, config, model, optimizer, batcher, start)
    args = mlx_trainer.TrainingArgs(
        batch_size=config.batch_size, iters=config.iters - start, val_batches=config.val_batches,
        steps_per_report=config.steps_per_report, steps_per_eval=config.steps_per_eval,
        steps_per_save=_NEVER, max_seq_length=config.max_seq_length,
        adapter_file=str(record.path / "adapters.safetensors"), grad_accumulation_steps=config.grad_accumulation,
    )
    record.set_status("running", stage=config.stage, step=start, total=config.iters)
    try:
        with _progress_with_eta(config.stage, start, config.iters):
            mlx_trainer.train(model, optimizer, train_set, valid_set if len(valid_set) else None, args,
                              loss=loss, iterate_batches=batcher, training_callback=callback)
    except TrainingStopped:
        _keep_last_good(record, callback.last_good or _latest(record, config.stage))
        raise


def _latest(record: RunRecord, stage: str) -> Path | None:
    mine = [c for c in record.checkpoints() if c.stage == stage]
    return mine[-1].path if mine else None


def _keep_last_good(record: RunRecord, checkpoint: Path | None) -> None:
    """The run's adapters go back to the last checkpoint written before the loss broke."""
    if checkpoint is not None:
        shutil.copy2(checkpoint / "adapters.safetensors", record.path / "adapters.safetensors")
