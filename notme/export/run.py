"""`notme export RUN`: a gated run → GGUF files that are proven to say what the trained model says.

    1. the gate's passing full-suite verdict for exactly these adapters at this scale (no way around it)
    2. fuse the adapters into the base, dequantized: `export/mlx/` (also what exo and LM Studio's MLX
       engine run)
    3. write `<name>-F16.gguf` and quantize it to each asked type through llama.cpp
    4. write the adapters alone as `<name>-lora.gguf`, applied to the base's F16 GGUF
    5. the parity check on every file (a failure fails the export, and the failing file is removed)
    6. the Ollama Modelfile(s), the model card, the record `export/export.json`; then the targets asked
       (`ollama create`, LM Studio's folder, exo's folder and card, placing it on the cluster)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notme.corpus.store import atomic_write, now_iso
from notme.errors import NotmeError
from notme.export.card import model_card
from notme.export.gguf_lora import write_lora_gguf
from notme.export.gguf_model import write_gguf
from notme.export.ollama import modelfile, ollama_create
from notme.export.parity import MLXReference, Parity, check_gguf
from notme.export.quantize import PARITY_COSINE, QUANT_TYPES, quantize_gguf
from notme.gate.binding import model_fingerprint, require_passing_verdict
from notme.models.fuse import fuse_adapters
from notme.models.loading import resolve_model
from notme.runs.record import RunRecord, trained_system_prompt
from notme.workspace import workspace

Progress = Callable[..., None]  # (phase, done, total, label): render.PhaseProgress
TARGETS = ("ollama", "lmstudio", "exo")
RECORD = "export.json"


@dataclass
class ExportResult:
    folder: Path
    record: dict[str, Any]
    messages: list[str] = field(default_factory=list)


def export_run(run: str | Path, quants: list[str] | None = None, targets: list[str] | None = None,
               scale: float = 1.0, lora_adapter: bool = True, destinations: dict[str, Path] | None = None,
               exo_url: str | None = None, progress: Progress | None = None) -> ExportResult:
    record = RunRecord.open(run)
    report = require_passing_verdict(record.path, scale)
    import yaml

    # The run's resolved recipe as it was recorded: runs from before a recipe key existed still export.
    recipe = yaml.safe_load((record.path / "recipe.yaml").read_text(encoding="utf-8")) or {}
    settings = recipe.get("export") or {}
    quants = list(dict.fromkeys(quants or settings.get("quants") or ["q8_0"]))
    unknown = [q for q in quants if q not in QUANT_TYPES]
    if unknown:
        raise NotmeError(f"--quant {', '.join(unknown)}: not one of {', '.join(QUANT_TYPES)}")
    targets = list(dict.fromkeys(targets or settings.get("targets") or []))
    if bad := [t for t in targets if t not in TARGETS]:
        raise NotmeError(f"--to {', '.join(bad)}: not one of {', '.join(TARGETS)}")
    with record.activity("export"):
        started = time.perf_counter()
        base_folder = resolve_model(recipe["base"]["model"])
        name = record.name
        folder = record.path / "export"
        staging = record.path / "export.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        step = _Steps(progress, 3 + len(quants) + (2 if lora_adapter else 0))
        files: list[dict[str, Any]] = []
        timings: dict[str, float] = {}

        with step("fuse the adapters into the base"), _timed(timings, "fuse"):
            fused = fuse_adapters(base_folder, record.path, staging / "mlx", scale=scale, dequantize=True)
            (fused / "README.md").unlink(missing_ok=True)  # mlx-lm's upload card; ours is written below
        with step("write the F16 GGUF"), _timed(timings, "f16"):
            f16 = write_gguf(fused, staging / f"{name}-F16.gguf", name=name)
        ggufs = {"f16": f16}
        for quant in quants:
            if quant == "f16":
                continue
            with step(f"quantize {quant}"), _timed(timings, quant):
                ggufs[quant] = quantize_gguf(f16, staging / f"{name}-{quant.upper()}.gguf", quant)
        lora_file = base_gguf = None
        if lora_adapter:
            with step("write the LoRA adapter GGUF"), _timed(timings, "lora"):
                lora_file = write_lora_gguf(record.path, base_folder, staging / f"{name}-lora.gguf", scale=scale)
                base_gguf = cached_base_gguf(base_folder)

        with step("parity: the trained model's replies"), _timed(timings, "reference"):
            from mlx_lm.utils import load

            model, tokenizer = load(str(fused))
            system = trained_system_prompt(record.path)
            reference = MLXReference(model, tokenizer, system)
        checks: list[Parity] = []
        for quant, path in ggufs.items():
            if quant == "f16" and "f16" not in quants:
                continue
            with step(f"parity: {path.name}"), _timed(timings, f"parity {quant}"):
                checks.append(check_gguf(reference, path, PARITY_COSINE[quant]))
        if lora_file and base_gguf:
            with _timed(timings, "parity lora"):
                checks.append(check_gguf(reference, base_gguf, PARITY_COSINE["f16"], lora=lora_file))
        failures = [f for check in checks for f in check.failures]
        if failures:
            atomic_write(record.path / "export-failed.json",
                         json.dumps({"failures": failures, "parity": [c.as_dict() for c in checks]}, indent=2) + "\n")
            shutil.rmtree(staging, ignore_errors=True)
            raise NotmeError("the export failed its parity check, so nothing was exported:\n  "
                             + "\n  ".join(failures[:8]) + f"\n(details in {record.path / 'export-failed.json'})")
        if "f16" not in quants:
            f16.unlink()
            del ggufs["f16"]

        stops = [tokenizer.decode([i]) for i in sorted(tokenizer.eos_token_ids)]
        main = ggufs[quants[0]]
        (staging / "Modelfile").write_text(modelfile(main.name, tokenizer.chat_template or "", stops, system))
        if lora_file and base_gguf:
            text = modelfile(lora_file.name, tokenizer.chat_template or "", stops, system)
            text = text.replace(f"FROM ./{lora_file.name}", f"FROM {base_gguf}\nADAPTER ./{lora_file.name}")
            (staging / "Modelfile.lora").write_text(text)
        for quant, path in ggufs.items():
            files.append(_file_entry(path, f"GGUF {quant.upper()}"))
        if lora_file:
            files.append(_file_entry(lora_file, "GGUF LoRA adapter"))
        export = {
            "name": name, "created": now_iso(), "run": str(record.path), "base": str(base_folder),
            "base_sha256": model_fingerprint(base_folder), "scale": scale,
            "verdict": {"passed": report["passed"], "tier": report["suite"]["tier"],
                        "adapter_sha256": report["binding"]["adapter_sha256"]},
            "system_prompt": system, "files": files, "lora_base_gguf": str(base_gguf) if base_gguf else None,
            "parity": [c.as_dict() for c in checks], "seconds": timings,
            "how_to_use": _how_to_use(name, main.name, lora_file, base_gguf),
        }
        (staging / "README.md").write_text(model_card(export, record.path))
        (fused / "README.md").write_text(model_card(export, record.path))
        atomic_write(staging / RECORD, json.dumps(export, indent=2, ensure_ascii=False) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        staging.replace(folder)
        result = ExportResult(folder, export)
        result.messages += _deliver(result, targets, destinations or {}, exo_url)
        export["targets"] = result.messages
        export["seconds"]["total"] = round(time.perf_counter() - started, 2)
        atomic_write(folder / RECORD, json.dumps(export, indent=2, ensure_ascii=False) + "\n")
        return result


def cached_base_gguf(base_folder: Path) -> Path:
    """The base model as an F16 GGUF, written once per base (by content) and shared by every export of it:
    the file a LoRA adapter GGUF is applied to."""
    digest = model_fingerprint(base_folder)[:16]
    path = workspace() / "exports" / "bases" / f"{base_folder.name}-{digest}-F16.gguf"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_gguf(base_folder, path, name=base_folder.name)
    return path


def _deliver(result: ExportResult, targets: list[str], destinations: dict[str, Path], exo_url: str | None) -> list[str]:
    messages = []
    folder, record = result.folder, result.record
    gguf_files = [folder / f["name"] for f in record["files"] if f["kind"] != "GGUF LoRA adapter"]
    if "ollama" in targets:
        messages.append(ollama_create(ollama_name(record["name"]), folder / "Modelfile"))
    if "lmstudio" in targets:
        root = destinations.get("lmstudio") or lmstudio_models_dir()
        target = root / "notme" / record["name"]
        target.mkdir(parents=True, exist_ok=True)
        for path in gguf_files:
            _link_or_copy(path, target / path.name)
        messages.append(f"LM Studio: {len(gguf_files)} GGUF file(s) in {target}")
    if "exo" in targets:
        from notme.export.exo import ExoClient, stage_for_exo

        staged = stage_for_exo(folder / "mlx", record["name"], destinations.get("exo"))
        messages.append(f"exo: model {staged['model_id']} in {staged['folder']}, card {staged['card']}; copy the "
                        "folder to every Mac of the cluster (or share it through EXO_MODELS_READ_ONLY_DIRS)")
        if exo_url:
            ExoClient(exo_url).place(staged["model_id"])
            messages.append(f"exo: {staged['model_id']} is placed and ready at {exo_url}")
    return messages


def lmstudio_models_dir() -> Path:
    """LM Studio's models folder: ~/.lmstudio/models, or the older ~/.cache/lm-studio/models if only that exists."""
    new, old = Path.home() / ".lmstudio" / "models", Path.home() / ".cache" / "lm-studio" / "models"
    return old if old.is_dir() and not new.is_dir() else new


