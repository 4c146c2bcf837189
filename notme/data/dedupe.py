"""Exact and near-duplicate owner replies: the first one met is kept, later copies are not trained.

Exact: the same text once case, punctuation and spacing are ignored. Near: MinHash over character
4-grams with an LSH index (datasketch), confirmed by the estimated Jaccard similarity reaching the
recipe's `dedupe.near_threshold`; 1.0 turns near-duplicate removal off. Both are deterministic
(datasketch's permutations come from a fixed seed).
"""

from __future__ import annotations

import re
import zlib
from typing import Any

NUM_PERM = 128
SHINGLE = 4
_NOT_WORD = re.compile(r"[^\w\s]")


def exact_key(text: str) -> str:
    folded = text.casefold()
    key = " ".join(_NOT_WORD.sub("", folded).split())
    return key or " ".join(folded.split())  # emoji-only replies compare as written


def shingles(text: str) -> set[bytes]:
    key = exact_key(text)
    if len(key) <= SHINGLE:
        return {key.encode()}
    return {key[i:i + SHINGLE].encode() for i in range(len(key) - SHINGLE + 1)}


def _crc32(shingle: bytes) -> int:
    # Fast and stable across processes (Python's own hash() of bytes is salted per process).
    return zlib.crc32(shingle)


class ReplyDeduper:
    def __init__(self, near_threshold: float) -> None:
        from datasketch import MinHash, MinHashLSH  # half a second to import (scipy): only when building

        self._minhash = MinHash
        self.near_threshold = near_threshold
        # Drawing the permutations is most of a MinHash's cost: draw them once (seeded, so fixed).
        self._permutations = MinHash(num_perm=NUM_PERM).permutations
        self._exact: set[str] = set()
        self._lsh = MinHashLSH(threshold=near_threshold, num_perm=NUM_PERM) if near_threshold < 1.0 else None
        self._hashes: dict[str, Any] = {}

    def check(self, text: str) -> str | None:
        """"exact" or "near" when `text` repeats a reply seen before; otherwise remembers it, None."""
        key = exact_key(text)
        if key in self._exact:
            return "exact"
        minhash = None
        if self._lsh is not None:
            minhash = self._minhash(num_perm=NUM_PERM, hashfunc=_crc32, permutations=self._permutations,
                                    scheme="affine32")
            minhash.update_batch(sorted(shingles(text)))
            for other in sorted(self._lsh.query(minhash)):
                if minhash.jaccard(self._hashes[other]) >= self.near_threshold:
                    return "near"
        self._exact.add(key)
        if self._lsh is not None and minhash is not None:
            name = str(len(self._hashes))
            self._lsh.insert(name, minhash)
            self._hashes[name] = minhash
        return None
