"""Every source notme can read, and which of them an input is.

One module per source: `notme/ingest/sources/<source>.py` defines an `Ingester` subclass and is found
here without being listed. Ingesters are asked in `priority` order, so a specific format
(priority 10) claims its files before a general one (ShareGPT, plain JSONL: 90).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import notme.ingest.sources
from notme.errors import InputError, NotmeError
from notme.ingest.base import SHAPE_ERRORS, Ingester
from notme.ingest.inputs import InputTree


def _discover() -> list[Ingester]:
    for module in pkgutil.iter_modules(notme.ingest.sources.__path__):
        importlib.import_module(f"notme.ingest.sources.{module.name}")
    found = [cls() for cls in _subclasses(Ingester) if "name" in vars(cls)]
    return sorted(found, key=lambda i: (i.priority, i.name))


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


INGESTERS: list[Ingester] = _discover()

# A folder with more files than this is not an export: the user pointed at the wrong place.
MAX_ENTRIES = 200_000


def names() -> list[str]:
    return [i.name for i in INGESTERS]


def get(name: str) -> Ingester:
    for ingester in INGESTERS:
        if ingester.name == name:
            return ingester
    raise NotmeError(f"unknown source {name!r}; known sources: {', '.join(names())}")


@dataclass
class Detection:
    ingester: Ingester
    tree: InputTree
    entries: list[str]


def detect(path: Path, source: str | None = None) -> tuple[list[Detection], list[str]]:
    """The exports found in `path` (a file, folder or zip) and the files nothing claimed.

    Raises InputError when nothing in `path` is an export notme knows.
    """
    forced = get(source) if source else None
    detections, ignored = _detect(path, forced)
    if not detections:
        if forced:
            raise InputError(path, f"no {forced.title} found here ({forced.how_to_export})")
        raise InputError(
            path,
            "not a chat export notme recognises "
            f"(sources: {', '.join(names())}; `notme sources` tells how to get each; "
            "--source KIND reads it as that source)",
        )
    return detections, ignored


def _detect(path: Path, forced: Ingester | None) -> tuple[list[Detection], list[str]]:
    tree = InputTree(path)
    if len(tree.names) > MAX_ENTRIES:
        tree.close()
        raise InputError(path, f"holds more than {MAX_ENTRIES:,} files: point at the export itself")
    remaining = list(tree.names)
    detections: list[Detection] = []
    for ingester in [forced] if forced else INGESTERS:
        try:
            entries = ingester.claims(tree, remaining)
        except SHAPE_ERRORS:
            entries = []  # a head too odd to recognise is not this source's export
        if not entries and forced and tree.kind == "file":
            entries = list(tree.names)  # forced: read it as that source and report what is wrong
        if entries:
            detections.append(Detection(ingester, tree, entries))
            taken = set(entries)
            remaining = [n for n in remaining if n not in taken]
    ignored: list[str] = []
    for name in remaining:
        if tree.kind == "dir" and name.lower().endswith(".zip"):
            inner, inner_ignored = _detect(tree.path / name, forced)
            detections += inner
            ignored += inner_ignored
        else:
            ignored.append(tree.display(name))
    if not any(d.tree is tree for d in detections):
        tree.close()
    return detections, ignored