def ollama_name(run_name: str) -> str:
    return "notme-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in run_name.lower())


def _how_to_use(name: str, main: str, lora: Path | None, base_gguf: Path | None) -> list[str]:
    lines = [f"llama.cpp: `llama-cli -m {main} -cnv`",
             f"Ollama: `ollama create {ollama_name(name)} -f Modelfile && ollama run {ollama_name(name)}`",
             f"notme: `notme chat {name}`",
             f"LM Studio: `notme export {name} --to lmstudio`, or `lms import {main}`"]
    if lora and base_gguf:
        lines.append(f"the adapter alone: `llama-cli -m {base_gguf} --lora {lora.name} -cnv` "
                     "(Modelfile.lora for Ollama)")
    return lines


def _file_entry(path: Path, kind: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return {"name": path.name, "kind": kind, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _link_or_copy(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)  # same disk: no second copy of a multi-GB file
    except OSError:
        shutil.copy2(source, target)


class _Steps:
    """Export progress as one bar: steps done of the total."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, label: str):
        import contextlib

        @contextlib.contextmanager
        def step():
            if self.progress:
                self.progress("export", self.done, self.total, label)
            yield
            self.done += 1
            if self.progress:
                self.progress("export", self.done, self.total, label)

        return step()


class _timed:
    def __init__(self, timings: dict[str, float], key: str) -> None:
        self.timings, self.key = timings, key

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.key] = round(time.perf_counter() - self.start, 2)
