"""From a recipe's `base.model` to a loaded model: resolve the name to a folder, load it with mlx-lm,
cast it, and quantize it for QLoRA.

`base.model` may be "smollm2" (the bundled default), a .gguf file (imported once), an MLX or
Hugging Face folder, the name of a model imported with `notme base import`, or a Hugging Face id
already in the local cache. notme never downloads a model: it works offline.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.tokenizer_utils import TokenizerWrapper

from notme.errors import NotmeError
from notme.models.bundled import BUNDLED_NAME, bundled_model
from notme.models.gguf_import import DTYPES, INFO_FILE, default_dtype, gguf_fingerprint, import_gguf
from notme.workspace import models_dir

QUANTIZE_BITS = (2, 3, 4, 5, 6, 8)
QUANTIZE_GROUP_SIZES = (32, 64, 128)
HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_model(spec: str | Path) -> Path:
    """The MLX-loadable folder `spec` names (importing a GGUF or the bundled model on first use)."""
    text = str(spec).strip()
    if text.lower() == BUNDLED_NAME:
        return bundled_model()
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise NotmeError(f"{path}: a model file must be a .gguf; otherwise give the model's folder")
        return imported_gguf(path)
    if path.is_dir():
        return check_model_folder(path)
    if text and "/" not in text and "\\" not in text and (models_dir() / text).is_dir():
        return check_model_folder(models_dir() / text)
    if HF_ID.match(text):
        return _from_hf_cache(text)
    raise NotmeError(f"model {text!r} not found: it is not a file or folder, nor a model imported with "
                     f"`notme base import` (see `notme base list`), nor a Hugging Face id")


def imported_gguf(gguf: Path) -> Path:
    """`<models>/<stem>-<fingerprint>/`, imported the first time this file is used."""
    folder = models_dir() / default_import_name(gguf)
    if (folder / INFO_FILE).is_file():
        return folder
    return import_gguf(gguf, folder, dtype="auto")  # half the disk for big models on a Mac


def default_import_name(gguf: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(gguf).stem).strip("-.") or "model"
    return f"{stem}-{gguf_fingerprint(gguf)}"


def check_model_folder(folder: Path) -> Path:
    """`folder` if mlx-lm can load it: a config.json and safetensors weights."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise NotmeError(f"{folder}: not a model folder (no config.json)")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NotmeError(f"{config_path}: not valid JSON ({e})") from e
    if not isinstance(config, dict) or "model_type" not in config:
        raise NotmeError(f"{config_path}: no model_type")
    if not any(folder.glob("model*.safetensors")):
        other = [p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".gguf")]
        hint = f" (it has {', '.join(sorted(other)[:3])}: convert it with `python -m mlx_lm convert`)" if other else ""
        raise NotmeError(f"{folder}: no safetensors weights{hint}")
    return folder


def _from_hf_cache(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError, OSError) as e:
        raise NotmeError(f"model {repo_id!r} is neither a folder nor in the local Hugging Face cache; notme works "
                         f"offline, so download it first:  hf download {repo_id}") from e
    return check_model_folder(folder)


def resolve_dtype(dtype: str = "auto") -> mx.Dtype:
    """`auto`: float32 on the CPU, bfloat16 on a GPU."""
    dtype = default_dtype() if dtype == "auto" else dtype
    if dtype not in DTYPES:
        raise NotmeError(f"dtype {dtype!r} is not one of auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def load_model(
    path_or_spec: str | Path, dtype: str = "auto", quantize: dict | None = None
) -> tuple[nn.Module, TokenizerWrapper, Path]:
    """(model, tokenizer, folder): the model cast to `dtype` and, with `quantize` ({bits, group_size}),
    quantized for QLoRA. Refuses a tokenizer without a chat template: notme only trains chat models."""
    from mlx_lm.utils import load

    folder = resolve_model(path_or_spec)
    target = resolve_dtype(dtype)
    try:
        model, tokenizer = load(str(folder))
    except (ValueError, KeyError, FileNotFoundError, OSError) as e:
        raise NotmeError(f"{folder}: mlx-lm cannot load this model ({e})") from e
    if not tokenizer.has_chat_template:
        raise NotmeError(f"{folder}: the tokenizer has no chat template, so chats cannot be formatted for it. Use "
                         "an instruct / chat version of the model, or add a \"chat_template\" to its "
                         "tokenizer_config.json")
    model.set_dtype(target)
    if quantize:
        quantize_for_qlora(model, **quantize)
    mx.eval(model.parameters())
    return model, tokenizer, folder


def quantize_for_qlora(model: nn.Module, bits: int = 4, group_size: int = 64) -> nn.Module:
    """Quantize every linear and embedding layer whose input size the group size divides, in place."""
    if bits not in QUANTIZE_BITS or group_size not in QUANTIZE_GROUP_SIZES:
        raise NotmeError(f"quantize: bits must be one of {QUANTIZE_BITS} and group_size one of "
                         f"{QUANTIZE_GROUP_SIZES} (got bits={bits}, group_size={group_size})")

    def quantizable(_path: str, module: nn.Module) -> bool:
        return hasattr(module, "to_quantized") and module.weight.shape[-1] % group_size == 0

    nn.quantize(model, group_size=group_size, bits=bits, class_predicate=quantizable)
    return model
