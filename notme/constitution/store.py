"""<workspace>/constitution/: what the interview keeps.

    interviews/<time>.json   each interview's transcript, saved after every turn
    draft.md                 the latest draft, for the owner to edit before accepting it
    versions/v001.md, .json  every accepted constitution, with the transcript it came from
    constitution.md          the accepted constitution now in use
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

from notme.corpus.store import atomic_write, now_iso
from notme.errors import NotmeError
from notme.workspace import workspace

CURRENT = "constitution.md"


def constitution_dir() -> Path:
    return workspace() / "constitution"


def new_transcript() -> Path:
    """A file name no interview has yet (two started in one second get a suffix)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = constitution_dir() / "interviews"
    for suffix in ["", *(f"-{i}" for i in range(2, 1000))]:
        path = folder / f"{stamp}{suffix}.json"
        if not path.exists():
            return path
    raise NotmeError(f"{folder}: too many interviews started this second")


def latest_transcript() -> Path | None:
    found = sorted((constitution_dir() / "interviews").glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return found[-1] if found else None


def draft_path() -> Path:
    return constitution_dir() / "draft.md"


def versions() -> list[Path]:
    return sorted((constitution_dir() / "versions").glob("v[0-9][0-9][0-9].md"))


def accept(text: str, transcript: Path, model: dict[str, Any]) -> Path:
    """Save `text` as the next version and as the constitution in use; returns the version's file."""
    text = text.strip()
    if not text:
        raise NotmeError(f"{draft_path()} is empty: /draft first, or write the constitution there")
    folder = constitution_dir() / "versions"
    folder.mkdir(parents=True, exist_ok=True)
    number = int(versions()[-1].stem[1:]) + 1 if versions() else 1
    path = folder / f"v{number:03d}.md"
    atomic_write(path, text + "\n")
    atomic_write(path.with_suffix(".json"), json.dumps({
        "version": number, "accepted": now_iso(), "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "transcript": str(transcript), "model": model}, indent=2) + "\n")
    atomic_write(constitution_dir() / CURRENT, text + "\n")
    return path


def read_constitution(path: Path) -> str:
    """The constitution at `path` (the recipe's identity.constitution_file, or the accepted one)."""
    if not path.is_file():
        raise NotmeError(f"{path}: no constitution yet; write one with `notme interview` (/draft, then /accept)")
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise NotmeError(f"{path} is empty; write the constitution there or accept a draft in `notme interview`")
    return text


_PRINCIPLE = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+\**([^:*\n]{2,60}?)\**\s*[:—–-]", re.MULTILINE)


def principle_names(constitution: str) -> list[str]:
    """The principles' short names: "1. Honesty: ..." or "- **Care** — ..." gives "Honesty", "Care"."""
    return [m.group(1).strip() for m in _PRINCIPLE.finditer(constitution)]
