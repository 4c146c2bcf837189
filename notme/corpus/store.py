"""A corpus on disk: `corpora/<name>/conversations.jsonl` plus `corpus.json` (who the owner is,
what was ingested from where, what the owner removed).

Writes go through an `IngestTransaction`: new and changed conversations are staged in a scratch
file beside the corpus, and `commit` writes the whole new file and swaps it in with `os.replace`.
Until then the corpus on disk is untouched, so a failed or interrupted ingest loses nothing.
Memory stays small: the transaction keeps an index (id → digest, position), never the records.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from notme.corpus.schema import Conversation, Message, content_fingerprint, record_digest, sort_by_time
from notme.errors import InputError, NotmeError
from notme.workspace import corpora_dir

CONVERSATIONS = "conversations.jsonl"
META = "corpus.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise NotmeError(
            f"corpus name {name!r} is not allowed: use letters, digits, '.', '_' or '-' (64 at most)"
        )
    return name


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@contextlib.contextmanager
def exclusive(folder: Path, busy: str) -> Iterator[None]:
    """Hold `folder`'s lock file while the block runs; another process holding it is the error `busy`, at
    once (the lock goes with the process, so a killed one leaves nothing to clean up)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NotmeError(busy) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a whole file so readers see the old one or the new one, never half of either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Corpus:
    def __init__(self, name: str, root: Path | None = None) -> None:
        self.name = validate_name(name)
        self.path = (root or corpora_dir()) / name

    @property
    def conversations_path(self) -> Path:
        return self.path / CONVERSATIONS

    @property
    def meta_path(self) -> Path:
        return self.path / META

    def exists(self) -> bool:
        return self.conversations_path.is_file() or self.meta_path.is_file()

    def require(self) -> Corpus:
        if not self.exists():
            known = ", ".join(c.name for c in list_corpora(self.path.parent)) or "none yet"
            raise NotmeError(f"no corpus named {self.name!r} in {self.path.parent} (corpora: {known})")
        return self

    def meta(self) -> dict[str, Any]:
        if not self.meta_path.is_file():
            return {"name": self.name, "me": [], "owner_by_source": {}, "excluded": [], "inputs": {}}
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(self.meta_path, f"corpus metadata is not valid JSON ({e})") from e
        if not isinstance(meta, dict):
            raise InputError(self.meta_path, "corpus metadata must be a JSON object")
        for key, empty in (("me", []), ("owner_by_source", {}), ("excluded", []), ("inputs", {})):
            meta.setdefault(key, empty)
        return meta

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write(self.meta_path, json.dumps(meta, ensure_ascii=False, indent=2) + "\n")

    def iter_records(self) -> Iterator[tuple[int, int, bytes, dict[str, Any]]]:
        """(line number, byte offset, raw line, parsed record) for every stored conversation."""
        if not self.conversations_path.is_file():
            return
        offset = 0
        with self.conversations_path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                start, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                    if not isinstance(record, dict) or "id" not in record or "messages" not in record:
                        raise ValueError("not a conversation record")
                except ValueError as e:
                    raise InputError(
                        self.conversations_path, f"corrupt corpus record ({e}); fix or remove the line",
                        where=f"line {number}",
                    ) from e
                yield number, start, raw, record

    def conversations(self) -> Iterator[Conversation]:
        for number, _, _, record in self.iter_records():
            try:
                yield Conversation.from_dict(record)
            except (KeyError, TypeError) as e:
                raise InputError(
                    self.conversations_path, f"corpus record is missing {e}", where=f"line {number}"
                ) from e

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """One writer at a time; a second `notme ingest` into the same corpus is told so at once."""
        return exclusive(self.path, f"corpus {self.name!r} is being written by another notme process; "
                                    "try again when it ends")

    def transaction(self) -> IngestTransaction:
        return IngestTransaction(self)

    def rewrite_without(self, ids: set[str]) -> int:
        """Drop conversations by id (atomically); returns how many were removed."""
        removed = 0
        with self.lock():
            lines = []
            for _, _, raw, record in self.iter_records():
                if record["id"] in ids:
                    removed += 1
                else:
                    lines.append(raw if raw.endswith(b"\n") else raw + b"\n")
            atomic_write(self.conversations_path, b"".join(lines))
        return removed


def list_corpora(root: Path | None = None) -> list[Corpus]:
    root = root or corpora_dir()
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and _NAME.match(child.name):
            corpus = Corpus(child.name, root)
            if corpus.exists():
                found.append(corpus)
    return found


@dataclass
class _Entry:
    digest: str
    offset: int
    length: int
    staged: bool


