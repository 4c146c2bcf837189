"""The model an interview talks to, or the teacher practice asks: one of notme's generation backends."""

from __future__ import annotations

from pathlib import Path

from notme.backends.base import Backend
from notme.errors import NotmeError
from notme.runs.record import RUN
from notme.workspace import adapters_dir


def open_model(target: str | None, default_model: str, server: str | None = None, model: str | None = None,
               timeout: float = 300.0, retries: int = 3) -> Backend:
    """`--server URL [--model NAME]`: an OpenAI-compatible server (exo, mlx_lm.server, Ollama);
    `FILE.gguf`: llama.cpp in process; a run's name: its base with its adapters, in MLX;
    a model name or folder: that model in MLX; nothing: the recipe's base model."""
    if server:
        from notme.backends.openai import OpenAIBackend

        return OpenAIBackend(server, model or "default", timeout=timeout, retries=retries)
    if model:
        raise NotmeError("--model names the model a --server should answer with; give a local model as the argument")
    if target and target.lower().endswith(".gguf"):
        from notme.backends.llamacpp import LlamaCppBackend

        path = Path(target).expanduser()
        if not path.is_file():
            raise NotmeError(f"{path}: no such GGUF file")
        return LlamaCppBackend(path)
    from notme.backends.mlx import MLXBackend

    if target and (adapters_dir() / target / RUN).is_file():
        import yaml

        recipe = yaml.safe_load((adapters_dir() / target / "recipe.yaml").read_text(encoding="utf-8")) or {}
        return MLXBackend(recipe["base"]["model"], adapters=adapters_dir() / target)
    return MLXBackend(target or default_model)
