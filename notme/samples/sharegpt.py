"""Writes ShareGPT-style files (`{"conversations": [{"from", "value"}]}`) from scripted conversations,
for the demo, tests and benchmarks.

Written from the format as LLaMA-Factory documents it and the variants seen in shared datasets; no
real file is copied. Every shape can be produced: a JSON array or JSON Lines, `human`/`gpt` or
`user`/`assistant` speakers, `role`/`content` keys, a top-level `system` or a leading `system` turn,
`function_call`/`observation` turns, `<image>` placeholders with a top-level `images` list, and
extra keys (`id`, `markdown`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from notme.samples.common import fake_secret


class ShareGPTRecord:
    """One `{"conversations": [...]}` record. `speakers` names the two sides ("human", "gpt") or
    ("user", "assistant"); `keys` the turn's keys ("from", "value") or ("role", "content")."""

    def __init__(self, system: str | None = None, *, speakers: tuple[str, str] = ("human", "gpt"),
                 keys: tuple[str, str] = ("from", "value"), **extra: Any) -> None:
        self.turns: list[Any] = []
        self.speakers = speakers
        self.keys = keys
        self.extra = dict(extra)
        if system is not None:
            self.extra["system"] = system  # the top-level form

    def turn(self, who: str, value: Any, **fields: Any) -> dict[str, Any]:
        turn = {self.keys[0]: who, self.keys[1]: value, **fields}
        self.turns.append(turn)
        return turn

    def human(self, text: str, **fields: Any) -> dict[str, Any]:
        return self.turn(self.speakers[0], text, **fields)

    def gpt(self, text: str, **fields: Any) -> dict[str, Any]:
        return self.turn(self.speakers[1], text, **fields)

    def system_turn(self, text: str) -> dict[str, Any]:
        return self.turn("system", text)

    def tool_round(self, call: str, observation: str) -> None:
        self.turn("function_call", call)
        self.turn("observation", observation)

    def image_prompt(self, text: str, image: str = "images/0001.png") -> dict[str, Any]:
        """A prompt with an `<image>` placeholder and the image listed at the top level."""
        self.extra.setdefault("images", []).append(image)
        return self.human(f"<image>{text}")

    def to_dict(self) -> dict[str, Any]:
        return {"conversations": self.turns, **self.extra}


def _records(records: Sequence[ShareGPTRecord | dict[str, Any]]) -> list[dict[str, Any]]:
    return [r.to_dict() if isinstance(r, ShareGPTRecord) else r for r in records]


def write_json(path: Path, records: Sequence[ShareGPTRecord | dict[str, Any]], indent: int | None = 2) -> Path:
    """A JSON array of records (pretty-printed, as datasets usually are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_records(records), ensure_ascii=False, indent=indent), encoding="utf-8")
    return path


def write_jsonl(path: Path, records: Sequence[ShareGPTRecord | dict[str, Any] | str]) -> Path:
    """One record a line; a str item is written as it is (a broken line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(_records([r])[0], ensure_ascii=False) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_sample(directory: Path, chats: Sequence[dict[str, Any]], owner: dict[str, Any]) -> Path:
    """The persona's assistant chats as a ShareGPT JSON array: `me` turns from "human", `ai` turns from
    "gpt", with an `id` on each record, a top-level system prompt on the first, a leading system turn
    on the second, a tool round on the third, the `user`/`assistant` variant on the fourth, an image
    placeholder on the fifth, and an API key in the owner's first prompt of the sixth. Returns the file."""
    del owner  # the format has no names: the owner is the human side
    records = []
    for number, chat in enumerate(chats):
        record = ShareGPTRecord("You are a helpful assistant." if number == 0 else None, id=f"sample-{number:04d}",
                                speakers=("user", "assistant") if number == 3 else ("human", "gpt"))
        if number == 1:
            record.system_turn("Answer briefly.")
        mine = 0
        for turn in chat.get("turns") or []:
            if "me" in turn:
                text, mine = str(turn["me"]), mine + 1
                if number == 5 and mine == 1:
                    text += f"\nkey: {fake_secret('sharegpt-sample')}"
                if number == 4 and mine == 1:
                    record.image_prompt(text)
                else:
                    record.human(text)
            elif "ai" in turn:
                if number == 2 and mine == 1 and not any(t.get("from") == "function_call" for t in record.turns):
                    record.tool_round('{"name": "search", "arguments": {"q": "docs"}}', "[]")
                record.gpt(str(turn["ai"]))
        records.append(record)
    return write_json(directory / "sharegpt.json", records)
