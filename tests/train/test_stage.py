"""A stage on mlx-lm's trainer: the run record it writes, exact resume, and the stop on NaN."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest

from notme.runs.record import RunRecord, read_metrics, read_status
from notme.train.batching import Batcher, ExampleSet
from notme.train.lora import apply_adapters, trainable_parameters
from notme.train.losses import make_sft_loss
from notme.train.stage import StageConfig, TrainingStopped, run_stage
from notme.train.tokenize import sft_example
from tests.train.conftest import chat

LORA = {"rank": 4, "alpha": 8, "layers": 2, "dropout": 0.2}  # dropout: the random stream matters


def config(iters: int, **kw) -> StageConfig:
    values = {"stage": "sft", "iters": iters, "batch_size": 4, "learning_rate": 3e-3,
              "lr_schedule": {"name": "cosine_decay", "warmup": 2}, "grad_accumulation": 1,
              "steps_per_report": 2, "steps_per_eval": 4, "save_every": 4, "val_batches": 2,
              "max_seq_length": 48, "seed": 5} | kw
    return StageConfig(**values)


def data(tokenizer):
    records = [chat(("user", f"plan for day {i}?"), ("assistant", f"climb at {i % 7}. bring chalk."))
               for i in range(24)]
    examples = [sft_example(tokenizer, r, 48) for r in records]
    return ExampleSet(examples[:20]), ExampleSet(examples[20:])


def fresh(tiny_path, tmp_path, name):
    from mlx_lm.utils import load

    model, tokenizer = load(str(tiny_path))
    mx.random.seed(0)  # as `notme train` does: a run's adapters start from its seed
    apply_adapters(model, LORA)
    return model, tokenizer, RunRecord.create(name, {}, root=tmp_path / "adapters")


def test_the_run_record_gets_metrics_status_and_whole_checkpoints(tiny_path, tmp_path):
    model, tokenizer, record = fresh(tiny_path, tmp_path, "record")
    train, valid = data(tokenizer)
    run_stage(model, config(8), train, valid, make_sft_loss(0.0), record, Batcher(packed=True))
    entries, _ = read_metrics(record.path)
    steps = [e["step"] for e in entries if "loss" in e]
    assert steps == [2, 4, 6, 8]
    assert {"learning_rate", "tokens_per_second", "trained_tokens", "peak_memory_gb"} <= set(entries[-1])
    val_losses = [e["val_loss"] for e in entries if "val_loss" in e]
    assert val_losses[-1] < val_losses[0]
    assert [(c.stage, c.step) for c in record.checkpoints()] == [("sft", 4), ("sft", 8)]
    assert {p.name for p in record.checkpoints()[-1].path.iterdir()} == {"adapters.safetensors",
                                                                          "optimizer.safetensors", "state.json"}
    assert read_status(record.path)["step"] == 8 and read_status(record.path)["total"] == 8
    assert (record.path / "adapters.safetensors").is_file()


def test_an_interrupted_run_resumed_ends_with_the_same_adapters(tiny_path, tmp_path, monkeypatch):
    model, tokenizer, straight = fresh(tiny_path, tmp_path, "straight")
    train, valid = data(tokenizer)
    run_stage(model, config(12), train, valid, make_sft_loss(0.0), straight, Batcher(packed=True, seed=5))
    expected = {k: np.array(v) for k, v in trainable_parameters(model).items()}

    model, tokenizer, broken = fresh(tiny_path, tmp_path, "broken")
    # Interrupted: the same run, killed right after its step-8 checkpoint…
    import notme.train.stage as stage

    real_save = stage.save_checkpoint

    def save_then_die(record, config, step, *args):
        path = real_save(record, config, step, *args)
        if step == 8:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(stage, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_stage(model, config(12), train, valid, make_sft_loss(0.0), broken, Batcher(packed=True, seed=5))
    monkeypatch.setattr(stage, "save_checkpoint", real_save)
    # …then a new process: fresh model, resume from the newest checkpoint, to step 12.
    model, _, _ = fresh(tiny_path, tmp_path, "unused")
    (checkpoint,) = [c for c in broken.checkpoints() if c.step == 8]
    state = json.loads((checkpoint.path / "state.json").read_text())
    assert state["consumed"] == 8
    run_stage(model, config(12), train, valid, make_sft_loss(0.0), broken, Batcher(packed=True, seed=5),
              resume=checkpoint)
    resumed = {k: np.array(v) for k, v in trainable_parameters(model).items()}
    assert expected.keys() == resumed.keys()
    assert all(np.array_equal(expected[k], resumed[k]) for k in expected)


def test_nan_stops_the_run_and_keeps_the_last_good_adapters(tiny_path, tmp_path, monkeypatch):
    model, tokenizer, record = fresh(tiny_path, tmp_path, "nan")
    train, valid = data(tokenizer)
    import notme.train.stage as stage

    optimizers = []
    real_optimizer = stage.make_optimizer

    def remembered(config):
        optimizers.append(real_optimizer(config))
        return optimizers[-1]

    monkeypatch.setattr(stage, "make_optimizer", remembered)
    real = make_sft_loss(0.0)

    def poisoned(model, *batch):
        # The loss is traced once under mx.compile: the poison must be an array, keyed on the
        # optimizer's step (compiled state), not a Python counter. From the 6th update on: NaN.
        loss, tokens = real(model, *batch)
        return mx.where(optimizers[-1].state["step"] >= 5, mx.array(float("nan")), loss), tokens

    with pytest.raises(TrainingStopped, match=r"nan at step 6"):
        run_stage(model, config(12, steps_per_eval=100), train, valid, poisoned, record, Batcher(packed=True))
    good = record.checkpoints()[-1]
    assert good.step == 4
    saved = mx.load(str(record.path / "adapters.safetensors"))
    kept = mx.load(str(good.path / "adapters.safetensors"))
    assert all(np.array_equal(np.array(saved[k]), np.array(kept[k])) for k in kept)


def test_reference_is_scored_once_for_the_pairs_a_stage_uses(tiny_path, tmp_path):
    from mlx_lm.utils import load

    from notme.train.batching import PairSet
    from notme.train.reference import reference_logps
    from notme.train.tokenize import preference_pair

    model, tokenizer = load(str(tiny_path))
    pairs = PairSet([preference_pair(tokenizer, {"prompt": f"q{i}?", "chosen": "no.", "rejected": f"sure {i}!"}, 64)
                     for i in range(10)])
    used = Batcher(packed=False, seed=1).pairs_used(pairs, batch_size=2, batches=3, loop=True)
    assert len(used) == 6 and len(set(used)) == 6
    cache = tmp_path / "reference.npz"
    scores = reference_logps(model, pairs, 2, 64, used, cache=cache)
    assert not np.isnan(scores[used]).any()
    assert np.isnan(np.delete(scores, used, axis=0)).all()
    # A resumed run reads them back, even after the model changed.
    for _, layer in model.named_modules():
        if hasattr(layer, "weight") and layer.weight.ndim == 2:
            layer.weight = layer.weight * 0
    again = reference_logps(model, pairs, 2, 64, used, cache=cache)
    assert np.array_equal(np.nan_to_num(again), np.nan_to_num(scores))
    with pytest.raises(AssertionError):  # a pair it never scored is scored now, by the changed model
        assert np.array_equal(reference_logps(model, pairs, 2, 64, None, cache=cache)[used], scores[used])
