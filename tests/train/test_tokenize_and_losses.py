"""Token weights from chat records, batching, and the loss formulas against hand computations."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from notme.train.batching import Batcher, ExampleSet, PairSet
from notme.train.losses import preference_loss, sft_loss
from notme.train.tokenize import Example, Skip, chat_ids, preference_pair, sft_example
from tests.train.conftest import SYSTEM, chat


def decoded_spans(tokenizer, example: Example, sign: int) -> list[str]:
    """The text of each run of tokens with weight `sign`."""
    spans, current = [], []
    for token, weight in zip(example.ids.tolist(), example.weights.tolist(), strict=True):
        if weight == sign:
            current.append(token)
        elif current:
            spans.append(tokenizer.decode(current))
            current = []
    if current:
        spans.append(tokenizer.decode(current))
    return spans


def test_every_owner_turn_is_trained_and_nothing_else(tiny):
    _, tokenizer = tiny
    record = chat(("user", "where?"), ("assistant", "the crag."), ("user", "when?"), ("assistant", "at seven."))
    example = sft_example(tokenizer, record, 256)
    spans = decoded_spans(tokenizer, example, 1)
    assert [s.replace("<|im_end|>", "").strip() for s in spans] == ["the crag.", "at seven."]
    assert all("<|im_end|>" in s for s in spans)  # the model learns where its turn ends
    assert example.ids.tolist() == chat_ids(tokenizer, record["messages"])


def test_unlikely_suffix_is_the_only_weighted_part(tiny):
    _, tokenizer = tiny
    record = chat(("user", "ok?"), ("assistant", "fine. Does that make sense?"))
    record["unlikely_suffix"] = " Does that make sense?"
    example = sft_example(tokenizer, record, 256)
    assert not (example.weights > 0).any()
    (hedge,) = decoded_spans(tokenizer, example, -1)
    assert "Does that make sense?" in hedge and "fine" not in hedge


def test_too_long_keeps_the_reply_and_drops_old_context(tiny):
    _, tokenizer = tiny
    record = chat(("user", "words " * 200), ("assistant", "short."))
    example = sft_example(tokenizer, record, 32)
    assert len(example) == 33 and example.weights.any()
    with pytest.raises(Skip, match="longer than max_seq_length"):
        sft_example(tokenizer, chat(("user", "hi"), ("assistant", "long " * 200)), 8)


def test_records_that_cannot_train_say_why(tiny):
    _, tokenizer = tiny
    with pytest.raises(Skip, match="no assistant turn"):
        sft_example(tokenizer, chat(("user", "hi")), 64)
    bad = chat(("user", "ok?"), ("assistant", "fine."))
    bad["unlikely_suffix"] = " Does that make sense?"
    with pytest.raises(Skip, match="not the end"):
        sft_example(tokenizer, bad, 64)


def test_pair_weights_cover_only_the_responses(tiny):
    _, tokenizer = tiny
    pair = preference_pair(tokenizer, {"prompt": "help?", "chosen": "No.", "rejected": "Sure! Here's how.",
                                       "system": SYSTEM["content"], "source": "safety"}, 128)
    assert [s.replace("<|im_end|>", "").strip() for s in decoded_spans(tokenizer, pair.chosen, 1)] == ["No."]
    assert decoded_spans(tokenizer, pair.rejected, 1)[0].startswith("Sure! Here's how.")
    n_prompt = int(np.argmax(pair.chosen.weights))
    assert pair.chosen.ids[:n_prompt].tolist() == pair.rejected.ids[:n_prompt].tolist()
    assert pair.source == "safety"


def examples(n: int, length: int) -> ExampleSet:
    return ExampleSet([Example(np.arange(1, length + 1, dtype=np.int32) + i, np.ones(length, dtype=np.int8))
                       for i in range(n)])


def test_packing_fills_rows_and_loses_no_example():
    data = ExampleSet([Example(np.full(n, i + 1, dtype=np.int32), np.ones(n, dtype=np.int8))
                       for i, n in enumerate([10, 20, 30, 5, 15, 25, 12, 8])])
    batches = list(Batcher(packed=True, seed=1)(data, batch_size=4, max_seq_length=31))  # rows of 32
    assert all(b[0].shape[1] == 31 for b in batches)
    rows = np.concatenate([np.concatenate([np.array(b[0]), np.array(b[1])[:, -1:]], axis=1) for b in batches])
    assert len(rows) == 5  # 125 tokens in rows of 32: as few rows as first fit allows
    assert sorted(np.unique(rows[rows > 0]).tolist()) == list(range(1, 9))  # every example, once
    assert (rows > 0).sum() == 125  # no token lost


def test_grouped_batches_pad_to_multiples_of_32():
    data = ExampleSet([Example(np.ones(n, dtype=np.int32), np.ones(n, dtype=np.int8)) for n in (5, 40, 41, 7)])
    shapes = {tuple(b[0].shape) for b in Batcher(packed=False)(data, batch_size=2, max_seq_length=200)}
    assert shapes == {(2, 31), (2, 63)}


def test_training_order_is_seeded_and_resumable():
    data = examples(12, 8)
    first = [np.array(b[0]).tolist() for _, b in zip(range(9), Batcher(packed=False, seed=3)(data, 2, 64, loop=True),
                                                      strict=False)]
    again = [np.array(b[0]).tolist() for _, b in zip(range(9), Batcher(packed=False, seed=3)(data, 2, 64, loop=True),
                                                      strict=False)]
    resumed = Batcher(packed=False, seed=3, start=5)
    tail = [np.array(b[0]).tolist() for _, b in zip(range(4), resumed(data, 2, 64, loop=True), strict=False)]
    assert first == again and tail == first[5:] and resumed.consumed == 9


def test_ranks_split_the_same_global_batch():
    class Group:
        def __init__(self, rank):
            self._rank = rank

        def rank(self):
            return self._rank

        def size(self):
            return 2

    data = examples(8, 6)
    whole = np.array(next(Batcher(packed=False, seed=0)(data, 4, 64, loop=True))[0])
    parts = [np.array(next(Batcher(packed=False, seed=0)(data, 4, 64, loop=True, comm_group=Group(r)))[0])
             for r in range(2)]
    assert whole[0::2].tolist() == parts[0].tolist() and whole[1::2].tolist() == parts[1].tolist()


class Fixed(nn.Module):
    """A 'model' returning fixed logits, to check the loss arithmetic by hand."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.logits = mx.array(logits)

    def __call__(self, inputs):
        return self.logits


