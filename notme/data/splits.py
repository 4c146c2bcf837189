"""train / valid / test by conversation: every example of a conversation lands in one split, so a
model is never evaluated on a conversation it was trained on.

Conversations are taken in an order fixed by a hash of the seed and their id, and each goes to the
split furthest below its target share of examples. A WhatsApp chat can hold a hundred examples and
an AI chat one, so counting conversations instead of examples would leave the shares far off.
With at least three conversations, a split with a share above zero is never left empty.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "valid", "test")


def _order_key(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{key}".encode()).hexdigest()


def assign_splits(sizes: dict[str, int], valid: float, test: float, seed: int) -> dict[str, str]:
    """Conversation id → split, from each conversation's number of examples."""
    shares = {"train": max(0.0, 1.0 - valid - test), "valid": valid, "test": test}
    total = sum(sizes.values())
    counts = dict.fromkeys(SPLITS, 0)
    members: dict[str, list[str]] = {s: [] for s in SPLITS}
    assigned: dict[str, str] = {}
    for key in sorted(sizes, key=lambda k: _order_key(seed, k)):
        # Ties go to train first, then valid, then test (SPLITS order; max keeps the first).
        split = max(SPLITS, key=lambda s: shares[s] * total - counts[s] if shares[s] > 0 else float("-inf"))
        assigned[key] = split
        counts[split] += sizes[key]
        members[split].append(key)
    for split in ("valid", "test"):
        donor = max(SPLITS, key=lambda s: len(members[s]))  # train on ties
        if shares[split] > 0 and not members[split] and len(members[donor]) > 1:
            moved = min(members[donor], key=lambda k: (sizes[k], _order_key(seed, k)))
            members[donor].remove(moved)
            members[split].append(moved)
            assigned[moved] = split
    return assigned
