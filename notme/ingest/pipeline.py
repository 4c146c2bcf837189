"""`notme ingest`: exports in, one clean corpus out, atomically.

For each input: detect its source(s), stream its conversations through the ingester, clean and
scrub every message, check the owner was found, and stage the result. Only when every input has
been read without error is the corpus replaced; any error leaves it exactly as it was.
"""

from __future__ import annotations

import re
import sqlite3
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Protocol

import tzlocal

from notme.corpus.schema import Conversation, derived_message_id
from notme.corpus.scrub import Scrubber
from notme.corpus.store import Corpus, now_iso
from notme.corpus.text import clean_text
from notme.errors import InputError, NotmeError
from notme.ingest import registry
from notme.ingest.base import SHAPE_ERRORS, IngestContext, Owner

# A message that was nothing but a secret (or an address) once scrubbed is not the owner's writing.
_ONLY_PLACEHOLDERS = re.compile(r"^(?:<(?:api-key|private-key|jwt|token|password|email|phone)>|[\W_])*$")


class Progress(Protocol):
    def start(self, description: str, total: int) -> None: ...
    def advance(self, amount: int) -> None: ...
    def finish(self) -> None: ...


@dataclass
class InputReport:
    path: str
    source: str
    title: str
    owner_basis: str = ""
    conversations: Counter[str] = field(default_factory=Counter)  # outcome → count, and "repeated"
    messages: int = 0
    my_messages: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # messages left out, per reason
    dropped: Counter[str] = field(default_factory=Counter)  # conversations left out, per reason
    examples: dict[str, list[str]] = field(default_factory=dict)
    scrubbed: Counter[str] = field(default_factory=Counter)


@dataclass
class IngestReport:
    corpus: str
    corpus_path: Path
    owner: list[str]
    inputs: list[InputReport] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(r.conversations["added"] + r.conversations["updated"] for r in self.inputs)


def ingest(
    paths: Sequence[str | Path],
    corpus_name: str = "default",
    *,
    source: str | None = None,
    me: Iterable[str] = (),
    zone: tzinfo | None = None,
    scrubber: Scrubber | None = None,
    strict: bool = False,
    progress: Progress | None = None,
    root: Path | None = None,
) -> IngestReport:
    """Read every export in `paths` into the corpus; all or nothing."""
    corpus = Corpus(corpus_name, root)
    scrubber = scrubber if scrubber is not None else Scrubber()
    zone = zone or tzlocal.get_localzone()
    with corpus.lock():
        meta = corpus.meta()
        given_me = [m for m in me if m.strip()]
        owner = Owner([*meta["me"], *given_me])
        detections, ignored = [], []
        try:
            for path in paths:
                # Resolved: sources name a chat after its file or folder, and "." has no name.
                found, skipped_files = registry.detect(Path(path).expanduser().resolve(), source)
                detections += found
                ignored += skipped_files
            report = IngestReport(corpus.name, corpus.path, owner.identities, ignored=ignored)
            with corpus.transaction() as txn:
                for detection in detections:
                    ctx = IngestContext(detection.tree, owner, zone, strict)
                    report.inputs.append(_read_input(detection, ctx, txn, scrubber, progress))
                    owner = Owner([*owner.identities, *ctx.inferred_owner])
                _update_meta(meta, report, given_me, owner)
                txn.commit(meta)
        finally:
            for tree in {id(d.tree): d.tree for d in detections}.values():
                tree.close()
    report.owner = owner.identities
    return report


def _read_input(detection: registry.Detection, ctx: IngestContext, txn, scrubber: Scrubber,
                progress: Progress | None) -> InputReport:
    ingester, tree = detection.ingester, detection.tree
    report = InputReport(str(tree.path), ingester.name, ingester.title)
    speakers: Counter[str] = Counter()
    outcomes: dict[str, str] = {}  # conversation id → outcome; a repeat may turn unchanged into updated
    if progress:
        progress.start(f"{ingester.title}: {tree.path.name}", sum(tree.size(n) for n in detection.entries))
        tree.on_read = progress.advance
    try:
        for conversation in _guarded(ingester.read(tree, detection.entries, ctx), tree.path):
            conversation.source = ingester.name
            if not _finalize(conversation, scrubber):
                report.skipped.update(conversation.skipped)
                ctx.drop("no text left", conversation.id)
                continue
            outcomes[conversation.id], repeat = txn.add(conversation)
            report.conversations["repeated"] += repeat
            report.messages += len(conversation.messages)
            report.my_messages += sum(m.is_me for m in conversation.messages)
            report.skipped.update(conversation.skipped)
            report.scrubbed.update(conversation.scrubbed)
            speakers.update(m.speaker for m in conversation.messages if not m.is_me)
    finally:
        tree.on_read = None
        if progress:
            progress.finish()
    if ctx.owner_by_name and report.messages and not report.my_messages:
        _no_owner_error(tree.path, ctx, speakers)
    report.conversations.update(outcomes.values())
    report.conversations = +report.conversations
    report.owner_basis = ctx.owner_basis or ""
    report.dropped = ctx.dropped
    report.examples = dict(ctx.examples)
    return report


