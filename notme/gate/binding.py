"""Binding a verdict to the exact adapter it judged: retraining, editing the adapter files or changing
its scale makes the verdict stale. Export asks `require_passing_verdict` and has no way around it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from notme.errors import NotmeError

REPORT = Path("gate") / "report.json"
ADAPTER_FILES = ("adapters.safetensors", "adapter_config.json")


def file_digest(paths: list[Path]) -> str:
    """sha256 over the files' names and bytes, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\x00")
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def adapter_fingerprint(run: Path) -> str:
    missing = [name for name in ADAPTER_FILES if not (run / name).is_file()]
    if missing:
        raise NotmeError(f"{run}: no {' or '.join(missing)}: the run has not saved adapters yet "
                         "(is it still training?)")
    return file_digest([run / name for name in ADAPTER_FILES])


def model_fingerprint(folder: Path) -> str:
    """sha256 of a model folder's config and weights: the base every reply in a report came from."""
    files = [folder / "config.json", *sorted(folder.glob("*.safetensors"))]
    return file_digest([f for f in files if f.is_file()])


def require_passing_verdict(run: Path, scale: float = 1.0) -> dict[str, Any]:
    """The run's passing full-suite verdict for these adapter files at this scale, or an error that says
    what to do. There is deliberately no override."""
    path = run / REPORT
    if not path.is_file():
        raise NotmeError(f"{run.name}: no gate verdict. Run `notme gate {run.name}` first: a model is exported "
                         "only after the safety gate passes")
    report = json.loads(path.read_text(encoding="utf-8"))
    binding = report.get("binding", {})
    if binding.get("adapter_sha256") != adapter_fingerprint(run):
        raise NotmeError(f"{run.name}: the adapters changed since the gate judged them; "
                         f"run `notme gate {run.name}` again")
    if abs(float(binding.get("scale", 1.0)) - scale) > 1e-9:
        raise NotmeError(f"{run.name}: the gate judged the adapters at scale {binding.get('scale')}, not {scale}; "
                         f"run `notme gate {run.name} --scale {scale}`")
    if report.get("suite", {}).get("tier") != "full":
        raise NotmeError(f"{run.name}: the verdict comes from the quick suite, which cannot resolve a small rise in "
                         f"harmful compliance; run `notme gate {run.name}` (the full suite)")
    if not report.get("passed"):
        raise NotmeError(f"{run.name}: the safety gate blocked this model ({len(report.get('blocks', []))} reason(s), "
                         f"see {run / 'gate' / 'report.md'}); try `notme gate {run.name} --remediate`")
    return report
