"""What every ingester is and gets.

An ingester is one small module: a class with a `name`, a `claims` check that picks its entries
out of an input cheaply (names and first bytes) and a `read` generator that yields `Conversation`s.
It drops what the owner did not type (tool output, system lines, tapbacks, pasted files…) and
counts it on the conversation (`conversation.skipped[reason] += 1`), or on the context for whole
conversations (`ctx.drop(reason)`). Text clean-up, scrubbing and storage happen after it, in one
place (`notme.ingest.pipeline`), for `text`, the title and `extra["alternatives"]` (other versions
of a message from abandoned branches). Any other extra field must not hold the export's text.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, ClassVar, TypeVar

from notme.corpus.schema import Conversation, Kind
from notme.corpus.text import normalize_identity
from notme.errors import InputError
from notme.ingest.inputs import InputTree

T = TypeVar("T")

# What reading a record of an unexpected shape raises (record["x"] on a list, None + str…).
SHAPE_ERRORS = (TypeError, KeyError, AttributeError, IndexError, ValueError, OverflowError)


class Owner:
    """The owner's names, ids and handles, compared loosely (case, marks, phone formatting)."""

    def __init__(self, identities: Iterable[str] = ()) -> None:
        self.identities = list(dict.fromkeys(i for i in identities if i and i.strip()))
        self._keys = {normalize_identity(i) for i in self.identities}

    def __bool__(self) -> bool:
        return bool(self._keys)

    def matches(self, *candidates: str | None) -> bool:
        return any(c and normalize_identity(c) in self._keys for c in candidates)


@dataclass
class IngestContext:
    tree: InputTree
    owner: Owner
    zone: tzinfo
    strict: bool = False
    # Whole conversations left out, per reason, with the first few places for the report.
    dropped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # How the owner was recognised in this input ("the user role", "is_from_me", "--me Sam"…).
    owner_basis: str | None = None
    # Set when the owner can only be told by name (WhatsApp, a one-chat Telegram export…).
    owner_by_name: bool = False
    # Names the ingester worked out itself (e.g. the other speaker of a chat named after its contact).
    inferred_owner: list[str] = field(default_factory=list)

    def drop(self, reason: str, where: str | None = None) -> None:
        self.dropped[reason] += 1
        if where and len(self.examples[reason]) < 3:
            self.examples[reason].append(where)

    def malformed(self, display: str, where: str, detail: str) -> None:
        """A record whose shape is wrong. Skipped and counted, or an error with --strict."""
        if self.strict:
            raise InputError(display, detail, where=where)
        self.drop(f"malformed: {detail}", where)

    @contextlib.contextmanager
    def guard(self, display: str, where: str) -> Iterator[None]:
        """Build one record inside this: a record of an unexpected shape (a list where an object
        belongs, a missing key…) is skipped and counted as malformed, or an error with --strict."""
        try:
            yield
        except SHAPE_ERRORS as e:
            self.malformed(display, where, f"unexpected {type(e).__name__} ({e})")

    def guarded(self, display: str, where: str, build: Callable[..., T], *args: Any) -> T | None:
        """`build(*args)` under `guard`: its result, or None when the record had an odd shape."""
        with self.guard(display, where):
            return build(*args)
        return None

    def is_owner_named(self, *candidates: str | None) -> bool:
        """For sources with no owner flag: is this speaker one of the owner's names or ids?"""
        self.owner_by_name = True
        return self.owner.matches(*candidates)


def walk_to_root(leaf: str, parent_of: Callable[[str], str | None]) -> list[str]:
    """The ids from the root to `leaf` following `parent_of`; stops at a missing parent or a loop
    (broken exports have both)."""
    path, seen, node = [], set(), leaf
    while node is not None and node not in seen:
        seen.add(node)
        path.append(node)
        node = parent_of(node)
    path.reverse()
    return path


def owner_from_chat_names(chats: Iterable[tuple[str, Iterable[str], bool]]) -> str | None:
    """The owner, from (chat name, speakers, is_group) of an export's chats: a 1:1 chat is named after
    its contact ("WhatsApp Chat with Maya Chen"), so its other speaker is the owner. Only when every
    such chat names the same person; a name that is itself a chat's name is never the owner."""
    chats = [(normalize_identity(name), list(speakers), group) for name, speakers, group in chats]
    chat_names = {name for name, _, _ in chats}
    found: dict[str, str] = {}
    for name, speakers, group in chats:
        keys = {normalize_identity(s): s for s in speakers}
        if not group and len(keys) == 2 and name in keys:
            (other,) = (k for k in keys if k != name)
            found[other] = keys[other]
    if len(found) == 1:
        key, display = next(iter(found.items()))
        return None if key in chat_names else display
    return None


class Ingester:
    name: ClassVar[str]  # the --source value and the corpus "source" field
    title: ClassVar[str]  # shown to the user, e.g. "WhatsApp chat export"
    kind: ClassVar[Kind]  # "assistant" (AI chats: the owner is the user role) or "messaging"
    how_to_export: ClassVar[str]  # one line: where in the app the export is made
    priority: ClassVar[int] = 50  # lower claims first: specific formats 10, generic JSON(L) 90

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        """Which of `names` (entries of `tree` no other ingester took) are this source's export.

        Decide from names and `tree.head_text(name)`; never read whole entries here.
        """
        raise NotImplementedError

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        raise NotImplementedError
