"""A tiny float32 llama with a small real tokenizer: the model every unit test trains.

It is an ordinary mlx-lm model folder (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json with a ChatML template), so code that works on it works on real models.
The tokenizer is a byte-level BPE learnt from the bundled sample persona's text; the weights come
from numpy's seeded generator, so the same arguments give the same files on every machine.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import mlx.core as mx
import numpy as np

TINY_VOCAB_SIZE = 1024
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def write_tiny_model(
    out_dir: Path,
    seed: int = 0,
    layers: int = 2,
    hidden: int = 64,
    *,
    tie_embeddings: bool = True,
) -> Path:
    """Write the tiny model to `out_dir` (created; files in it are replaced) and return the folder."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tiny_tokenizer()
    tokenizer.save(str(out_dir / "tokenizer.json"))
    eos_id = tokenizer.token_to_id("<|im_end|>")
    config = tiny_config(layers, hidden, tokenizer.get_vocab_size(), tie_embeddings, eos_id)
    _write_json(out_dir / "config.json", config)
    _write_json(out_dir / "generation_config.json", {"eos_token_id": eos_id, "pad_token_id": 0})
    _write_json(out_dir / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHATML_TEMPLATE,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": config["max_position_embeddings"],
    })
    mx.save_safetensors(str(out_dir / "model.safetensors"), tiny_weights(config, seed), metadata={"format": "mlx"})
    return out_dir


def tiny_config(layers: int, hidden: int, vocab_size: int, tie_embeddings: bool, eos_id: int) -> dict:
    if hidden % 32:
        raise ValueError("hidden must be a multiple of 32 (heads of 16 dimensions, K/V heads half as many)")
    heads = hidden // 16
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "intermediate_size": 2 * hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": heads // 2,
        "head_dim": 16,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": vocab_size,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": tie_embeddings,
        "eos_token_id": eos_id,
        "torch_dtype": "float32",
    }


def tiny_weights(config: dict, seed: int) -> dict[str, mx.array]:
    """Every parameter mlx-lm's model of `config["model_type"]` expects: norms at 1 (0 for Gemma, whose
    norms scale by 1 + w), biases N(0, 0.01), matrices N(0, 1/fan_in) — logits of order 1."""
    import importlib

    from mlx.utils import tree_flatten

    module = importlib.import_module(f"mlx_lm.models.{config['model_type']}")
    model = module.Model(module.ModelArgs.from_dict(config))
    shapes = {name: value.shape for name, value in tree_flatten(model.parameters())}
    rng = np.random.default_rng(seed)
    weights = {}
    for name in sorted(shapes):
        shape = shapes[name]
        if len(shape) == 1 and "norm" in name:
            weights[name] = (mx.zeros if config["model_type"] == "gemma" else mx.ones)(shape, dtype=mx.float32)
        elif len(shape) == 1:  # biases (Qwen2's Q/K/V): small, not zero, so an exporter that drops them shows
            weights[name] = mx.array(rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1))
        else:
            values = rng.standard_normal(shape, dtype=np.float32) / np.float32(np.sqrt(shape[-1]))
            weights[name] = mx.array(values)
    return weights


def train_tiny_tokenizer():
    """Byte-level BPE (every byte is a token, so any text encodes) with ChatML special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_training_text(), trainer=trainer)
    return tokenizer


def _training_text() -> list[str]:
    text = files("notme.samples").joinpath("persona.yaml").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
