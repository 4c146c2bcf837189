"""Where the owner's corpora/ and adapters/ live.

`NOTME_HOME` wins. Otherwise a source checkout (the folder holding this package, `corpora/` and
`adapters/`) is the workspace, as in the repository layout; an installed package uses `~/notme`.
The choice depends on the installation, never on the current directory, so every command of one
installation sees the same data.
"""

from __future__ import annotations

import os
from pathlib import Path


def workspace() -> Path:
    env = os.environ.get("NOTME_HOME")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "corpora").is_dir():
        return checkout
    return Path.home() / "notme"


def corpora_dir() -> Path:
    return workspace() / "corpora"


def adapters_dir() -> Path:
    return workspace() / "adapters"


def models_dir() -> Path:
    return workspace() / "models"


def datasets_dir() -> Path:
    return workspace() / "datasets"
