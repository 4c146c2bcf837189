"""An MLX model folder (fused, float) → one GGUF file llama.cpp, Ollama and LM Studio load.

gguf-py writes the container; tensor names come from its own per-architecture maps. What a writer
must do besides (integration.md §3.3, from llama.cpp's converter): permute the Q and K rows of
llama-family models into llama.cpp's rotary order, add one to Gemma's norm weights (llama.cpp
stores the scale, Hugging Face the offset), write Llama 3.1's rope factors as a tensor, keep 1-D
tensors in F32, and carry the tokenizer and chat template (`gguf_vocab`). Tensors are streamed
one at a time, so a model much larger than memory in float32 still exports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import mlx.core as mx
import numpy as np

from notme.errors import NotmeError
from notme.export.gguf_vocab import add_tokenizer
from notme.models.gguf_import import llama3_rope_factors, permute_rows

# mlx-lm / Hugging Face model_type → llama.cpp architecture. Mistral's dense models are llama to llama.cpp.
ARCHITECTURES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma": "gemma"}
PERMUTED_QK = {"llama"}  # llama.cpp pairs neighbouring rotary dimensions only for these
FILE_TYPES = {"f32": 0, "f16": 1}  # general.file_type (llama_ftype) of an unquantized file


def gguf_architecture(config: dict) -> str:
    model_type = config.get("model_type", "")
    if model_type not in ARCHITECTURES:
        raise NotmeError(f"exporting a {model_type or 'model without model_type'!r} model to GGUF is not supported; "
                         f"supported: {', '.join(sorted(ARCHITECTURES))}")
    if config.get("quantization") or config.get("quantization_config"):
        raise NotmeError("the model folder is quantized: fuse it dequantized before writing a GGUF")
    return ARCHITECTURES[model_type]


def write_gguf(folder: Path, out: Path, dtype: str = "f16", name: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> Path:
    """Write `folder` (config.json, safetensors, tokenizer files) as `out`; returns `out`.

    Written to `<out>.partial` first and renamed, so a file at `out` is always whole."""
    import gguf

    if dtype not in FILE_TYPES:
        raise NotmeError(f"GGUF dtype {dtype!r}: use f16 or f32 and quantize from it")
    config = json.loads((folder / "config.json").read_text())
    arch = gguf_architecture(config)
    tensors = dict(_gguf_tensors(folder, config, arch))
    partial = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), arch)
    try:
        writer.add_name(name or folder.name)
        writer.add_file_type(FILE_TYPES[dtype])
        _add_hyperparameters(writer, config, arch)
        vocab_size = tensors["token_embd.weight"][0][0]
        add_tokenizer(writer, folder, vocab_size)
        for tensor_name, (shape, _load) in tensors.items():
            np_dtype = np.float32 if dtype == "f32" or len(shape) == 1 else np.float16
            writer.add_tensor_info(tensor_name, shape, np.dtype(np_dtype),
                                   int(np.prod(shape)) * np.dtype(np_dtype).itemsize)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for done, (shape, load) in enumerate(tensors.values(), 1):
            values = load()
            writer.write_tensor_data(values.astype(np.float32 if dtype == "f32" or len(shape) == 1 else np.float16))
            if progress:
                progress(done, len(tensors))
    finally:
        writer.close()
    partial.replace(out)
    return out


def _gguf_tensors(folder: Path, config: dict, arch: str) -> Iterator[tuple[str, tuple[tuple[int, ...], Callable]]]:
    """(GGUF name, (shape, loader)) for every tensor, in a stable order; loaders give float32 numpy."""
    import gguf

    layers = int(config["num_hidden_layers"])
    names = gguf.get_tensor_name_map(_model_arch(arch), layers)
    weights: dict[str, mx.array] = {}
    for shard in sorted(folder.glob("model*.safetensors")):
        weights.update(mx.load(str(shard)))  # lazy: nothing is read until a tensor is evaluated
    if not weights:
        raise NotmeError(f"{folder}: no safetensors weights")
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads", heads))
    tied = config.get("tie_word_embeddings", arch == "gemma")
    for mlx_name in sorted(weights, key=_natural):
        if mlx_name.startswith("lm_head.") and tied:
            continue
        if mlx_name.endswith((".scales", ".biases")) and mlx_name.rsplit(".", 1)[0] + ".weight" in weights:
            raise NotmeError(f"{folder}: {mlx_name} is a quantization table: fuse the model dequantized first")
        if mlx_name.endswith("rotary_emb.inv_freq"):
            continue  # recomputed by llama.cpp from the rope keys
        gguf_name = names.get_name(mlx_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise NotmeError(f"{folder}: no GGUF name for tensor {mlx_name} of a {arch} model")

        def load(name: str = mlx_name) -> np.ndarray:
            values = weights[name].astype(mx.float32)
            if arch in PERMUTED_QK and name.endswith(("q_proj.weight", "q_proj.bias")):
                values = permute_rows(values, heads)
            elif arch in PERMUTED_QK and name.endswith(("k_proj.weight", "k_proj.bias")):
                values = permute_rows(values, kv_heads)
            elif arch == "gemma" and name.endswith("norm.weight"):
                values = values + 1.0
            return np.array(values)

        yield gguf_name, (tuple(weights[mlx_name].shape), load)
    factors = _llama3_rope_factors(config)
    if factors is not None:
        yield "rope_freqs.weight", (factors.shape, lambda: factors)


def _add_hyperparameters(writer, config: dict, arch: str) -> None:
    import gguf

    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // heads)
    writer.add_context_length(int(config.get("max_position_embeddings", 2048)))
    writer.add_embedding_length(hidden)
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(int(config.get("num_key_value_heads", heads)))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_rope_freq_base(float(config.get("rope_theta", 10000.0)))
    writer.add_rope_dimension_count(head_dim)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_vocab_size(int(config["vocab_size"]))
    scaling = config.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
    elif kind == "yarn":
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
        writer.add_rope_scaling_orig_ctx_len(int(scaling["original_max_position_embeddings"]))
    elif kind not in (None, "default", "llama3"):
        raise NotmeError(f"rope scaling {kind!r} cannot be written to GGUF by this exporter")


def _llama3_rope_factors(config: dict) -> np.ndarray | None:
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type", scaling.get("type")) != "llama3":
        return None
    head_dim = int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])
    return llama3_rope_factors(scaling, float(config.get("rope_theta", 10000.0)), head_dim)


def _model_arch(arch: str):
    import gguf

    return {name: key for key, name in gguf.MODEL_ARCH_NAMES.items()}[arch]


def _natural(name: str) -> tuple:
    """model.layers.10 after model.layers.9: the order llama.cpp's own converter writes."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in name.split("."))
