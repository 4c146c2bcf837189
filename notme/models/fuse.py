"""Fold a run's LoRA adapters into its base: a plain model folder mlx-lm (and a GGUF writer) can read.

Used to build a new base from a run (e.g. a safety-tuned base) and, by export, for the model to ship.
`scale` multiplies the adapters' trained scale, as the gate's remediation does; `dequantize` turns a
quantized (QLoRA) base back into float weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from notme.errors import NotmeError
from notme.models.loading import resolve_model


def fuse_adapters(base: str | Path, adapters: Path, out_dir: Path, scale: float = 1.0,
                  dequantize: bool = False) -> Path:
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import load, save

    folder = resolve_model(base)
    if not (adapters / "adapters.safetensors").is_file():
        raise NotmeError(f"{adapters}: no adapters.safetensors to fuse")
    model, tokenizer, config = load(str(folder), adapter_path=str(adapters), return_config=True)
    fused = []
    for name, module in model.named_modules():
        if hasattr(module, "fuse"):
            module.scale = float(module.scale) * scale
            fused.append((name, module.fuse()))
    if not fused:
        raise NotmeError(f"{adapters}: no LoRA layers found to fuse")
    model.update_modules(tree_unflatten(fused))
    if dequantize and config.get("quantization"):  # a QLoRA base: GGUF writers need float weights
        from mlx_lm.utils import dequantize_model

        model = dequantize_model(model)
        config.pop("quantization", None)
        config.pop("quantization_config", None)
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    save(staging, folder, model, tokenizer, config, donate_model=False)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.replace(out_dir)
    return out_dir
