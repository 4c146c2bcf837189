"""Export end to end on the real SmolLM2-135M-Instruct (slow; CI runs it): the sample owner's run,
gated on the full suite, exported at F16, Q8_0 and Q4_K_M with the parity check passing at each, then
the GGUF and the LoRA adapter GGUF loaded in llama-cpp-python give coherent replies, and `notme chat`
answers one turn."""

from __future__ import annotations

import json

import pytest

from notme import samples
from notme.backends.llamacpp import LlamaCppBackend
from notme.gate.style import is_coherent
from notme.runs.record import list_runs
from tests.conftest import module_home

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

RECIPE = """\
extends: demo            # the sample corpus, smollm2, 256 tokens
mode:
  sft:
    iters: 10
    learning_rate: 1.0e-4
    lr_schedule: {name: cosine_decay, warmup: 2, min_lr: 1.0e-5}
    steps_per_report: 5
    steps_per_eval: 10
    save_every: 10
    val_batches: 2
  preference: null
gate:
  suite: full            # export accepts nothing else
  max_tokens: 24         # refusals and compliance show in the first words; keeps 1,700 replies to minutes
export:
  quants: [f16, q8_0, q4_k_m]
"""
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, smollm2_import):
    with module_home(tmp_path_factory, "export-smollm2", smollm2_import[0]) as (home, cli):
        exports = samples.write_sample_exports(home / "exports")
        person = samples.persona()
        me = [arg for identity in samples.owner_identities(person) for arg in ("--me", identity)]
        assert cli("ingest", *exports, "--corpus", "sample", "--timezone", person["timezone"], *me).exit_code == 0
        (home / "e2e.yaml").write_text(RECIPE)
        assert cli("train", home / "e2e.yaml").exit_code == 0
        (run,) = list_runs()
        gate = cli("gate", run.name, "--quiet")
        report = json.loads((run.path / "gate" / "report.json").read_text())
        assert gate.exit_code == 0, report["blocks"]
        result = cli("export", run.name, "--quiet")
        assert result.exit_code == 0, result.output
        yield home, run, cli, result.output


def test_each_quantization_passes_parity_with_the_trained_model(exported):
    _, run, _, output = exported
    record = json.loads((run.path / "export" / "export.json").read_text())
    kinds = [f["kind"] for f in record["files"]]
    assert kinds == ["GGUF F16", "GGUF Q8_0", "GGUF Q4_K_M", "GGUF LoRA adapter"]
    assert all(check["passed"] for check in record["parity"]), [c["failures"] for c in record["parity"]]
    by_file = {check["file"]: check for check in record["parity"]}
    assert by_file[f"{run.name}-F16.gguf"]["min_cosine"] >= 0.999
    assert by_file[f"{run.name}-Q8_0.gguf"]["min_cosine"] >= 0.999
    assert by_file[f"{run.name}-Q4_K_M.gguf"]["min_cosine"] >= 0.98
    for check in record["parity"]:
        assert check["stop_tokens_ok"] and all(p["same_prompt"] and p["same_tokens"] for p in check["prompts"])
        stopped = [p for p in check["prompts"] if p["mlx_stopped"]]
        assert stopped and all(p["gguf_stopped"] for p in stopped)  # the end-of-turn token ends replies
    assert "Q4_K_M" in output and (run.path / "export" / "Modelfile").is_file()


def test_the_gguf_and_the_lora_adapter_load_in_llama_cpp_and_answer_coherently(exported):
    _, run, _, _ = exported
    record = json.loads((run.path / "export" / "export.json").read_text())
    folder = run.path / "export"
    q8 = LlamaCppBackend(folder / f"{run.name}-Q8_0.gguf", context=1024)
    reply = q8.generate([QUESTION], 48)[0]
    q8.close()
    assert is_coherent(reply), reply
    with_adapter = LlamaCppBackend(record["lora_base_gguf"], context=1024, lora=folder / f"{run.name}-lora.gguf")
    adapted = with_adapter.generate([QUESTION], 48)[0]
    with_adapter.close()
    assert is_coherent(adapted), adapted


def test_notme_chat_answers_one_turn_with_the_exported_model(exported):
    _, run, cli, _ = exported
    # by path: each test has a workspace of its own, the run lives in the module's
    result = cli("chat", run.path, "--max-tokens", "32", input="What do you like to cook?\n")
    assert result.exit_code == 0, result.output
    history = json.loads((run.path / "chat" / "history.json").read_text())
    assert history["model"]["backend"] == "llamacpp" and history["model"]["model"].endswith("-F16.gguf")
    assert is_coherent(history["messages"][-1]["content"]) and history["messages"][-1]["role"] == "assistant"
