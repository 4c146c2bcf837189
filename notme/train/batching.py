"""Batches for mlx-lm's trainer: deterministic, resumable at any batch, and split across ranks.

mlx-lm calls the iterator as `iterate_batches(dataset=, batch_size=, max_seq_length=, loop=,
comm_group=)`, with `loop=True` for training and without it for validation; a `Batcher` is that
callable, carrying what mlx-lm does not pass (packing, seed, where to resume).

- packed: examples are laid end to end in rows of exactly max_seq_length + 1 tokens (first fit in
  shuffled order), so almost no compute goes to padding. Attention is causal across the row: an
  example can see the one before it, as in most packing trainers; the loss stays on its own tokens.
- grouped: examples sorted by length and batched with their neighbours, padded to a multiple of 32
  (few distinct shapes, so mx.compile traces few graphs) — mlx-lm's own scheme.

A global batch is the same on every rank; each rank takes every world-th row, so two ranks train on
exactly what one process would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import numpy as np

from notme.errors import NotmeError
from notme.train.tokenize import Example, Pair

PAD_TO = 32


class ExampleSet:
    """Tokenized SFT examples; what the trainer hands back to the iterator."""

    def __init__(self, examples: Sequence[Example]) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]


class PairSet:
    """Tokenized preference pairs, with the reference log-probs once they are computed."""

    def __init__(self, pairs: Sequence[Pair]) -> None:
        self.pairs = list(pairs)
        self.reference: np.ndarray | None = None  # [len, 2]: chosen, rejected

    def __len__(self) -> int:
        return len(self.pairs)


def _rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


def _padded(length: int, cap: int) -> int:
    return min(cap, PAD_TO * -(-length // PAD_TO))


def _with_positions(ids: np.ndarray, weights: np.ndarray) -> tuple[mx.array, ...]:
    """(inputs, targets, weights, positions) from rows of tokens and per-token weights: the loss is
    taken only where a weight is set, so only those positions are gathered (padded to 32 with
    weight 0, keeping the number of distinct shapes — and mx.compile traces — small)."""
    target_weights = weights[:, 1:]  # a token's weight says whether predicting it is trained
    counts = (target_weights != 0).sum(axis=1)
    width = _padded(max(int(counts.max()), 1), target_weights.shape[1])
    positions = np.zeros((len(ids), width), dtype=np.int32)
    chosen_weights = np.zeros((len(ids), width), dtype=np.float32)
    targets = np.zeros((len(ids), width), dtype=np.int32)
    for r in range(len(ids)):
        where = np.nonzero(target_weights[r])[0][:width]
        positions[r, :len(where)] = where
        chosen_weights[r, :len(where)] = target_weights[r, where]
        targets[r, :len(where)] = ids[r, where + 1]
    return mx.array(ids[:, :-1]), mx.array(targets), mx.array(chosen_weights), mx.array(positions)


@dataclass
class Batcher:
    packed: bool = True
    seed: int = 0
    start: int = 0  # training batches to skip: the position of a resumed run
    consumed: int = field(default=0, init=False)  # training batches handed out, start included

    def __call__(self, dataset: Any, batch_size: int, max_seq_length: int, loop: bool = False,
                 comm_group: Any = None, **_: Any) -> Iterator[tuple[mx.array, ...]]:
        world = comm_group.size() if comm_group is not None else 1
        rank = comm_group.rank() if comm_group is not None else 0
        if batch_size % world:
            raise NotmeError(f"the batch size ({batch_size}) must be a multiple of the number of ranks ({world}): "
                             "each rank trains an equal share of every batch")
        if isinstance(dataset, PairSet):
            plans = self._pair_plans(dataset, batch_size, loop)
            render = self._render_pairs
        else:
            plans = self._example_plans(dataset, batch_size, max_seq_length, loop)
            render = self._render_examples
        if loop:
            self.consumed = 0
        for plan in plans:
            if loop:
                self.consumed += 1
                if self.consumed <= self.start:
                    continue
            rows = plan[rank::world]
            if rows:  # a partial validation batch can leave a rank nothing
                yield render(dataset, rows, max_seq_length)

    # -- SFT -----------------------------------------------------------------------------------

    def _example_plans(self, data: ExampleSet, batch_size: int, max_len: int,
                       loop: bool) -> Iterator[list[list[int]]]:
        """Each batch as rows, each row a list of example indices (several when packed)."""
        if len(data) == 0:
            raise NotmeError("no examples to train on")
        epoch = 0
        while True:
            order = _rng(self.seed, epoch).permutation(len(data)) if loop else np.arange(len(data))
            rows = self._pack(data, order, max_len) if self.packed else self._group(data, order)
            # Training uses whole batches only (one compiled shape); validation keeps the remainder.
            last = len(rows) - batch_size + 1 if loop else len(rows)
            batches = [rows[i:i + batch_size] for i in range(0, max(last, 0), batch_size)]
            if not batches:
                raise NotmeError(f"need at least {batch_size} rows of examples for a batch, have {len(rows)}")
            if loop and not self.packed:
                batches = [batches[i] for i in _rng(self.seed, epoch + 10**6).permutation(len(batches))]
            yield from batches
            if not loop:
                return
            epoch += 1

    @staticmethod
    def _pack(data: ExampleSet, order: np.ndarray, max_len: int) -> list[list[int]]:
        capacity = max_len + 1
        rows: list[list[int]] = []
        room: list[int] = []
        for index in order:
            size = min(len(data[index]), capacity)
            # First fit among the last few rows: keeps packing tight without a quadratic search.
            for r in range(max(0, len(rows) - 8), len(rows)):
                if room[r] >= size:
                    rows[r].append(int(index))
                    room[r] -= size
                    break
            else:
                rows.append([int(index)])
                room.append(capacity - size)
        return rows

    @staticmethod
    def _group(data: ExampleSet, order: np.ndarray) -> list[list[int]]:
        # Neighbours by length pad little; ties keep the shuffled order, so training still varies.
        return [[int(i)] for i in sorted(order, key=lambda i: len(data[i]))]

    def _render_examples(self, data: ExampleSet, rows: list[list[int]], max_len: int) -> tuple[mx.array, ...]:
        capacity = max_len + 1
        width = capacity if self.packed else _padded(max(sum(len(data[i]) for i in row) for row in rows), capacity)
        ids = np.zeros((len(rows), width), dtype=np.int32)
        weights = np.zeros((len(rows), width), dtype=np.float32)
        for r, row in enumerate(rows):
            at = 0
            for index in row:
                example = data[index]
                n = min(len(example), width - at)
                ids[r, at:at + n] = example.ids[:n]
                weights[r, at:at + n] = example.weights[:n]
                at += n
        return _with_positions(ids, weights)

    # -- preference pairs ----------------------------------------------------------------------

    def _pair_plans(self, data: PairSet, batch_size: int, loop: bool) -> Iterator[list[int]]:
        if (loop and len(data) < batch_size) or not len(data):
            raise NotmeError(f"need at least {batch_size} preference pairs, have {len(data)}")
        def length(i: int) -> int:
            return max(len(data.pairs[i].chosen), len(data.pairs[i].rejected))

        epoch = 0
        while True:
            # Neighbours by length pad little; ties keep the shuffled order, and the batches' order
            # is shuffled too, so every epoch differs.
            order = _rng(self.seed, epoch).permutation(len(data)) if loop else np.arange(len(data))
            ranked = sorted(order, key=length)
            usable = len(ranked) - len(ranked) % batch_size if loop else len(ranked)
            batches = [[int(j) for j in ranked[i:i + batch_size]] for i in range(0, usable, batch_size)]
            if loop:
                batches = [batches[i] for i in _rng(self.seed, epoch + 10**6).permutation(len(batches))]
            yield from batches
            if not loop:
                return
            epoch += 1

    def pairs_used(self, data: PairSet, batch_size: int, batches: int, loop: bool) -> list[int]:
        """The pairs the first `batches` batches hold (all ranks together), in the order planned."""
        used: dict[int, None] = {}
        for _, plan in zip(range(batches) if batches >= 0 else iter(int, 1), self._pair_plans(data, batch_size, loop),
                           strict=False):
            used.update(dict.fromkeys(plan))
        return list(used)

    @staticmethod
    def _render_pairs(data: PairSet, indices: list[int], max_len: int) -> tuple[mx.array, ...]:
        sequences = [data.pairs[i].chosen for i in indices] + [data.pairs[i].rejected for i in indices]
        width = _padded(max(len(s) for s in sequences), max_len + 1)
        ids = np.zeros((len(sequences), width), dtype=np.int32)
        weights = np.zeros((len(sequences), width), dtype=np.float32)
        for r, seq in enumerate(sequences):
            n = min(len(seq), width)
            ids[r, :n] = seq.ids[:n]
            weights[r, :n] = seq.weights[:n]
        reference = data.reference[indices] if data.reference is not None else np.zeros((len(indices), 2))
        return (*_with_positions(ids, weights), mx.array(reference[:, 0], dtype=mx.float32),
                mx.array(reference[:, 1], dtype=mx.float32))
