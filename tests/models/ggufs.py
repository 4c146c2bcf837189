"""Writing GGUF files from an MLX model folder, as llama.cpp's converter would: the fixtures of the
import tests. Tensor names, metadata keys and the Q/K row permutation follow convert_hf_to_gguf.py."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import mlx.core as mx
import numpy as np
from gguf.quants import quantize

from notme.models.gguf_import import LAYER_NAMES, TOP_LEVEL_NAMES, permute_rows

GGUF_NAMES = {mlx: name for name, mlx in TOP_LEVEL_NAMES.items()}
LAYER_GGUF_NAMES = {mlx: name for name, mlx in LAYER_NAMES.items()}


def gguf_name(mlx_name: str) -> str:
    if mlx_name in GGUF_NAMES:
        return GGUF_NAMES[mlx_name]
    _, _, layer, *part, kind = mlx_name.split(".")
    return f"blk.{layer}.{LAYER_GGUF_NAMES['.'.join(part)]}.{kind}"


def write_gguf(
    model_dir: Path,
    out: Path,
    arch: str = "llama",
    qtype: str = "F32",
    chat_template: str | None = "config",
    extra_tensors: dict[str, np.ndarray] | None = None,
    extra_metadata: dict | None = None,
    weights: dict[str, mx.array] | None = None,
    tokenizer_model: str = "gpt2",
) -> Path:
    """`model_dir` (config.json, model.safetensors, tokenizer files) as a GGUF of architecture `arch`.

    qtype: the type of 2-D weights (norms stay F32, as llama.cpp keeps them). chat_template:
    "config" takes the folder's, None leaves it out. weights: replaces the folder's. A qtype gguf-py
    cannot encode (Q8_1, ...) is written as zero bytes of the right size: enough to test refusals."""
    config = json.loads((model_dir / "config.json").read_text())
    weights = weights if weights is not None else mx.load(str(model_dir / "model.safetensors"))
    writer = gguf.GGUFWriter(str(out), arch)
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    writer.add_name("notme tiny test model")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(config["rope_theta"])
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    writer.add_rope_dimension_count(head_dim)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_vocab_size(config["vocab_size"])
    _add_tokenizer(writer, model_dir, chat_template, tokenizer_model)
    for key, value in (extra_metadata or {}).items():
        _add_value(writer, key, value)

    for name in sorted(weights):
        values = np.array(weights[name].astype(mx.float32))
        if arch == "llama" and ".q_proj." in name:
            values = np.array(permute_rows(mx.array(values), heads))
        elif arch == "llama" and ".k_proj." in name:
            values = np.array(permute_rows(mx.array(values), kv_heads))
        _add_tensor(writer, gguf_name(name), values, qtype if values.ndim == 2 else "F32")
    for name, values in (extra_tensors or {}).items():
        _add_tensor(writer, name, values, "F32")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _add_tensor(writer: gguf.GGUFWriter, name: str, values: np.ndarray, qtype: str) -> None:
    kind = gguf.GGMLQuantizationType[qtype]
    if kind == gguf.GGMLQuantizationType.F32:
        writer.add_tensor(name, values.astype(np.float32))
        return
    try:
        encoded = quantize(values.astype(np.float32), kind)
    except NotImplementedError:
        block_size, type_size = gguf.GGML_QUANT_SIZES[kind]
        encoded = np.zeros((*values.shape[:-1], values.shape[-1] // block_size * type_size), np.uint8)
    writer.add_tensor(name, encoded, raw_dtype=kind)


def _add_tokenizer(writer: gguf.GGUFWriter, model_dir: Path, chat_template: str | None, model: str) -> None:
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    special = {t["content"] for t in tokenizer["added_tokens"] if t["special"]}
    writer.add_tokenizer_model(model)
    writer.add_tokenizer_pre("gpt-2")  # the GPT-2 split regex, as the tiny tokenizer uses
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in special else 1 for t in tokens])  # 3: control, 1: normal
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in tokenizer["model"]["merges"]])
    writer.add_eos_token_id(vocab[tokenizer_config["eos_token"]])
    writer.add_pad_token_id(vocab[tokenizer_config["pad_token"]])
    writer.add_add_bos_token(False)
    if chat_template == "config":
        writer.add_chat_template(tokenizer_config["chat_template"])
    elif chat_template is not None:
        writer.add_chat_template(chat_template)


def _add_value(writer: gguf.GGUFWriter, key: str, value) -> None:
    if isinstance(value, bool):
        writer.add_bool(key, value)
    elif isinstance(value, int):
        writer.add_uint32(key, value)
    elif isinstance(value, float):
        writer.add_float32(key, value)
    else:
        writer.add_string(key, str(value))


def llama_cpp_requantize(source: Path, out: Path, ftype: str) -> Path:
    """Re-encode a GGUF with llama.cpp's own quantizer (ftype: "MOSTLY_Q4_K_M", "ALL_F32", ...)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_{ftype}")
    params.allow_requantize = True
    params.nthread = 1
    if llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), params) != 0:
        raise RuntimeError(f"llama.cpp could not quantize {source} to {ftype}")
    return out
