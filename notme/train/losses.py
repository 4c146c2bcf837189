"""Loss functions in mlx-lm's shape: `loss(model, *batch) -> (loss, trained tokens)`.

Batches come from notme.train.batching: (inputs [B, L], targets [B, R], weights [B, R], positions
[B, R]) for SFT — the R positions of each row where a loss is taken (the owner's tokens, padded with
weight 0), and their targets — plus the cached reference log-probs (chosen, rejected) for preference
pairs. Rows [0, B) of a pair batch are the chosen responses and rows [B, 2B) the rejected ones.

Only those positions go through the vocabulary projection: the hidden states are gathered first.
The projection onto a 50k–150k vocabulary and the cross-entropy over it are a large share of a small
model's step, and most of a sequence (system prompt, context) has no loss.

Training losses are normalised by the trained tokens (or pairs) of the whole global batch, not of
this rank's share: mlx-lm averages gradients over ranks, so with a per-rank mean two ranks would
train differently from one process whenever their shares hold different numbers of tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import mlx.core as mx
import mlx.nn as nn

LossFn = Callable[..., tuple[mx.array, mx.array]]
_EPS = 1e-6


def _global(count: mx.array, training: bool) -> tuple[mx.array, int]:
    """(tokens in the global batch, world size) for training; this rank's own for evaluation,
    where mlx-lm's `evaluate` already weights each rank's mean by its token count."""
    group = mx.distributed.init()
    if not training or group.size() == 1:
        return count, 1
    return mx.stop_gradient(mx.distributed.all_sum(count)), group.size()


# mlx-lm architectures whose output is exactly head(model.model(inputs)); Mistral GGUFs import as llama.
_PLAIN_HEAD = {"llama", "mistral", "qwen2", "qwen3"}


def _vocabulary_head(model: nn.Module) -> Callable[[mx.array], mx.array] | None:
    args = getattr(model, "args", None)
    if getattr(args, "model_type", None) not in _PLAIN_HEAD or not hasattr(model, "model"):
        return None
    return model.model.embed_tokens.as_linear if args.tie_word_embeddings else model.lm_head


def token_losses(model: nn.Module, inputs: mx.array, targets: mx.array, positions: mx.array) -> mx.array:
    """-log p(target) at the given positions ([B, R]), in float32 whatever the model's dtype."""
    head = _vocabulary_head(model)
    if head is None:  # another architecture: the whole output, then the positions
        picked = mx.take_along_axis(model(inputs), positions[..., None], axis=1)
    else:
        picked = head(mx.take_along_axis(model.model(inputs), positions[..., None], axis=1))
    return nn.losses.cross_entropy(picked.astype(mx.float32), targets, reduction="none")


def sft_loss(model: nn.Module, inputs: mx.array, targets: mx.array, weights: mx.array, positions: mx.array,
             unlikelihood: float = 0.0) -> tuple[mx.array, mx.array]:
    """Language-model loss on the owner's tokens, plus `unlikelihood` × a penalty on the hedging
    tokens (weight -1): -log(1 - p), which pushes their probability towards zero (Welleck et al.)."""
    nll = token_losses(model, inputs, targets, positions)
    learn = (weights > 0).astype(mx.float32)
    trained = learn.sum()
    total, world = _global(trained, model.training)
    loss = (nll * learn).sum() * world / mx.maximum(total, 1.0)
    if unlikelihood:
        unlearn = (weights < 0).astype(mx.float32)
        p = mx.minimum(mx.exp(-nll), 1.0 - _EPS)
        penalty = -mx.log1p(-p)
        hedged, world = _global(unlearn.sum(), model.training)
        loss = loss + unlikelihood * (penalty * unlearn).sum() * world / mx.maximum(hedged, 1.0)
    return loss, trained


def sequence_logps(model: nn.Module, inputs: mx.array, targets: mx.array, weights: mx.array,
                   positions: mx.array) -> tuple[mx.array, mx.array]:
    """Summed log-prob of each row's response tokens, and how many there are."""
    mask = (weights > 0).astype(mx.float32)
    logp = -token_losses(model, inputs, targets, positions) * mask
    return logp.sum(axis=-1), mask.sum(axis=-1)


def _log_sigmoid(x: mx.array) -> mx.array:
    return -mx.logaddexp(mx.zeros_like(x), -x)


def _mean_over_pairs(values: mx.array, training: bool) -> mx.array:
    total, world = _global(mx.array(values.shape[0], dtype=mx.float32), training)
    return values.sum() * world / total


def preference_loss(model: nn.Module, inputs: mx.array, targets: mx.array, weights: mx.array,
                    positions: mx.array, ref_chosen: mx.array, ref_rejected: mx.array, *, method: str,
                    beta: float, sft_weight: float = 0.0, simpo_gamma: float = 0.5) -> tuple[mx.array, mx.array]:
    """DPO (against cached reference log-probs), ORPO or SimPO (no reference), with an optional
    SFT term on the chosen responses."""
    logps, counts = sequence_logps(model, inputs, targets, weights, positions)
    half = inputs.shape[0] // 2
    chosen, rejected = logps[:half], logps[half:]
    n_chosen, n_rejected = mx.maximum(counts[:half], 1.0), mx.maximum(counts[half:], 1.0)
    mean_chosen, mean_rejected = chosen / n_chosen, rejected / n_rejected
    if method == "dpo":
        per_pair = -_log_sigmoid(beta * ((chosen - ref_chosen) - (rejected - ref_rejected)))
    elif method == "simpo":
        per_pair = -_log_sigmoid(beta * (mean_chosen - mean_rejected) - simpo_gamma)
    elif method == "orpo":
        # Odds ratio of the length-normalised probabilities; ORPO carries its own SFT term.
        def log_odds(mean_logp: mx.array) -> mx.array:
            return mean_logp - mx.log1p(-mx.minimum(mx.exp(mean_logp), 1.0 - _EPS))

        per_pair = -mean_chosen - beta * _log_sigmoid(log_odds(mean_chosen) - log_odds(mean_rejected))
    else:
        raise ValueError(f"unknown preference method {method!r}")
    if sft_weight:
        per_pair = per_pair - sft_weight * mean_chosen
    return _mean_over_pairs(per_pair, model.training), counts.sum()


def make_sft_loss(unlikelihood: float) -> LossFn:
    return partial(sft_loss, unlikelihood=unlikelihood)


def make_preference_loss(method: str, beta: float, sft_weight: float, simpo_gamma: float) -> LossFn:
    return partial(preference_loss, method=method, beta=beta, sft_weight=sft_weight, simpo_gamma=simpo_gamma)
