"""What `notme chat` talks to: a run (its exported GGUF, or the MLX model with its adapters), a GGUF
file, or an OpenAI-compatible server; with the system prompt, safety settings and history file that go
with it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from notme.backends.base import Backend
from notme.errors import NotmeError
from notme.runs.record import RunRecord, list_runs, trained_system_prompt
from notme.workspace import workspace

if TYPE_CHECKING:
    from notme.chat.session import ChatSession


@dataclass
class ChatTarget:
    backend: Backend
    history: Path
    system: str
    safety: dict[str, Any] | None  # the recipe's use.chat_safety
    label: str
    notice: str = ""


def open_target(target: str | None, server: str | None = None, model: str | None = None,
                use_mlx: bool = False) -> ChatTarget:
    if server:
        from notme.backends.openai import OpenAIBackend

        name = model or "default"
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{server}-{name}").strip("-")
        return ChatTarget(OpenAIBackend(server, name), workspace() / "chat" / f"{slug}.json", "", None,
                          f"{name} at {server}")
    if target and target.lower().endswith(".gguf"):
        path = Path(target).expanduser()
        if not path.is_file():
            raise NotmeError(f"{path}: no such GGUF file")
        run = _run_of_export(path)
        from notme.backends.llamacpp import LlamaCppBackend

        if run:
            return _for_run(run, LlamaCppBackend(path), path.name)
        return ChatTarget(LlamaCppBackend(path), workspace() / "chat" / f"{path.stem}.json", "", None, path.name)
    record = RunRecord.open(target) if target else _latest_run()
    export = record.path / "export" / "export.json"
    if export.is_file() and not use_mlx:
        from notme.backends.llamacpp import LlamaCppBackend

        files = json.loads(export.read_text(encoding="utf-8"))["files"]
        gguf = record.path / "export" / next(f["name"] for f in files if f["kind"] != "GGUF LoRA adapter")
        return _for_run(record, LlamaCppBackend(gguf), gguf.name)
    from notme.backends.mlx import MLXBackend

    recipe = _recipe(record)
    backend = MLXBackend(recipe["base"]["model"], adapters=record.path)
    notice = "" if export.is_file() else (f"{record.name} is not exported: chatting with the MLX model and its "
                                          "adapters in process")
    return _for_run(record, backend, f"{record.name} (MLX + adapters)", notice)


def open_session(found: ChatTarget, safety: bool | None = None, **options: Any) -> ChatSession:
    """The conversation with `found`, resumed from its history; `safety` overrides the recipe's setting."""
    from notme.chat.safety import SafetyLayer
    from notme.chat.session import ChatSession

    settings = found.safety
    if safety is not None:
        settings = {**(found.safety or {}), "risk_check": True, "response_filter": True} if safety else None
    return ChatSession.resume(found.backend, found.history, found.system, safety=SafetyLayer.from_recipe(settings),
                              **options)


def _for_run(record: RunRecord, backend: Backend, label: str, notice: str = "") -> ChatTarget:
    safety = ((_recipe(record).get("use") or {}).get("chat_safety"))
    return ChatTarget(backend, record.path / "chat" / "history.json", trained_system_prompt(record.path), safety,
                      label, notice)


def _recipe(record: RunRecord) -> dict[str, Any]:
    return yaml.safe_load((record.path / "recipe.yaml").read_text(encoding="utf-8")) or {}


def _run_of_export(gguf: Path) -> RunRecord | None:
    folder = gguf.resolve().parent
    if folder.name == "export" and (folder.parent / "run.json").is_file():
        return RunRecord(folder.parent)
    return None


def _latest_run() -> RunRecord:
    runs = [r for r in list_runs() if (r.path / "adapters.safetensors").is_file()]
    if not runs:
        raise NotmeError("no trained run to chat with; give a run, a .gguf file or --server URL")
    return runs[-1]
