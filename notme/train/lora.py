"""LoRA / DoRA adapters on a frozen base, in mlx-lm's format (so `mlx_lm.generate --adapter-path`
and mlx-lm's fuse read them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlx.nn as nn
from mlx.utils import tree_flatten
from mlx_lm.tuner.utils import linear_to_lora_layers

from notme.corpus.store import atomic_write
from notme.errors import NotmeError


def apply_adapters(model: nn.Module, lora: dict[str, Any]) -> dict[str, Any]:
    """Freeze the base, add LoRA (or DoRA) to the last `layers` blocks; the adapter config to save."""
    layers = int(lora["layers"])
    blocks = len(model.layers)
    if layers > blocks or layers == 0:
        raise NotmeError(f"mode.sft.lora.layers is {layers}, but the model has {blocks} blocks (use 1–{blocks}, "
                         "or -1 for all)")
    parameters = {"rank": int(lora["rank"]), "scale": float(lora["alpha"]) / float(lora["rank"]),
                  "dropout": float(lora["dropout"])}
    if lora.get("keys"):
        parameters["keys"] = list(lora["keys"])
    model.freeze()
    linear_to_lora_layers(model, layers, parameters, use_dora=bool(lora.get("dora")))
    return {"fine_tune_type": "dora" if lora.get("dora") else "lora", "num_layers": layers,
            "lora_parameters": parameters}


def trainable_parameters(model: nn.Module) -> dict[str, Any]:
    return dict(tree_flatten(model.trainable_parameters()))


def write_adapter_config(folder: Path, config: dict[str, Any], base_model: str) -> None:
    atomic_write(folder / "adapter_config.json", json.dumps({**config, "model": base_model}, indent=2) + "\n")
