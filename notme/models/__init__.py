"""Base models: resolve a recipe's `base.model`, import GGUF files, load for training, the tiny test model.

    resolve_model(spec) -> Path                      "smollm2", a .gguf, a folder, an imported name, an HF id
    load_model(spec, dtype, quantize) -> (model, tokenizer, Path)
    import_gguf(gguf, out_dir, dtype) -> Path        the converter itself
    import_base(gguf, name, dtype) / list_bases()    for `notme base import` / `notme base list`
    write_tiny_model(out_dir, seed, layers, hidden)  the model unit tests train
"""

import os

# transformers (imported by mlx-lm and the GGUF tokenizer code) advises installing PyTorch on every
# start; notme never needs it.
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

from notme.models.bundled import BUNDLED_NAME, bundled_model
from notme.models.catalog import BaseModel, describe, import_base, list_bases
from notme.models.gguf_import import import_gguf
from notme.models.loading import load_model, quantize_for_qlora, resolve_dtype, resolve_model
from notme.models.tiny import write_tiny_model

__all__ = [
    "BUNDLED_NAME",
    "BaseModel",
    "bundled_model",
    "describe",
    "import_base",
    "import_gguf",
    "list_bases",
    "load_model",
    "quantize_for_qlora",
    "resolve_dtype",
    "resolve_model",
    "write_tiny_model",
]
