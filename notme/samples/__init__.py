"""Sample exports written by notme's own generators, from the fictional owner in persona.yaml.

The same builders produce the test fixtures (with every quirk of each format), the bundled
demo corpus and the benchmark inputs: one place knows each format's structure.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import yaml

from notme.samples import (
    chatgpt,
    claude_ai,
    claude_code,
    discord,
    gemini,
    imessage,
    openai_jsonl,
    signal,
    telegram,
    whatsapp,
)


def persona() -> dict[str, Any]:
    """Sam Rivera, the sample owner: their AI chats, contacts and group chats."""
    text = importlib.resources.files("notme.samples").joinpath("persona.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def owner_identities(person: dict[str, Any]) -> list[str]:
    """What the demo passes as --me: the owner's name and the handles messaging apps show."""
    handles = person["owner_handles"]
    return [person["owner"], handles["phone"], handles["email"], handles["telegram_id"], handles["discord_id"]]


def write_sample_exports(directory: Path) -> list[Path]:
    """One export per source, as the owner would download them; returns the paths to ingest.

    Each AI chat and each contact appears in one source only, except two AI chats that also go into
    a fine-tuning JSONL the owner made from their ChatGPT history: the ingest stores them once.
    """
    person = persona()
    chats = person["assistant_chats"]
    code = [c for c in chats if c["topic"] == "code"]
    other = [c for c in chats if c["topic"] != "code"]
    contacts = {c["name"]: c for c in person["contacts"]}
    groups = {g["name"]: g for g in person["groups"]}

    def people(*names: str) -> list[dict[str, Any]]:
        return [contacts[n] for n in names]

    chatgpt_chats = code[:10] + other[:14]
    return [
        chatgpt.write_sample(directory / "chatgpt", chatgpt_chats, person),
        claude_ai.write_sample(directory / "claude", code[10:16] + other[14:22], person),
        claude_code.write_sample(directory / "claude-code", code[16:], person),
        gemini.write_sample(directory / "gemini", other[22:], person),
        openai_jsonl.write_sample(directory / "finetune-jsonl", chatgpt_chats[:2], person),
        whatsapp.write_sample(directory / "whatsapp", people("Maya Chen", "Tomás Ferreira"),
                              [groups["Bloc Saturdays"]], person),
        imessage.write_sample(directory / "imessage", people("Inês Rivera"), [groups["Rivera family"]], person),
        telegram.write_sample(directory / "telegram", people("Sr. Almeida"), [], person),
        discord.write_sample(directory / "discord", people("Priya Nair"), [], person),
        signal.write_sample(directory / "signal", people("Lucía Rivera"), [], person),
    ]
