"""A run's LoRA adapters → a GGUF adapter: llama.cpp `--lora`, llama-cpp-python `lora_path`, Ollama `ADAPTER`.

mlx-lm computes y = W x + scale · (x A) B with A (in, r) and B (r, out); llama.cpp computes
y = W x + (alpha / r) · B' A' x with A' (r, in) and B' (out, r). So A' = Aᵀ, B' = Bᵀ and
alpha = scale · r. Like the base weights, B of the Q and K projections of llama-family models is
permuted into llama.cpp's rotary row order (integration.md §3.5).
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from notme.errors import NotmeError
from notme.export.gguf_model import PERMUTED_QK, _model_arch, _natural, gguf_architecture
from notme.models.gguf_import import permute_rows


def write_lora_gguf(adapters: Path, base_folder: Path, out: Path, scale: float = 1.0) -> Path:
    """Write the adapters in `adapters/` (adapters.safetensors, adapter_config.json), trained on the
    model in `base_folder`, as `out`; `scale` multiplies the trained scale as the gate's does."""
    import gguf

    adapter_config = json.loads((adapters / "adapter_config.json").read_text())
    kind = adapter_config.get("fine_tune_type", "lora")
    if kind != "lora":
        raise NotmeError(f"{adapters}: {kind} adapters have no GGUF adapter form (llama.cpp applies plain LoRA "
                         "only); the fused GGUF carries them")
    params = adapter_config["lora_parameters"]
    rank, lora_scale = int(params["rank"]), float(params["scale"]) * scale
    config = json.loads((base_folder / "config.json").read_text())
    arch = gguf_architecture(config)
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads", heads))
    names = gguf.get_tensor_name_map(_model_arch(arch), int(config["num_hidden_layers"]))
    weights = mx.load(str(adapters / "adapters.safetensors"))
    modules = sorted({key.rsplit(".", 1)[0] for key in weights if key.endswith(".lora_a")}, key=_natural)
    if not modules:
        raise NotmeError(f"{adapters}: no LoRA matrices (lora_a / lora_b) in adapters.safetensors")

    partial = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), arch)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, lora_scale * rank)
        for module in modules:
            target = names.get_name(module + ".weight", try_suffixes=(".weight",))
            if target is None or f"{module}.lora_b" not in weights:
                raise NotmeError(f"{adapters}: no llama.cpp tensor for the adapted layer {module}")
            a = np.array(weights[f"{module}.lora_a"].astype(mx.float32)).T
            b = weights[f"{module}.lora_b"].astype(mx.float32).T
            if arch in PERMUTED_QK and module.endswith("q_proj"):
                b = permute_rows(b, heads)
            elif arch in PERMUTED_QK and module.endswith("k_proj"):
                b = permute_rows(b, kv_heads)
            writer.add_tensor(target + ".lora_a", np.ascontiguousarray(a))
            writer.add_tensor(target + ".lora_b", np.ascontiguousarray(np.array(b)))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    partial.replace(out)
    return out
