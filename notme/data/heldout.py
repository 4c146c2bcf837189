"""Owner turns from a dataset's test split: prompts no run trained on (the gate's style probes, and the
directness pairs `notme practice` writes)."""

from __future__ import annotations

import json
from pathlib import Path


def held_out_turns(test_file: Path, limit: int) -> list[tuple[list[dict], str]]:
    """Up to `limit` (context, the owner's actual reply) pairs from an SFT test split file, in its order;
    the context keeps the system message. Unlikelihood negatives and records without a user turn are
    skipped."""
    pairs: list[tuple[list[dict], str]] = []
    if not test_file.is_file():
        return pairs
    for line in test_file.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        messages = record.get("messages") or []
        if "unlikely_suffix" in record or not messages or messages[-1].get("role") != "assistant":
            continue
        if not any(m.get("role") == "user" for m in messages[:-1]):
            continue
        context = [{"role": m["role"], "content": m["content"]} for m in messages[:-1]]
        pairs.append((context, messages[-1]["content"]))
        if len(pairs) >= limit:
            break
    return pairs
