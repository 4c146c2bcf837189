"""On Linux, MLX's CPU wheel bundles a reference BLAS; with Debian's OpenBLAS preloaded its matrix
products run 10–17× faster (measured: 5.3 → 92 GFLOP/s for float32 1024² on 2 cores). The preload
must be in place when the process starts, so heavy commands re-execute themselves with it once.
macOS needs none of this: MLX uses Accelerate and Metal there. NOTME_NO_OPENBLAS=1 turns it off.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
)


def openblas_library() -> str | None:
    if not sys.platform.startswith("linux") or os.environ.get("NOTME_NO_OPENBLAS"):
        return None
    return next((path for path in CANDIDATES if Path(path).is_file()), None)


def preloaded() -> bool:
    return "libopenblas" in os.environ.get("LD_PRELOAD", "")


def reexec_with_openblas(module_argv: list[str]) -> None:
    """Replace this process with `python <module_argv>` preloading OpenBLAS, when that helps;
    returns (doing nothing) otherwise."""
    library = openblas_library()
    if library is None or preloaded():
        return
    existing = os.environ.get("LD_PRELOAD")
    env = dict(os.environ, LD_PRELOAD=f"{library}:{existing}" if existing else library)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *module_argv], env)
