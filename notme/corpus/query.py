"""Reading a corpus: find one conversation, list them, search the messages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from notme.corpus.schema import Conversation
from notme.corpus.store import Corpus
from notme.errors import NotmeError


def listing(corpus: Corpus, source: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(number, record) in stored order; the number is what `notme corpus show N` accepts."""
    for number, (_, _, _, record) in enumerate(corpus.require().iter_records(), start=1):
        if source is None or record["source"] == source:
            yield number, record


def find(corpus: Corpus, ref: str) -> Conversation:
    """A conversation by its id, a unique prefix of it (with or without the source), or its number."""
    candidates = []
    for number, record in listing(corpus):
        cid = record["id"]
        if ref == cid or (ref.isdigit() and int(ref) == number):
            return Conversation.from_dict(record)
        if cid.startswith(ref) or cid.partition(":")[2].startswith(ref):
            candidates.append(record)
    if len(candidates) == 1:
        return Conversation.from_dict(candidates[0])
    if not candidates:
        raise NotmeError(f"no conversation {ref!r} in corpus {corpus.name!r}; `notme corpus show` lists them")
    shown = ", ".join(c["id"] for c in candidates[:5])
    raise NotmeError(f"{ref!r} matches {len(candidates)} conversations ({shown}…); give more of the id")


@dataclass
class Hit:
    conversation_id: str
    title: str
    speaker: str
    is_me: bool
    timestamp: str | None
    text: str
    span: tuple[int, int]


def search(corpus: Corpus, query: str, *, regex: bool = False, mine: bool = False,
           source: str | None = None) -> Iterator[Hit]:
    try:
        pattern = re.compile(query if regex else re.escape(query), re.IGNORECASE)
    except re.error as e:
        raise NotmeError(f"not a valid regular expression: {query!r} ({e})") from e
    for _, record in listing(corpus, source):
        for message in record["messages"]:
            if mine and not message.get("is_me"):
                continue
            match = pattern.search(message.get("text", ""))
            if match:
                yield Hit(record["id"], record.get("title", ""), message["speaker"], bool(message.get("is_me")),
                          message.get("timestamp"), message["text"], match.span())
