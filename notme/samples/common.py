"""What every sample writer needs: fake secrets for the scrubber to find, and exports written
deterministically (the same export written twice is the same bytes)."""

from __future__ import annotations

import random
import zipfile
from collections.abc import Mapping
from pathlib import Path

_KEY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
# Zip entries carry a time; a fixed one keeps sample zips byte-identical between runs.
_ENTRY_TIME = (2025, 6, 30, 18, 4, 12)


def fake_secret(seed: str, prefix: str = "sk-proj-", length: int = 24) -> str:
    """A random-looking API key (never a real one), the same for the same seed."""
    rng = random.Random(seed)
    return prefix + "".join(rng.choice(_KEY_ALPHABET) for _ in range(length))


def write_zip(target: Path, files: Mapping[str, str | bytes]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_ENTRY_TIME), data, compress_type=zipfile.ZIP_DEFLATED)
    return target


def write_files(directory: Path, files: Mapping[str, str | bytes], zip_name: str | None = None) -> Path:
    """The export as files under `directory` (returns it), or as the zip `directory/zip_name`."""
    if zip_name:
        return write_zip(directory / zip_name, files)
    for name, data in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    return directory