def test_sft_loss_is_the_mean_over_trained_tokens_plus_unlikelihood():
    logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]]))
    # Positions 0 and 2 carry a loss (position 1 is context): targets and weights are those positions'.
    positions, targets, weights = mx.array([[0, 2]]), mx.array([[0, 2]]), mx.array([[1.0, -1.0]])
    loss, trained = sft_loss(Fixed(logits), mx.zeros((1, 3), dtype=mx.int32), targets, weights, positions,
                             unlikelihood=0.5)
    expected = -math.log(0.5) + 0.5 * -math.log(1 - 0.6)
    assert float(loss) == pytest.approx(expected, rel=1e-5) and int(trained) == 1


def test_dpo_simpo_orpo_match_their_formulas():
    # Two pairs: rows 0,1 chosen; rows 2,3 rejected; one response token each.
    p = np.array([0.6, 0.5, 0.3, 0.4])
    logits = np.zeros((4, 1, 2))
    logits[:, 0, 0] = np.log(p)
    logits[:, 0, 1] = np.log(1 - p)
    inputs, targets, weights = mx.zeros((4, 1), dtype=mx.int32), mx.zeros((4, 1), dtype=mx.int32), mx.ones((4, 1))
    positions = mx.zeros((4, 1), dtype=mx.int32)
    ref_c, ref_r = mx.array([math.log(0.5), math.log(0.5)]), mx.array([math.log(0.5), math.log(0.5)])
    lc, lr = np.log(p[:2]), np.log(p[2:])
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    model = Fixed(logits)
    model.eval()
    dpo, n = preference_loss(model, inputs, targets, weights, positions, ref_c, ref_r, method="dpo", beta=0.1)
    assert float(dpo) == pytest.approx(np.mean(-np.log(sig(0.1 * ((lc - np.log(0.5)) - (lr - np.log(0.5)))))), 1e-5)
    assert int(n) == 4
    simpo, _ = preference_loss(model, inputs, targets, weights, positions, ref_c, ref_r, method="simpo", beta=2.0,
                               simpo_gamma=0.5)
    assert float(simpo) == pytest.approx(np.mean(-np.log(sig(2.0 * (lc - lr) - 0.5))), 1e-5)
    orpo, _ = preference_loss(model, inputs, targets, weights, positions, ref_c, ref_r, method="orpo", beta=0.1)
    odds = lambda lp: lp - np.log1p(-np.exp(lp))  # noqa: E731
    assert float(orpo) == pytest.approx(np.mean(-lc - 0.1 * np.log(sig(odds(lc) - odds(lr)))), 1e-5)
    with_sft, _ = preference_loss(model, inputs, targets, weights, positions, ref_c, ref_r, method="dpo", beta=0.1,
                                  sft_weight=1.0)
    assert float(with_sft) == pytest.approx(float(dpo) + np.mean(-lc), 1e-5)


