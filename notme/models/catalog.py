"""The workspace's base models, for `notme base import` and `notme base list`: plain data, no printing."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from notme.errors import InputError, NotmeError
from notme.models.bundled import BUNDLED_NAME
from notme.models.gguf_import import INFO_FILE, import_gguf
from notme.models.loading import default_import_name
from notme.workspace import models_dir

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class BaseModel:
    name: str  # what a recipe's base.model can say
    path: Path
    architecture: str  # llama.cpp's name for GGUF imports, else config.json's model_type
    source: str  # the GGUF it was imported from, or "folder"
    dtype: str | None
    parameters: int | None
    size_bytes: int
    imported_at: str | None

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def import_base(
    gguf: Path,
    name: str | None = None,
    dtype: str = "auto",
    chat_template_file: Path | None = None,
    replace: bool = False,
) -> BaseModel:
    """Import a GGUF into `<models>/<name>/` (default name: `<stem>-<fingerprint>`, the folder
    `base.model: FILE.gguf` would use)."""
    gguf = Path(gguf).expanduser()
    if not gguf.is_file():
        raise InputError(gguf, "no such file")
    name = name or default_import_name(gguf)
    if not NAME.match(name):
        raise NotmeError(f"model name {name!r}: use letters, digits, '.', '_' and '-' (starting with a letter "
                         "or digit)")
    if name.lower() == BUNDLED_NAME:
        raise NotmeError(f"{BUNDLED_NAME!r} is the bundled default model's name; choose another")
    template = None
    if chat_template_file is not None:
        try:
            template = Path(chat_template_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(chat_template_file, f"cannot read the chat template ({e})") from e
    folder = models_dir() / name
    if folder.exists() and not replace:
        raise NotmeError(f"a model named {name!r} already exists ({folder}); choose another name with --name, "
                         "or replace it")
    return describe(import_gguf(gguf, folder, dtype=dtype, chat_template=template, overwrite=replace))


def list_bases() -> list[BaseModel]:
    """Every model folder in `<workspace>/models/`, by name."""
    root = models_dir()
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "config.json").is_file()]
    return [describe(folder) for folder in sorted(folders, key=lambda p: p.name.lower())]


def describe(folder: Path) -> BaseModel:
    info = _read_json(folder / INFO_FILE)
    config = _read_json(folder / "config.json")
    return BaseModel(
        name=folder.name,
        path=folder,
        architecture=str(info.get("architecture") or config.get("model_type") or "unknown"),
        source=str(info.get("source") or "folder"),
        dtype=info.get("dtype") or config.get("torch_dtype"),
        parameters=info.get("parameters"),
        size_bytes=sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
        imported_at=info.get("imported_at"),
    )


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
