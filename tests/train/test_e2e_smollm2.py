"""End to end on the real SmolLM2-135M-Instruct (slow; CI runs it): the sample owner's exports →
corpus → datasets → LoRA SFT → DPO, through the `notme` command. The validation loss must fall, and
the adapters must load in mlx-lm, in process and through `mlx_lm.generate --adapter-path`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from notme import samples
from notme.runs.record import list_runs, read_metrics, read_status

pytestmark = pytest.mark.slow

RECIPE = """\
extends: demo            # the sample corpus, smollm2, 256 tokens
mode:
  sft:
    iters: 10
    lr_schedule: {name: cosine_decay, warmup: 2, min_lr: 2.0e-5}
    steps_per_report: 5
    steps_per_eval: 10
    save_every: 10
    val_batches: 2
  preference:
    iters: 4
    steps_per_report: 2
    steps_per_eval: 4
    save_every: 4
    val_batches: 2
"""


def train_sample_run(cli, tmp_path):
    exports = samples.write_sample_exports(tmp_path / "exports")
    person = samples.persona()
    me = [arg for identity in samples.owner_identities(person) for arg in ("--me", identity)]
    result = cli("ingest", *exports, "--corpus", "sample", "--timezone", person["timezone"], *me)
    assert result.exit_code == 0, result.output
    recipe = tmp_path / "e2e.yaml"
    recipe.write_text(RECIPE)
    result = cli("train", recipe)
    assert result.exit_code == 0, result.output
    (run,) = list_runs()
    return run, result.output


def test_sft_then_dpo_on_the_sample_corpus_and_the_adapters_load_in_mlx_lm(cli, workspace, smollm2, tmp_path):
    run, output = train_sample_run(cli, tmp_path)  # one run (minutes on a CPU) for every check below
    assert read_status(run.path)["state"] == "done"
    metrics, _ = read_metrics(run.path)
    sft_val = [m["val_loss"] for m in metrics if m.get("stage") == "sft" and "val_loss" in m]
    assert len(sft_val) == 2 and sft_val[-1] < sft_val[0], sft_val
    dpo = [m for m in metrics if m.get("stage") == "preference" and "loss" in m]
    assert [m["step"] for m in dpo] == [2, 4]
    assert (run.path / "reference-train.npz").is_file()
    assert f"{run.name}  done" in output
    data = json.loads((run.path / "run.json").read_text())
    assert data["dataset"]["sft"]["train"] > 100  # the sample corpus, built for this run

    from mlx_lm import generate, load

    model, tokenizer = load(str(smollm2), adapter_path=str(run.path))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "where are you?"}], add_generation_prompt=True,
                                           tokenize=False)
    assert generate(model, tokenizer, prompt=prompt, max_tokens=8).strip()
    command = [sys.executable, "-m", "mlx_lm", "generate", "--model", str(smollm2), "--adapter-path", str(run.path),
               "--prompt", "where are you?", "--max-tokens", "8"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "==========" in done.stdout  # mlx_lm prints the generation between these rules
