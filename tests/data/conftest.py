"""Helpers for the dataset tests: small conversations stored with the corpus store, a stand-in recipe
(the real one is `notme.recipe`; these tests only need its `.get` / `.name` / `.data` / `.digest`),
and a build that returns what it wrote."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from notme.corpus.schema import Conversation, Message
from notme.corpus.store import Corpus
from notme.data.build import BuildReport, build_datasets

OWNER = "Sam"
T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)

BASE: dict[str, Any] = {
    "domain": {"corpora": ["default"], "sources": "all", "include_groups": False, "since": None,
               "seed_files": [], "preference_files": []},
    "use": {"system_prompt": "You are {persona}.", "max_seq_length": 512, "session_gap_minutes": 120,
            "merge_window_minutes": 5, "max_context_turns": 8},
    "splits": {"valid": 0.0, "test": 0.0, "seed": 0},
    "dedupe": {"near_threshold": 0.85},
    "mode": {"seed": 0, "unlikelihood": None, "sft": {"safety_share": 0.0},  # tests that want anchors ask
             "preference": {"sources": {"edit": 1.0, "directness": 1.0, "safety": 0.0, "feedback": 0.0,
                                        "regeneration": 0.0},
                            "safety_share": 0.03}},
    "identity": {"persona": "Sam", "constitution_file": None},
}


class StandInRecipe:
    def __init__(self, data: dict[str, Any], name: str = "test", path: Path | None = None) -> None:
        self.data = data
        self.name = name
        self.path = path
        self.digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def get(self, key: str) -> Any:
        value: Any = self.data
        for part in key.split("."):
            value = value[part]
        return value


def recipe(name: str = "test", path: Path | None = None, **settings: Any) -> StandInRecipe:
    """BASE with dotted overrides: recipe(**{"use.max_seq_length": 64})."""
    data = copy.deepcopy(BASE)
    for key, value in settings.items():
        *parents, last = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return StandInRecipe(data, name, path)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def msg(speaker: str, text: str, minute: float | None = None, **extra: Any) -> Message:
    """A message from `speaker` ("me" is the owner) `minute` minutes after T0."""
    is_me = speaker == "me"
    return Message(speaker=OWNER if is_me else speaker, is_me=is_me, text=text,
                   timestamp=None if minute is None else at(minute), extra=extra)


def conversation(cid: str, *messages: Message, kind: str = "messaging", group: bool = False) -> Conversation:
    for number, message in enumerate(messages):
        message.id = message.id or f"{cid}/{number}"
    return Conversation(id=cid, source=cid.split(":")[0], title=cid, messages=list(messages),
                        kind=kind, is_group=group)  # type: ignore[arg-type]


def store(*conversations: Conversation, corpus: str = "default") -> None:
    target = Corpus(corpus)
    with target.transaction() as txn:
        for item in conversations:
            txn.add(item)
        txn.commit(target.meta())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def build(the_recipe: StandInRecipe, out: Path | None = None) -> tuple[BuildReport, dict[str, list[dict]]]:
    """Build, and return the report with every file's records ("sft/train", "pref/valid", …)."""
    report = build_datasets(the_recipe, out)
    files = {f"{p.parent.name}/{p.stem}": read_jsonl(p) for p in sorted(report.path.glob("*/*.jsonl"))}
    return report, files


def sft_messages(files: dict[str, list[dict]], split: str = "train") -> list[list[tuple[str, str]]]:
    """(role, content) of each SFT record, system messages left out."""
    return [[(m["role"], m["content"]) for m in r["messages"] if m["role"] != "system"] for r in files[f"sft/{split}"]]
