"""GGUF quantization through llama.cpp itself (llama-cpp-python's `llama_model_quantize`): the same
code Ollama's and LM Studio's own files come from, K-quants included (gguf-py cannot write those)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from notme.errors import NotmeError

# --quant name → llama_ftype name in llama_cpp; f16 is the unquantized file the others come from.
QUANT_TYPES = {"f16": None, "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
               "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
               "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0"}
# last-position logit cosine against the MLX model that a file of this type must reach
PARITY_COSINE = {"f16": 0.999, "q8_0": 0.999, "q6_k": 0.99, "q5_k_m": 0.99, "q4_k_m": 0.98, "q4_0": 0.98}


def quantize_gguf(source: Path, out: Path, quant: str, threads: int | None = None) -> Path:
    """`source` (an f16/f32 GGUF) quantized to `quant`, written atomically to `out`."""
    import llama_cpp

    if quant not in QUANT_TYPES or QUANT_TYPES[quant] is None:
        raise NotmeError(f"quantization {quant!r} is not one of {', '.join(q for q in QUANT_TYPES if QUANT_TYPES[q])}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[quant])
    params.nthread = threads or os.cpu_count() or 1
    partial = out.with_name(out.name + ".partial")
    with _captured_output() as log:
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(params))
    if rc != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        tail = "\n    ".join(log[0].strip().splitlines()[-5:])
        raise NotmeError(f"{source}: llama.cpp could not quantize it to {quant} (return code {rc}):\n    {tail}")
    partial.replace(out)
    return out


@contextlib.contextmanager
def _captured_output() -> Iterator[list[str]]:
    """llama.cpp prints a line per tensor to the process's stdout/stderr: keep them in a file, shown
    only when something fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "llama.log"
        text: list[str] = []
        saved = [os.dup(1), os.dup(2)]
        with path.open("wb") as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield text
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in saved:
                    os.close(fd)
                text.append(path.read_text(errors="replace"))