class IngestTransaction:
    """Stage conversations, then commit them all at once (or abort and leave the corpus as it was).

    `add` says what happened to a conversation:
      added      — new to the corpus;
      updated    — already stored, and this export has more of it (or a newer branch / edit);
      unchanged  — already stored, nothing new;
      duplicate  — the same conversation is stored under another source or id;
      excluded   — the owner removed it with `notme corpus drop`;
    and whether it was met before in this transaction (shards, resumed sessions, batches).
    """

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        corpus.path.mkdir(parents=True, exist_ok=True)
        self._excluded = set(corpus.meta()["excluded"])
        self._index: dict[str, _Entry] = {}
        self._order: list[str] = []  # committed ids in file order
        self._fingerprints: dict[str, str] = {}
        for _, offset, raw, record in corpus.iter_records():
            self._index[record["id"]] = _Entry(record_digest(raw.decode().strip()), offset, len(raw), False)
            self._order.append(record["id"])
            self._fingerprints.setdefault(_fingerprint_of_record(record), record["id"])
        self._touched: set[str] = set()  # ids staged in this transaction
        self._state: dict[str, str] = {}  # id → outcome so far, for every id met in this transaction
        self._new: list[str] = []
        fd, name = tempfile.mkstemp(dir=corpus.path, prefix=".staging.", suffix=".jsonl")
        self._staging_path = Path(name)
        self._staging: IO[bytes] = os.fdopen(fd, "w+b")
        self._committed: IO[bytes] | None = (
            corpus.conversations_path.open("rb") if corpus.conversations_path.is_file() else None
        )

    def add(self, conversation: Conversation) -> tuple[str, bool]:
        """Stage a conversation; returns its outcome so far in this transaction, and whether it
        was met before in it (then the outcome may have moved from "unchanged" to "updated")."""
        key = conversation.id
        repeat = key in self._state
        self._state[key] = self._classify(conversation, self._state.get(key))
        return self._state[key], repeat

    def _classify(self, conversation: Conversation, earlier: str | None) -> str:
        key = conversation.id
        if key in self._excluded:
            return "excluded"
        line = conversation.to_json()
        digest = record_digest(line)
        entry = self._index.get(key)
        if entry is None:
            fingerprint = content_fingerprint(conversation)
            if self._fingerprints.get(fingerprint, key) != key:
                return "duplicate"
            self._fingerprints[fingerprint] = key
            self._stage(key, line, digest)
            self._new.append(key)
            return "added"
        merged = None if entry.digest == digest else merge(self._read(entry), conversation)
        if merged is None:
            return earlier or "unchanged"
        merged_line = merged.to_json()
        self._stage(key, merged_line, record_digest(merged_line))
        return "added" if earlier == "added" else "updated"

    def _stage(self, key: str, line: str, digest: str) -> None:
        data = (line + "\n").encode("utf-8")
        self._staging.seek(0, os.SEEK_END)
        offset = self._staging.tell()
        self._staging.write(data)
        self._index[key] = _Entry(digest, offset, len(data), True)
        self._touched.add(key)

    def _read(self, entry: _Entry) -> Conversation:
        source = self._staging if entry.staged else self._committed
        assert source is not None
        source.seek(entry.offset)
        return Conversation.from_dict(json.loads(source.read(entry.length)))

    @property
    def changed(self) -> bool:
        return bool(self._touched)

    def commit(self, meta: dict[str, Any]) -> None:
        """Swap in the new corpus file, then the metadata; the corpus is never half-written."""
        self._staging.flush()
        if self._touched:
            fd, tmp = tempfile.mkstemp(dir=self.corpus.path, prefix=".conversations.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    for key in self._order + self._new:
                        entry = self._index[key]
                        source = self._staging if entry.staged else self._committed
                        assert source is not None
                        source.seek(entry.offset)
                        out.write(source.read(entry.length))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.corpus.conversations_path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        self.corpus.write_meta(meta)
        self.close()

    def close(self) -> None:
        for handle in (self._staging, self._committed):
            if handle is not None and not handle.closed:
                handle.close()
        with contextlib.suppress(FileNotFoundError):
            self._staging_path.unlink()

    def __enter__(self) -> IngestTransaction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fingerprint_of_record(record: dict[str, Any]) -> str:
    return content_fingerprint(
        Conversation(
            id=record["id"], source="", title="",
            messages=[Message(speaker="", is_me=bool(m.get("is_me")), text=m.get("text", ""))
                      for m in record["messages"]],
        )
    )


def merge(stored: Conversation, incoming: Conversation) -> Conversation | None:
    """The conversation to keep when an export brings a changed version of a stored one,
    or None when the stored one already has everything.

    - The incoming has every stored message and more (a longer export): take it.
    - The incoming has only some of the stored messages (an older or capped export — WhatsApp drops
      the oldest messages past ~40k): keep what is stored.
    - The same messages with other details (a re-ingest with other scrub options): take the incoming.
    - Diverged: a chat between people gets the union, in time order; an AI chat whose active branch
      changed (an edit or a regenerated answer) keeps whichever version is newer.
    """
    stored_ids = {m.id for m in stored.messages}
    incoming_ids = {m.id for m in incoming.messages}
    if incoming_ids == stored_ids or stored_ids < incoming_ids:
        return incoming
    if incoming_ids < stored_ids:
        return None
    if incoming.kind == "messaging":
        # Stable: messages without a time, and same-minute messages, keep their export order.
        merged = sort_by_time(list(stored.messages) + [m for m in incoming.messages if m.id not in stored_ids])
        skipped = stored.skipped | incoming.skipped
        scrubbed = stored.scrubbed | incoming.scrubbed
        return Conversation(
            id=incoming.id, source=incoming.source, title=incoming.title, messages=merged,
            kind=incoming.kind, is_group=incoming.is_group,
            participants=sorted(set(stored.participants) | set(incoming.participants)),
            skipped=skipped, scrubbed=scrubbed, extra=stored.extra | incoming.extra,
        )
    if (incoming.last_timestamp or "") >= (stored.last_timestamp or ""):
        return incoming
    return None