def _guarded(conversations: Iterator[Conversation], path: Path) -> Iterator[Conversation]:
    """The last line of defence: a shape of data no ingester expected becomes a clear error about
    the file, never a traceback (and the corpus stays as it was)."""
    try:
        yield from conversations
    except NotmeError:
        raise
    except (*SHAPE_ERRORS, sqlite3.Error, zipfile.BadZipFile, zlib.error, EOFError, RecursionError) as e:
        raise InputError(path, f"could not be read: unexpected data ({type(e).__name__}: {e}). Nothing was "
                               "changed. If the export is intact, this is a shape notme does not know yet: "
                               "please report it") from e


def _no_owner_error(path: Path, ctx: IngestContext, speakers: Counter[str]) -> None:
    names = ", ".join(repr(s) for s, _ in speakers.most_common(8)) or "none"
    if ctx.owner:
        given = ", ".join(repr(i) for i in ctx.owner.identities)
        raise InputError(path, f"none of the owner's names ({given}) speaks in this export; "
                               f"the participants are {names}. Pass the right one with --me")
    raise InputError(path, f"cannot tell which participant is you; pass --me with your name as it "
                           f"appears in the export (participants: {names})")


def _finalize(conversation: Conversation, scrubber: Scrubber) -> bool:
    """Clean and scrub in place; False when no message is left."""
    kept = []
    seen: Counter[str] = Counter()
    for message in conversation.messages:
        if not isinstance(message.text, str):
            conversation.skipped["malformed message"] += 1
            continue
        text = clean_text(message.text)
        if not text:
            conversation.skipped["empty"] += 1
            continue
        if not message.id:
            message.id = derived_message_id(message.speaker, message.timestamp, text)
        seen[message.id] += 1
        if seen[message.id] > 1:  # the same line twice (a resent "ok"): keep both, apart
            message.id = f"{message.id}#{seen[message.id]}"
        text, found = scrubber.scrub(text)
        conversation.scrubbed.update(found)
        if found and _ONLY_PLACEHOLDERS.match(text):
            conversation.skipped["only a secret or address"] += 1
            continue
        message.text = text
        if message.extra.get("alternatives"):
            message.extra["alternatives"] = _scrub_all(message.extra["alternatives"], conversation, scrubber)
        message.speaker = scrubber.mask_handle(message.speaker)
        if message.speaker_id:
            message.speaker_id = scrubber.mask_handle(message.speaker_id)
        kept.append(message)
    conversation.messages = kept
    conversation.title, found = scrubber.scrub(clean_text(conversation.title))
    conversation.scrubbed.update(found)
    conversation.participants = [scrubber.mask_handle(p) for p in conversation.participants]
    return bool(kept)


def _scrub_all(texts: list[str], conversation: Conversation, scrubber: Scrubber) -> list[str]:
    """Other text kept on a message (`alternatives`: other branches' versions) gets the same care."""
    kept = []
    for text in texts:
        text, found = scrubber.scrub(clean_text(text))
        conversation.scrubbed.update(found)
        if text:
            kept.append(text)
    return kept


def _update_meta(meta: dict, report: IngestReport, given_me: list[str], owner: Owner) -> None:
    meta["name"] = report.corpus
    meta.setdefault("created", now_iso())
    meta["me"] = list(dict.fromkeys([*meta["me"], *given_me, *owner.identities]))
    for item in report.inputs:
        if item.owner_basis:
            meta["owner_by_source"][item.source] = item.owner_basis
        # Keyed by input path: ingesting the same export again replaces its record, never adds to it.
        meta["inputs"][f"{item.source}:{item.path}"] = {
            "source": item.source,
            "path": item.path,
            "ingested": now_iso(),
            "conversations": dict(item.conversations),
            "dropped": dict(item.dropped),
        }
