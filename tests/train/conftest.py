"""A tiny float32 model with a real chat tokenizer, written once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlx_lm.utils import load

from notme.models.tiny import write_tiny_model

SYSTEM = {"role": "system", "content": "You are Sam."}


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def tiny(tiny_path):
    """A fresh (model, tokenizer): tests change the model's weights."""
    return load(str(tiny_path))


def chat(*turns: tuple[str, str], system: bool = True) -> dict:
    return {"messages": ([SYSTEM] if system else []) + [{"role": r, "content": c} for r, c in turns]}
