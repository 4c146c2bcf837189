from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlx.core as mx
import pytest

from notme.models.tiny import tiny_weights


def tiny_of_type(tiny_path: Path, out: Path, model_type: str) -> Path:
    """The tiny model's tokenizer and shape as another architecture (random weights of its own layout)."""
    shutil.copytree(tiny_path, out)
    config = json.loads((out / "config.json").read_text())
    config["model_type"] = model_type
    classes = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
               "qwen3": "Qwen3ForCausalLM", "gemma": "GemmaForCausalLM"}
    config["architectures"] = [classes[model_type]]
    (out / "config.json").write_text(json.dumps(config, indent=2))
    weights = tiny_weights(config | {"model_type": "llama" if model_type == "mistral" else model_type}, seed=3)
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})
    return out


@pytest.fixture
def load_mlx():
    def load(folder: Path):
        from mlx_lm.utils import load as mlx_load

        return mlx_load(str(folder))

    return load
