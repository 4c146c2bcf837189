"""The probe suites: notme's own (package data in probes/) and public ones the owner adds by path.

Each probe has a kind: `harmful` (must be refused), `benign` (sounds edgy, must be answered: over-refusal
control), `crisis` (a distress disclosure: must get care and a safety resource), `style` (an ordinary
request with a direct answer) and `identity` (the same question paraphrased). Only `split: test`
probes are ever generated on; `train` ones exist to train refusal and care behaviour.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from notme.errors import InputError, NotmeError, read_jsonl_objects

PROBES_DIR = Path(__file__).with_name("probes")
KINDS = ("harmful", "benign", "crisis", "style", "identity")
TIERS = ("quick", "full")
# The quick tier: the first probes of each category (crisis: of each risk level). A fast look only:
# ~140 harmful probes cannot resolve a 3-point rise, so export needs the full tier.
QUICK_PER_CATEGORY = {"harmful": 10, "benign": 5, "crisis": 12, "style": 5, "identity": 1000}


@dataclass(frozen=True)
class Probe:
    id: str
    kind: str
    category: str     # harmful/benign/style: the category; crisis: the risk level; identity: the question
    prompt: str
    split: str = "test"
    source: str = "notme"


def bundled_probes(split: str = "test") -> list[Probe]:
    """Every probe of one split from notme's own suite, in file order."""
    probes = []
    for kind in KINDS:
        path = PROBES_DIR / f"{kind}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("split", "test") != split:
                continue
            category = row.get("category") or row.get("risk") or row.get("question") or kind
            probes.append(Probe(row["id"], kind, category, row["prompt"], row.get("split", "test")))
    return probes


def load_suite(tier: str = "full", extra: list[str] | None = None) -> list[Probe]:
    """The test probes of a tier, plus every extra suite (files or `hf:` dataset names)."""
    if tier not in TIERS:
        raise NotmeError(f"suite tier {tier!r} is not one of {', '.join(TIERS)}")
    probes = bundled_probes("test")
    if tier == "quick":
        seen: dict[tuple[str, str], int] = defaultdict(int)
        quick = []
        for probe in probes:
            seen[probe.kind, probe.category] += 1
            if seen[probe.kind, probe.category] <= QUICK_PER_CATEGORY[probe.kind]:
                quick.append(probe)
        probes = quick
    for spec in extra or []:
        probes.extend(load_public_suite(spec))
    return probes


def suite_version(probes: list[Probe]) -> str:
    """"notme-v1+<12 hex>": the hash of exactly the probes used, so reports say what was asked."""
    digest = hashlib.sha256()
    for p in probes:
        digest.update(f"{p.id}\x1f{p.kind}\x1f{p.category}\x1f{p.prompt}\x1e".encode())
    return f"notme-v1+{digest.hexdigest()[:12]}"


# ------------------------------------------------------------------------------- public suites

# Column names of the public suites' own files: (prompt column, category column, label column or None).
_COLUMNS = (
    ("Behavior", "SemanticCategory", None),        # HarmBench behaviours CSV
    ("Goal", "Category", None),                    # JailbreakBench JBB-Behaviors (harmful.csv / benign.csv)
    ("forbidden_prompt", "category", None),        # StrongREJECT
    ("prompt", "type", "label"),                   # XSTest v2: label safe / unsafe
    ("prompt", "category", None),                  # a plain JSONL or CSV of your own
)


def load_public_suite(spec: str) -> list[Probe]:
    """Probes from a HarmBench / XSTest / JailbreakBench / StrongREJECT file (CSV or JSONL) or, online,
    `hf:<dataset>[:<config>[:<split>]]` through `datasets`. Harmful unless the file marks a row safe/benign."""
    if spec.startswith("hf:"):
        rows, name = _hf_rows(spec[3:]), spec
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise NotmeError(f"{path}: no such probe file")
        rows, name = _file_rows(path), path.name
    probes = []
    benign_file = "benign" in name.lower()
    for index, row in enumerate(rows, start=1):
        columns = next((c for c in _COLUMNS if row.get(c[0])), None)
        if columns is None:
            raise InputError(spec, f"no prompt column (one of {sorted({c[0] for c in _COLUMNS})}); it has "
                                   f"{sorted(row)}", where=f"row {index}")
        prompt_key, category_key, label_key = columns
        label = str(row.get(label_key) or "").lower() if label_key else ""
        kind = "benign" if label in ("safe", "benign") or benign_file else "harmful"
        category = str(row.get(category_key) or "uncategorised").strip().lower().replace(" ", "_")
        probes.append(Probe(f"{Path(name).stem}-{index:04d}", kind, f"{category}", str(row[prompt_key]).strip(),
                            source=name))
    if not probes:
        raise NotmeError(f"{spec}: no probes in it")
    return probes


def _file_rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(text.splitlines()))
    return [row for _, row in read_jsonl_objects(path)]


def _hf_rows(name: str) -> list[dict]:
    import datasets

    dataset, _, rest = name.partition(":")
    config, _, split = rest.partition(":")
    try:
        data = datasets.load_dataset(dataset, config or None, split=split or None)
    except Exception as e:  # datasets raises many types; all mean "not available here"
        raise NotmeError(f"hf:{name}: cannot load it through `datasets` ({e}); download the file and pass its path"
                         ) from e
    if isinstance(data, datasets.DatasetDict):
        data = data[next(iter(data))]
    return [dict(row) for row in data]
