"""A tiny float32 model with a real chat tokenizer, written once per test session."""

from __future__ import annotations

import pytest
from mlx_lm.utils import load

SYSTEM = {"role": "system", "content": "You are Sam."}


@pytest.fixture
def tiny(tiny_path):
    """A fresh (model, tokenizer): tests change the model's weights."""
    return load(str(tiny_path))


def chat(*turns: tuple[str, str], system: bool = True) -> dict:
    return {"messages": ([SYSTEM] if system else []) + [{"role": r, "content": c} for r, c in turns]}
