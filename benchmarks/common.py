"""What the benchmarks share: the child-process environment, steady-state speed, peak memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    """Every side gets the same fast BLAS (notme/blas.py) and finds notme from the checkout."""
    from notme.blas import openblas_library

    env = dict(os.environ, PYTHONPATH=str(ROOT), TRANSFORMERS_NO_ADVISORY_WARNINGS="1")
    library = openblas_library()
    if library:
        env["LD_PRELOAD"] = library
    return env


def steady(values: list[float]) -> float:
    """The median of the report intervals after the first (which holds compilation)."""
    return statistics.median(values[1:]) if len(values) > 1 else values[0]


_PEAK = "\nimport resource as _r; print('PEAK_RSS', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)"


def run_python(code: str, *args: str) -> tuple[str, float, int]:
    """Run `code` in a fresh interpreter: (stdout, wall seconds, peak resident memory in bytes)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code + _PEAK, *args], capture_output=True, text=True, env=child_env())
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"benchmark child failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    peak = int(lines[-1].split()[1]) * (1 if sys.platform == "darwin" else 1024)  # macOS reports bytes
    return "\n".join(lines[:-1]), seconds, peak


# mlx-lm-lora sets a Metal wired-memory limit from device_info() unconditionally; MLX's CPU backend
# reports no such key. Supplying 0 (set_wired_limit(0) is a no-op there) lets it run on a CPU.
_CPU_SHIM = """
import mlx.core as mx
_device_info = mx.device_info
def _with_working_set():
    info = dict(_device_info())
    info.setdefault("max_recommended_working_set_size", 0)
    return info
mx.device_info = _with_working_set
"""


def run_module(module: str, argv: list[str]) -> tuple[str, float, int]:
    """`python -m module argv…` the same way, for third-party command lines."""
    code = f"import runpy, sys; sys.argv = {[module, *argv]!r}; runpy.run_module({module!r}, run_name='__main__')"
    return run_python(_CPU_SHIM + code)
