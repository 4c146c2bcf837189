"""Fixtures for the base-model tests: the tiny model and GGUF files made from it. The real
SmolLM2-135M-Instruct (slow tests) comes from tests/conftest.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from notme.models.tiny import write_tiny_model
from tests.models.ggufs import write_gguf


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """The tiny model with its own output layer (untied), written once; tests must not change it."""
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model", tie_embeddings=False)


@pytest.fixture(scope="session")
def tiny_tied_dir(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny-tied") / "model")


@pytest.fixture
def make_gguf(tmp_path, tiny_dir):
    """make_gguf(name="x.gguf", model_dir=tiny_dir, **write_gguf options) -> Path."""

    def make(name: str = "tiny.gguf", model_dir: Path | None = None, **options) -> Path:
        return write_gguf(model_dir or tiny_dir, tmp_path / name, **options)

    return make


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
