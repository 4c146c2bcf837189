"""GGUF file → MLX model folder (config.json, model.safetensors, tokenizer files).

Weights are dequantized to a float dtype: training needs float weights (QLoRA re-quantizes on load
with MLX's own kernels), and GGUF's K-quants have no MLX equivalent anyway. llama.cpp stores the Q
and K projections of llama-architecture models with their rows permuted (its rotary embedding pairs
neighbouring dimensions, Hugging Face's pairs the two halves of each head); we undo that. Qwen
files are written unpermuted, so they are copied as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from math import prod
from pathlib import Path

import mlx.core as mx
import numpy as np

from notme.errors import InputError, NotmeError
from notme.models.gguf_file import GGUFFile, TensorInfo, iter_float_tensors, read_gguf
from notme.models.gguf_tokenizer import write_tokenizer

# llama.cpp architecture → (mlx-lm model_type, Hugging Face class name)
ARCHITECTURES = {
    "llama": ("llama", "LlamaForCausalLM"),  # also Llama 2/3, Mistral 7B, SmolLM: llama.cpp calls them all llama
    "qwen2": ("qwen2", "Qwen2ForCausalLM"),
    "qwen3": ("qwen3", "Qwen3ForCausalLM"),
}
DTYPES = {"float32": mx.float32, "bfloat16": mx.bfloat16, "float16": mx.float16}
INFO_FILE = "notme.json"  # what notme knows about an imported model: source, architecture, dtype

TOP_LEVEL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
ROPE_FACTORS = "rope_freqs.weight"  # Llama 3.1+: per-dimension rotary wavelength factors
MAX_SHARD_BYTES = 5 << 30


def import_gguf(
    gguf: Path,
    out_dir: Path,
    dtype: str = "float32",
    chat_template: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert `gguf` into an MLX model folder at `out_dir` (written whole or not at all).

    dtype: float32 | bfloat16 | float16, or auto (float32 on the CPU, bfloat16 with a GPU)."""
    gguf, out_dir = Path(gguf), Path(out_dir)
    dtype = default_dtype() if dtype == "auto" else dtype
    if dtype not in DTYPES:
        raise NotmeError(f"dtype {dtype!r} is not one of auto, {', '.join(DTYPES)}")
    if out_dir.exists() and not overwrite:
        raise NotmeError(f"{out_dir} already exists; choose another name or replace it")
    started = time.monotonic()
    file = read_gguf(gguf)
    with _conversion_errors(gguf):
        config = model_config(file)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _check_disk_space(file, dtype, out_dir.parent)
    staging = out_dir.parent / f".{out_dir.name}.importing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        generation = write_tokenizer(gguf, file.metadata, staging, chat_template)
        config.update({k: v for k, v in generation.items() if k != "pad_token_id"})
        with _conversion_errors(gguf):
            parameters = _write_weights(file, config, DTYPES[dtype], staging)
        config["torch_dtype"] = dtype
        _write_json(staging / "config.json", config)
        _write_json(staging / "generation_config.json", generation)
        _write_json(staging / INFO_FILE, {
            "source": str(gguf.resolve()),
            "fingerprint": gguf_fingerprint(gguf),
            "architecture": file.architecture,
            "name": file.metadata.get("general.name"),
            "quantization": file.tensor_types(),
            "dtype": dtype,
            "parameters": parameters,
            "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "import_seconds": round(time.monotonic() - started, 2),
        })
        _move_into_place(staging, out_dir, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def default_dtype() -> str:
    """float32 on the CPU (bfloat16 matmuls are several times slower there), bfloat16 on a GPU."""
    return "bfloat16" if mx.default_device().type == mx.DeviceType.gpu else "float32"


def model_config(file: GGUFFile) -> dict:
    """The config.json mlx-lm builds the model from, read from llama.cpp's metadata keys."""
    arch = file.architecture
    if arch not in ARCHITECTURES:
        raise InputError(file.path, f"architecture {arch or '(none)'!r} is not supported; "
                                    f"supported: {', '.join(ARCHITECTURES)}")
    meta = file.metadata

    def key(name: str, default=None):
        value = meta.get(f"{arch}.{name}", default)
        if value is None:
            raise InputError(file.path, f"the metadata has no {arch}.{name}")
        return value

    if f"{arch}.expert_count" in meta and key("expert_count") > 0:
        raise InputError(file.path, "mixture-of-experts models are not supported")
    heads = int(key("attention.head_count"))
    kv_heads = key("attention.head_count_kv", heads)
    if isinstance(kv_heads, list):  # per-layer counts: only a uniform one maps onto these models
        if len(set(kv_heads)) != 1:
            raise InputError(file.path, "a different number of KV heads per layer is not supported")
        kv_heads = kv_heads[0]
    hidden = int(key("embedding_length"))
    head_dim = int(key("attention.key_length", hidden // heads))
    if int(key("rope.dimension_count", head_dim)) != head_dim:
        raise InputError(file.path, "partial rotary embeddings (rope.dimension_count < head size) are not supported")
    embedding = _tensor(file, "token_embd.weight")
    model_type, hf_class = ARCHITECTURES[arch]
    config = {
        "model_type": model_type,
        "architectures": [hf_class],
        "hidden_size": hidden,
        "num_hidden_layers": int(key("block_count")),
        "intermediate_size": int(key("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(kv_heads),
        "head_dim": head_dim,
        "rms_norm_eps": _float32(key("attention.layer_norm_rms_epsilon")),
        "rope_theta": _float32(key("rope.freq_base", 10000.0 if arch == "llama" else 1000000.0)),
        "vocab_size": embedding.shape[0],
        "max_position_embeddings": int(key("context_length")),
        "tie_word_embeddings": not any(t.name == "output.weight" for t in file.tensors),
    }
    if arch == "llama":
        config["attention_bias"] = any(t.name == "blk.0.attn_q.bias" for t in file.tensors)
        config["mlp_bias"] = any(t.name == "blk.0.ffn_up.bias" for t in file.tensors)
    scaling = _rope_scaling(file, arch, config)
    if scaling:
        config["rope_scaling"] = scaling
    return config


def _rope_scaling(file: GGUFFile, arch: str, config: dict) -> dict | None:
    meta = file.metadata
    kind = meta.get(f"{arch}.rope.scaling.type", "none")
    factor = meta.get(f"{arch}.rope.scaling.factor")
    if any(t.name == ROPE_FACTORS for t in file.tensors):
        return None  # filled in from the tensor itself, in _write_weights: its values are the scaling
    if kind in ("none", None) or factor in (None, 1.0):
        return None
    if kind == "linear":
        return {"type": "linear", "factor": _float32(factor)}
    if kind == "yarn":
        original = meta.get(f"{arch}.rope.scaling.original_context_length", config["max_position_embeddings"])
        return {"type": "yarn", "factor": _float32(factor), "original_max_position_embeddings": int(original)}
    raise InputError(file.path, f"rope scaling {kind!r} is not supported")


def _write_weights(file: GGUFFile, config: dict, dtype: mx.Dtype, out_dir: Path) -> int:
    weights: dict[str, mx.array] = {}
    for info, values in iter_float_tensors(file):
        if info.name == ROPE_FACTORS:
            scaling = llama3_rope_scaling(np.array(values), config["rope_theta"], config["head_dim"])
            if scaling is not None:
                config["rope_scaling"] = scaling
            continue
        name = mlx_name(file, info)
        if file.architecture == "llama" and name.endswith(("q_proj.weight", "q_proj.bias")):
            values = unpermute_rows(values, config["num_attention_heads"])
        elif file.architecture == "llama" and name.endswith(("k_proj.weight", "k_proj.bias")):
            values = unpermute_rows(values, config["num_key_value_heads"])
        weights[name] = values.astype(dtype)
        mx.eval(weights[name])  # one tensor at a time: the float32 copies are never all alive together
    _check_complete(file, config, weights)
    _check_loadable(config, weights)
    _save_shards(weights, out_dir)
    return sum(v.size for v in weights.values())


def mlx_name(file: GGUFFile, info: TensorInfo) -> str:
    if info.name in TOP_LEVEL_NAMES:
        return TOP_LEVEL_NAMES[info.name]
    parts = info.name.split(".")
    if len(parts) == 4 and parts[0] == "blk" and parts[1].isdigit() and parts[2] in LAYER_NAMES:
        return f"model.layers.{parts[1]}.{LAYER_NAMES[parts[2]]}.{parts[3]}"
    raise InputError(file.path, f"unexpected tensor {info.name}: this {file.architecture} variant is not supported")


def unpermute_rows(values: mx.array, heads: int) -> mx.array:
    """Undo llama.cpp's Q/K row order: per head, (pairs, 2) → (2, pairs)."""
    rows = values.shape[0]
    rest = values.shape[1:]
    return values.reshape(heads, rows // heads // 2, 2, *rest).swapaxes(1, 2).reshape(rows, *rest)


def permute_rows(values: mx.array, heads: int) -> mx.array:
    """llama.cpp's Q/K row order (what its converter writes); the inverse of `unpermute_rows`."""
    rows = values.shape[0]
    rest = values.shape[1:]
    return values.reshape(heads, 2, rows // heads // 2, *rest).swapaxes(1, 2).reshape(rows, *rest)


def llama3_rope_scaling(factors: np.ndarray, base: float, head_dim: int) -> dict | None:
    """The `rope_scaling` of Llama 3.1+ whose per-dimension factors llama.cpp stored as a tensor.

    GGUF keeps only the factors, not the four numbers that made them; every Llama 3.x release used
    low 1, high 4, original context 8192 with a factor of 8 or 32, so we check those reproduce the
    tensor rather than guess."""
    if np.allclose(factors, 1.0):
        return None
    scaling = {"rope_type": "llama3", "factor": float(factors.max()), "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    if not np.allclose(llama3_rope_factors(scaling, base, head_dim), factors, rtol=1e-3):
        raise NotmeError("the file's rope_freqs tensor is not a Llama 3 rope scaling this importer knows")
    return scaling


def llama3_rope_factors(scaling: dict, base: float, head_dim: int) -> np.ndarray:
    """Per-dimension wavelength factors, as llama.cpp's converter computes them for Llama 3.x."""
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    original = scaling["original_max_position_embeddings"]
    wavelengths = 2 * np.pi * base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    smooth = (original / wavelengths - low) / (high - low)
    return np.where(
        wavelengths < original / high, 1.0,
        np.where(wavelengths > original / low, factor, 1 / ((1 - smooth) / factor + smooth)),
    ).astype(np.float32)


def _check_disk_space(file: GGUFFile, dtype: str, folder: Path) -> None:
    needed = sum(prod(info.shape) for info in file.tensors) * DTYPES[dtype].size
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise NotmeError(f"importing {file.path.name} as {dtype} needs {needed / 1e9:.1f} GB in {folder}, "
                         f"{free / 1e9:.1f} GB are free (a smaller --dtype halves it)")


def _check_complete(file: GGUFFile, config: dict, weights: dict) -> None:
    expected = ["model.embed_tokens.weight", "model.norm.weight"]
    if not config["tie_word_embeddings"]:
        expected.append("lm_head.weight")
    for layer in range(config["num_hidden_layers"]):
        for part in ("input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
                     "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
            expected.append(f"model.layers.{layer}.{part}.weight")
    missing = [name for name in expected if name not in weights]
    if missing:
        raise InputError(file.path, f"{len(missing)} tensors are missing, e.g. {missing[0]}")


def _check_loadable(config: dict, weights: dict[str, mx.array]) -> None:
    """Build the mlx-lm model from the config and load the weights strictly: a header that disagrees
    with its tensors fails here, not at training time. Cheap: MLX never evaluates the random init."""
    import importlib

    module = importlib.import_module(f"mlx_lm.models.{config['model_type']}")
    model = module.Model(module.ModelArgs.from_dict(config))
    model.load_weights(list(weights.items()), strict=True)


@contextmanager
def _conversion_errors(gguf: Path):
    """Metadata of the wrong type or shapes that disagree with it: the file's fault, said as such."""
    try:
        yield
    except NotmeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError) as e:
        raise InputError(gguf, f"cannot convert this model ({type(e).__name__}: {e})") from e


def _save_shards(weights: dict[str, mx.array], out_dir: Path) -> None:
    shards: list[dict[str, mx.array]] = []
    size = 0
    for name, value in weights.items():
        if not shards or size + value.nbytes > MAX_SHARD_BYTES:
            shards.append({})
            size = 0
        shards[-1][name] = value
        size += value.nbytes
    if len(shards) == 1:
        mx.save_safetensors(str(out_dir / "model.safetensors"), shards[0], metadata={"format": "mlx"})
        return
    index = {"metadata": {"total_size": sum(v.nbytes for v in weights.values())}, "weight_map": {}}
    for number, shard in enumerate(shards, 1):
        file_name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        mx.save_safetensors(str(out_dir / file_name), shard, metadata={"format": "mlx"})
        index["weight_map"].update(dict.fromkeys(shard, file_name))
    _write_json(out_dir / "model.safetensors.index.json", index)


def _move_into_place(staging: Path, out_dir: Path, overwrite: bool) -> None:
    old = out_dir.parent / f".{out_dir.name}.replaced-{os.getpid()}"
    if out_dir.exists() and overwrite:
        out_dir.rename(old)
    try:
        staging.rename(out_dir)
    except OSError:
        if not (out_dir / INFO_FILE).is_file():
            raise
        # another process imported the same model meanwhile (two training ranks): theirs is as good
    shutil.rmtree(old, ignore_errors=True)


def _tensor(file: GGUFFile, name: str) -> TensorInfo:
    for info in file.tensors:
        if info.name == name:
            return info
    raise InputError(file.path, f"the file has no {name} tensor")


def _float32(value) -> float:
    """A float32 metadata value as the decimal it was written from (1e-05, not 9.99999974e-06)."""
    return float(str(np.float32(value)))


def gguf_fingerprint(path: Path) -> str:
    """8 hex digits that tell GGUF files apart without reading gigabytes: the size, the whole
    header region and 16 samples spread over the tensor data."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        digest.update(f.read(8 << 20))
        for i in range(16):
            f.seek(size * i // 16)
            digest.update(f.read(64 << 10))
        f.seek(max(0, size - (1 << 20)))
        digest.update(f.read())
    return digest.hexdigest()[:8]


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
