"""The tiny model: an ordinary mlx-lm folder with a real chat tokenizer, reproducible, trainable in seconds."""

from __future__ import annotations

import json

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx_lm.utils import load

from notme.models import write_tiny_model
from notme.models.tiny import TINY_VOCAB_SIZE

CHAT = [
    {"role": "system", "content": "Answer like Sam."},
    {"role": "user", "content": "Are you coming tonight?"},
    {"role": "assistant", "content": "Yes. 8pm, I'll bring the wine."},
]


def test_mlx_lm_loads_it_with_a_chatml_template(tiny_tied_dir):
    model, tokenizer = load(str(tiny_tied_dir))
    text = tokenizer.apply_chat_template(CHAT, tokenize=False)
    assert text == (
        "<|im_start|>system\nAnswer like Sam.<|im_end|>\n<|im_start|>user\nAre you coming tonight?<|im_end|>\n"
        "<|im_start|>assistant\nYes. 8pm, I'll bring the wine.<|im_end|>\n"
    )
    prompt = tokenizer.apply_chat_template(CHAT[:2], add_generation_prompt=True)
    assert tokenizer.decode(prompt).endswith("<|im_start|>assistant\n")
    assert prompt.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3  # special tokens stay whole
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_ids == {2}
    logits = model(mx.array([prompt]))
    assert logits.shape == (1, len(prompt), TINY_VOCAB_SIZE)
    assert model.model.embed_tokens.weight.dtype == mx.float32


def test_any_text_round_trips_through_the_byte_level_tokenizer(tiny_tied_dir):
    _, tokenizer = load(str(tiny_tied_dir))
    for text in ["plain words", "émigré naïve 東京 🙂", "  two spaces\ttab\n\nlines", "code: x = f(a, *b)"]:
        assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_same_arguments_same_files_other_seed_other_weights(tmp_path):
    a = write_tiny_model(tmp_path / "a", seed=3)
    b = write_tiny_model(tmp_path / "b", seed=3)
    c = write_tiny_model(tmp_path / "c", seed=4)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "tokenizer_config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_bytes() == (c / "tokenizer.json").read_bytes()


def test_size_options_shape_the_model(tmp_path):
    folder = write_tiny_model(tmp_path / "m", layers=3, hidden=96, tie_embeddings=False)
    config = json.loads((folder / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["tie_word_embeddings"]) == (3, 96, False)
    model, _ = load(str(folder))
    assert len(model.model.layers) == 3 and model.lm_head.weight.shape == (TINY_VOCAB_SIZE, 96)


def test_a_few_steps_of_training_lower_the_loss(tiny_tied_dir):
    model, tokenizer = load(str(tiny_tied_dir))
    tokens = mx.array([tokenizer.apply_chat_template(CHAT)])
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def loss_fn(m):
        return nn.losses.cross_entropy(m(inputs), targets, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    optimizer = optim.Adam(learning_rate=1e-2)
    losses = []
    for _ in range(15):
        loss, grads = step(model)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
