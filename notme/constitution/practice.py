"""`notme practice`: self-refinement pairs from the constitution (Chain of Hindsight).

For each item the teacher writes a scenario in one of the recipe's categories, answers it impulsively
(the scenario alone, no constitution), critiques that answer against the constitution, and writes the
refined answer. The refined answer is `chosen`, the impulsive one `rejected`, the critique is kept
beside them. `--directness N` adds pairs from the owner's held-out turns: the owner's reply is
chosen, the teacher's hedging, approval-seeking rewrite of it rejected.

Every part is checked as it comes: an empty or unusable output is asked for again (`attempts` times),
then the item is dropped and counted. Dropped too: a scenario that nearly repeats a kept one, an
impulsive answer that *refuses* a request in a safety category (training would push the model away
from a refusal), a refined answer that is the impulsive one again, a rewrite that does not hedge.

Everything lands in <workspace>/practice/ as it is made, one line per item, so an interrupted run
resumes where it stopped without repeating an item:

    pairs.jsonl     kept pairs: prompt, chosen, rejected, critique, principles, category, kind, id
    dropped.jsonl   dropped items: id, kind, category, reason, and what was generated
    progress.json   done / target, kept, dropped, ETA, state (the dashboard reads it)
    summary.json    the last run's counts: kept, dropped by reason, model, constitution hash
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notme.backends.base import Backend
from notme.constitution.store import principle_names
from notme.corpus.store import atomic_write, exclusive, now_iso
from notme.data.dedupe import ReplyDeduper, exact_key
from notme.errors import NotmeError
from notme.gate.detect import classify
from notme.gate.style import style_metrics
from notme.workspace import workspace

Progress = Callable[[str, int, int], None]  # (phase, done, total): render.PhaseProgress

PAIRS, DROPPED, PROGRESS, SUMMARY = "pairs.jsonl", "dropped.jsonl", "progress.json", "summary.json"
_LABEL = re.compile(r"^\s*(?:\*\*)?(?:scenario|message|request|answer|refined answer|better answer|rewrite|"
                    r"rewritten reply|critique|reply)(?:\*\*)?\s*:(?:\*\*)?\s*", re.IGNORECASE)
_MIN_WORDS = 3


def practice_dir() -> Path:
    return workspace() / "practice"


@dataclass(frozen=True)
class PracticeSettings:
    categories: tuple[str, ...]
    safety_categories: tuple[str, ...]
    max_tokens: int
    temperature: float
    concurrency: int
    attempts: int
    near_threshold: float
    prompts: dict[str, str]

    @classmethod
    def from_recipe(cls, practice: dict[str, Any], concurrency: int | None = None) -> PracticeSettings:
        return cls(tuple(practice["categories"]), tuple(practice["safety_categories"]), int(practice["max_tokens"]),
                   float(practice["temperature"]), int(concurrency or practice["concurrency"]),
                   int(practice["attempts"]), float(practice["near_threshold"]), dict(practice["prompts"]))


class Dropped(Exception):
    """An item that cannot be kept, and why."""

    def __init__(self, reason: str, **generated: str) -> None:
        super().__init__(reason)
        self.reason, self.generated = reason, generated


def clean(text: str) -> str:
    """A generated part as it should be kept: no surrounding space, quotes, code fence or leading label."""
    text = text.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text.strip("`").partition("\n")[2].strip()
    text = _LABEL.sub("", text, count=1).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    return text.replace("“", '"').replace("”", '"') if text.count("“") == 1 else text


def usable(text: str) -> bool:
    return len(re.findall(r"\w+", text)) >= _MIN_WORDS


def repair_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file this module appends to; a last line cut off by an interruption is
    removed from the file (its item is made again)."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[:data.rfind(b"\n") + 1]
        with path.open("r+b") as f:
            f.truncate(len(data))
    records = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise NotmeError(f"{path}: line {number} is not JSON ({e}); fix or remove that line to resume") from e
    return records


def owner_turns(recipe: str, limit: int) -> list[tuple[str, list[dict], str]]:
    """Up to `limit` (turn id, context, the owner's reply) from the test split of `recipe`'s datasets
    (built now): turns no run of that recipe trains on."""
    from notme.data.build import build_datasets
    from notme.data.heldout import held_out_turns

    report = build_datasets(recipe)
    turns = held_out_turns(report.path / "sft" / "test.jsonl", limit)
    if not turns:
        raise NotmeError(f"the recipe {recipe!r} has no held-out owner turns (its test split is empty); "
                         "ingest more chats or raise splits.test")
    return [(hashlib.sha256(json.dumps([context, reply]).encode()).hexdigest()[:16], context, reply)
            for context, reply in turns]


class Practice:
    """One practice run into `folder`: `run(count)` makes items until `count` constitution pairs (and
    `directness` directness pairs) are kept in the folder, counting what is already there."""

    def __init__(self, backend: Backend, constitution: str, settings: PracticeSettings, folder: Path | None = None,
                 progress: Progress | None = None) -> None:
        self.backend, self.constitution, self.settings = backend, constitution, settings
        self.folder = folder or practice_dir()
        self.progress = progress
        self.principles = principle_names(constitution)
        self.lock = threading.Lock()
        self.deduper = ReplyDeduper(settings.near_threshold)
        self.counts: Counter[str] = Counter()  # kept, dropped reasons, retries of this run
        self.kept: dict[str, int] = Counter()
        self.next_id = 0
        self.recent: list[str] = []  # the latest scenarios, shown to the teacher as ones to differ from
        self.started = time.monotonic()
        self.target = 0
        self.done = 0

    # ------------------------------------------------------------------ generation, one part at a time

    def ask(self, prompt: str, **fields: str) -> str:
        text = self.settings.prompts[prompt].format(**fields)
        return "".join(self.backend.stream([{"role": "user", "content": text}], self.settings.max_tokens,
                                           self.settings.temperature))

    def part(self, name: str, check: Callable[[str], str | None] | None = None, **fields: str) -> str:
        """A usable output of prompt `name`, asked up to `attempts` times; `check` returns why an output
        cannot be used (asked again), or None."""
        why = "empty or unusable output"
        for attempt in range(self.settings.attempts):
            if attempt:
                with self.lock:
                    self.counts["retried"] += 1
            text = clean(self.ask(name, **fields))
            if not usable(text):
                why = "empty or unusable output"
                continue
            problem = check(text) if check else None
            if problem is None:
                return text
            why = problem
        # what was made so far, not what only steered the teacher (the constitution, scenarios to differ from)
        generated = {k: v for k, v in fields.items() if k not in ("constitution", "avoid")}
        raise Dropped(f"{name}: {why} after {self.settings.attempts} tries", **generated)

    def unique(self, scenario: str) -> str | None:
        with self.lock:
            repeat = self.deduper.check(scenario)
        return "a duplicate of an earlier scenario" if repeat else None

    def constitution_item(self, item_id: str, category: str) -> dict[str, Any]:
        with self.lock:
            avoid = " | ".join(self.recent[-5:]) or "(none yet)"
        scenario = self.part("scenario", self.unique, category=category, constitution=self.constitution, avoid=avoid)
        with self.lock:
            self.recent.append(scenario[:160])
        impulsive = self.part("impulsive", scenario=scenario)
        if category in self.settings.safety_categories and classify(impulsive).label == "refusal":
            raise Dropped("the impulsive answer refuses a request in a safety category: a refusal is never the "
                          "rejected side", scenario=scenario, impulsive=impulsive)
        critique = self.part("critique", constitution=self.constitution, scenario=scenario, answer=impulsive)

        def differs(refined: str) -> str | None:
            same = exact_key(refined) == exact_key(impulsive)
            return "the refined answer repeats the impulsive one" if same else None

        refined = self.part("refined", differs, constitution=self.constitution, scenario=scenario, answer=impulsive,
                            critique=critique)
        named = [p for p in self.principles if p.casefold() in critique.casefold()]
        if not named:
            with self.lock:
                self.counts["critiques naming no principle (kept)"] += 1
        return {"id": item_id, "kind": "constitution", "category": category, "prompt": scenario, "chosen": refined,
                "rejected": impulsive, "critique": critique, "principles": named}

    def directness_item(self, item_id: str, turn: str, context: list[dict], reply: str) -> dict[str, Any]:
        def hedges(rewrite: str) -> str | None:
            if exact_key(rewrite) == exact_key(reply):
                return "the rewrite repeats the reply"
            metrics = style_metrics([rewrite])
            return None if metrics["hedging"] or metrics["approval_seeking"] else "the rewrite does not hedge"

        try:
            rewrite = self.part("hedge", hedges, reply=reply)
        except Dropped as dropped:
            dropped.generated["turn"] = turn  # tried: a resumed run does not ask again
            raise
        system = [m for m in context if m["role"] == "system"]
        turns = [m for m in context if m["role"] != "system"]
        return {"id": item_id, "kind": "directness", "category": "directness", "turn": turn,
                "prompt": turns[-1]["content"], "context": turns[:-1], "chosen": reply, "rejected": rewrite,
                **({"system": system[0]["content"]} if system else {})}

    # ------------------------------------------------------------------------------- the whole run

    def _load(self) -> set[str]:
        """What earlier runs kept and dropped; returns the ids of held-out turns already used."""
        pairs, dropped = repair_jsonl(self.folder / PAIRS), repair_jsonl(self.folder / DROPPED)
        used = set()
        for record in pairs + dropped:
            number = re.fullmatch(r"[a-z]+-(\d+)", str(record.get("id", "")))
            if number:
                self.next_id = max(self.next_id, int(number.group(1)) + 1)
            if record.get("turn"):
                used.add(record["turn"])
        for record in pairs:
            self.kept[record.get("kind", "constitution")] += 1
            if record.get("kind") == "constitution":
                self.deduper.check(record["prompt"])
                self.recent.append(record["prompt"][:160])
        return used

    def _write(self, name: str, record: dict[str, Any]) -> None:
        with (self.folder / name).open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def _status(self, state: str) -> None:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed and self.done else 0.0
        left = max(0, self.target - self.done)
        atomic_write(self.folder / PROGRESS, json.dumps({
            "state": state, "updated": now_iso(), "pid": os.getpid(), "host": socket.gethostname(),
            "target": self.target, "done": self.done, "kept": dict(self.kept),
            "dropped": self._dropped(),
            "retried": self.counts["retried"], "eta_seconds": left / rate if rate else None,
            "model": self.backend.describe()}, indent=1) + "\n")

    def run(self, count: int, directness: list[tuple[str, list[dict], str]] | None = None) -> dict[str, Any]:
        """Keep `count` constitution pairs in the folder (counting those already there), and try one
        directness pair per (turn id, context, owner reply) not tried before."""
        busy = (f"{self.folder}: another `notme practice` is writing here (progress.json says which); "
                "wait for it to end or stop it")
        with exclusive(self.folder, busy):  # two writers would repeat ids and cut each other's lines
            return self._run(count, directness)

    def _run(self, count: int, directness: list[tuple[str, list[dict], str]] | None) -> dict[str, Any]:
        used = self._load()
        turns = deque(t for t in (directness or []) if t[0] not in used)
        wanted = max(0, count - self.kept["constitution"])
        self.target = wanted + len(turns)
        self._status("running")
        try:
            stopped_early = self._drive(turns, wanted)
        except BaseException as e:
            self._status("stopped" if isinstance(e, KeyboardInterrupt) else "failed")
            raise
        self._status("done")
        summary = {
            "finished": now_iso(), "kept": {k.removeprefix("kept "): v for k, v in self.counts.items()
                                           if k.startswith("kept ")},
            "kept_in_folder": dict(self.kept), "dropped": self._dropped(), "retried": self.counts["retried"],
            "warnings": {k: v for k, v in self.counts.items() if "(kept)" in k}, "stopped_early": stopped_early,
            "model": self.backend.describe(),
            "constitution_sha256": hashlib.sha256(self.constitution.encode()).hexdigest(),
            "seconds": round(time.monotonic() - self.started, 1), "folder": str(self.folder)}
        atomic_write(self.folder / SUMMARY, json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
        return summary

    def _dropped(self) -> dict[str, int]:
        return {k: v for k, v in self.counts.items()
                if not k.startswith("kept ") and k != "retried" and "(kept)" not in k}

    def _new_id(self, prefix: str) -> str:
        number, self.next_id = self.next_id, self.next_id + 1
        return f"{prefix}-{number:05d}"

    def _drive(self, turns: deque[tuple[str, list[dict], str]], wanted: int) -> str | None:
        """Keep `concurrency` items in flight until every directness turn is tried and `wanted` constitution
        pairs are kept (a dropped one is replaced). Gives up, saying why, when the teacher's items keep
        being dropped."""
        kept, started, budget = 0, 0, wanted * 4 + 8
        in_flight: dict[Future, tuple[str, str, str]] = {}  # → (kind, id, category)
        pool = ThreadPoolExecutor(max_workers=self.settings.concurrency)
        try:
            while True:
                while len(in_flight) < self.settings.concurrency:
                    pending = sum(kind == "constitution" for kind, _, _ in in_flight.values())
                    if turns:
                        item = self._new_id("d")
                        in_flight[pool.submit(self.directness_item, item, *turns.popleft())] = (
                            "directness", item, "directness")
                    elif kept + pending < wanted and started < budget:
                        item = self._new_id("c")
                        category = self.settings.categories[int(item[2:]) % len(self.settings.categories)]
                        future = pool.submit(self.constitution_item, item, category)
                        in_flight[future] = ("constitution", item, category)
                        started += 1
                    else:
                        break
                if not in_flight:
                    return None if kept >= wanted else (
                        f"stopped after {started} items: {wanted - kept} pair(s) short, the teacher's output kept "
                        f"being dropped ({', '.join(f'{k}: {v}' for k, v in self._dropped().items())})")
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    kept += self._settle(future, in_flight.pop(future))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _settle(self, future: Future, item: tuple[str, str, str]) -> int:
        """Write a finished item where it belongs; 1 when it is a kept constitution pair."""
        kind, item_id, category = item
        try:
            record = future.result()
        except Dropped as dropped:
            with self.lock:
                self.counts[dropped.reason.split(" after ")[0]] += 1
                self.done += kind == "directness"  # a dropped constitution item is replaced
                self._write(DROPPED, {"id": item_id, "kind": kind, "category": category, "reason": dropped.reason,
                                      **dropped.generated, "time": now_iso()})
                self._status("running")
            return 0
        with self.lock:
            self._write(PAIRS, record)
            self.kept[record["kind"]] += 1
            self.counts[f"kept {record['kind']}"] += 1
            self.done += 1
            self._status("running")
        if self.progress:
            self.progress("practice", self.done, self.target)
        return int(record["kind"] == "constitution")