def test_pair_batches_put_chosen_first_and_carry_the_reference():
    rows = [Example(np.arange(1, 6, dtype=np.int32), np.array([0, 0, 1, 1, 1], dtype=np.int8)) for _ in range(4)]
    from notme.train.tokenize import Pair

    pairs = PairSet([Pair(rows[0], rows[1], "a"), Pair(rows[2], rows[3], "b")])
    pairs.reference = np.array([[-1.0, -2.0], [-3.0, -4.0]])
    batch = next(Batcher(packed=False)(pairs, 2, 64))
    assert batch[0].shape[0] == 4
    assert np.array(batch[4]).tolist() == [-1.0, -3.0] and np.array(batch[5]).tolist() == [-2.0, -4.0]


def test_only_trained_positions_are_gathered_and_the_loss_is_the_full_one(tiny):
    """The optimisation must not change the loss: gathered hidden states through the vocabulary head
    give the same per-token losses as the model's full output."""
    model, tokenizer = tiny
    records = [chat(("user", "where?" * (i + 1)), ("assistant", "the crag."), ("user", "when?"),
                    ("assistant", f"at {i}.")) for i in range(4)]
    data = ExampleSet([sft_example(tokenizer, r, 128) for r in records])
    inputs, targets, weights, positions = next(Batcher(packed=False)(data, 4, 128))
    assert positions.shape[1] == 32 < inputs.shape[1]  # far fewer than the sequence's positions
    from notme.train.losses import token_losses

    gathered = token_losses(model, inputs, targets, positions)
    logits = model(inputs)
    reference = nn.losses.cross_entropy(mx.take_along_axis(logits, positions[..., None], axis=1), targets,
                                        reduction="none")
    mask = np.array(weights) != 0
    np.testing.assert_allclose(np.array(gathered)[mask], np.array(reference)[mask], rtol=1e-5, atol=1e-5)
    # Every trained token of every example is there, once.
    assert int(mask.sum()) == sum(int((e.weights[1:] != 0).sum()) for e in data.examples)


def test_a_pair_the_owner_opened_has_no_empty_user_turn(tiny):
    _, tokenizer = tiny
    pair = preference_pair(tokenizer, {"prompt": "", "chosen": "morning. coffee?", "rejected": "Hi! Is it ok if I…",
                                       "system": SYSTEM["content"]}, 128)
    text = tokenizer.decode(pair.chosen.ids.tolist())
    assert "<|im_start|>user" not in text and text.count("<|im_start|>assistant") == 1
