"""Dataset records → token ids with a weight per token, through the model's own chat template.

Weights: 1 = a token the model learns to write (every assistant turn, end-of-turn included),
-1 = a token it learns NOT to write (the unlikelihood suffix of the inverted objective), 0 = context.
mlx-lm's `mask_prompt` trains only the last turn; a conversation with the owner's reply in five
places should teach all five, so the spans are found turn by turn: the tokens of the conversation
up to a turn (with the generation prompt) are a prefix of the tokens up to the end of that turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Message = dict[str, str]


def chat_ids(tokenizer: Any, messages: Sequence[Message], generation_prompt: bool = False) -> list[int]:
    ids = tokenizer.apply_chat_template(list(messages), tokenize=True, add_generation_prompt=generation_prompt,
                                        return_dict=False)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


@dataclass
class Example:
    ids: np.ndarray  # int32, the whole sequence
    weights: np.ndarray  # int8, per token: 1 learn, -1 unlearn, 0 context

    def __len__(self) -> int:
        return len(self.ids)


class Skip(Exception):
    """A record that cannot become a training example; the message is the reason, counted."""


def _spans(tokenizer: Any, messages: Sequence[Message], full: list[int]) -> list[tuple[int, int]]:
    """[start, end) of each assistant turn's tokens (content and end-of-turn) in `full`."""
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = chat_ids(tokenizer, messages[:index], generation_prompt=True) if index else []
        end = len(chat_ids(tokenizer, messages[: index + 1]))
        if full[: len(prefix)] != prefix:
            raise Skip("chat template is not prefix-stable")
        spans.append((len(prefix), end))
    return spans


def sft_example(tokenizer: Any, record: dict[str, Any], max_length: int) -> Example:
    """One SFT record as an example of at most `max_length` + 1 tokens (inputs and shifted targets).

    Too long: the oldest context is dropped (from the left) as long as a trained token remains.
    """
    messages = [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
    if not any(m["role"] == "assistant" for m in messages):
        raise Skip("no assistant turn")
    full = chat_ids(tokenizer, messages)
    weights = np.zeros(len(full), dtype=np.int8)
    suffix = record.get("unlikely_suffix")
    if suffix:
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        if not messages[last]["content"].endswith(suffix):
            raise Skip("unlikely_suffix is not the end of the last assistant turn")
        plain = [*messages[:last], {**messages[last], "content": messages[last]["content"][: -len(suffix)]},
                 *messages[last + 1:]]
        start, end = _divergence(full, chat_ids(tokenizer, plain))
        weights[start:end] = -1  # only the hedge is trained on, and against
    else:
        for start, end in _spans(tokenizer, messages, full):
            weights[start:end] = 1
    return _fit(np.array(full, dtype=np.int32), weights, max_length)


def _divergence(with_suffix: list[int], without: list[int]) -> tuple[int, int]:
    """Where two token lists differ: after their common prefix, before their common suffix."""
    start = 0
    while start < min(len(with_suffix), len(without)) and with_suffix[start] == without[start]:
        start += 1
    tail = 0
    while (tail < len(with_suffix) - start and tail < len(without) - start
           and with_suffix[-1 - tail] == without[-1 - tail]):
        tail += 1
    if len(with_suffix) - tail <= start:
        raise Skip("the unlikely suffix adds no tokens")
    return start, len(with_suffix) - tail


def _fit(ids: np.ndarray, weights: np.ndarray, max_length: int) -> Example:
    limit = max_length + 1
    if len(ids) > limit:
        ids, weights = ids[-limit:], weights[-limit:].copy()
        # A reply whose beginning was cut off would teach the model to start mid-sentence: not trained.
        cut = 0
        while cut < len(weights) and weights[cut] != 0:
            weights[cut] = 0
            cut += 1
    if not weights[1:].any():  # the first token is never a target
        raise Skip("longer than max_seq_length")
    return Example(ids, weights)


@dataclass
class Pair:
    """A preference pair as two sequences sharing a prompt; weights mark the response tokens."""

    chosen: Example
    rejected: Example
    source: str


def preference_pair(tokenizer: Any, record: dict[str, Any], max_length: int) -> Pair:
    messages: list[Message] = []
    if record.get("system"):
        messages.append({"role": "system", "content": record["system"]})
    messages += [{"role": m["role"], "content": m["content"]} for m in record.get("context") or []]
    if record["prompt"]:  # empty: the owner opened the conversation, nobody spoke before the answer
        messages.append({"role": "user", "content": record["prompt"]})
    prompt = chat_ids(tokenizer, messages, generation_prompt=True)
    sides = []
    for side in ("chosen", "rejected"):
        full = chat_ids(tokenizer, [*messages, {"role": "assistant", "content": record[side]}])
        if full[: len(prompt)] != prompt:
            raise Skip("chat template is not prefix-stable")
        weights = np.zeros(len(full), dtype=np.int8)
        weights[len(prompt):] = 1
        sides.append(_fit(np.array(full, dtype=np.int32), weights, max_length))
    return Pair(sides[0], sides[1], str(record.get("source", "")))
