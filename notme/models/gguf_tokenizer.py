"""The tokenizer a GGUF file describes, written as Hugging Face tokenizer files.

A GGUF carries no tokenizer.json: the vocabulary, merges, token types and special token ids are
metadata under llama.cpp's key names. transformers' GGUF integration rebuilds the `tokenizers`
backend from them without torch; we save it beside a tokenizer_config.json holding the chat
template and the special tokens, which is what mlx-lm's loader reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from notme.errors import InputError

# tokenizer_config.json names of the special tokens, and the GGUF metadata keys of their ids
SPECIAL_TOKEN_KEYS = {
    "bos_token": "tokenizer.ggml.bos_token_id",
    "eos_token": "tokenizer.ggml.eos_token_id",
    "unk_token": "tokenizer.ggml.unknown_token_id",
    "pad_token": "tokenizer.ggml.padding_token_id",
}
# end-of-turn tokens some chat models stop on besides eos (Llama 3's <|eot_id|>, <|eom_id|>)
EXTRA_STOP_KEYS = ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")


def write_tokenizer(gguf_path: Path, metadata: dict, out_dir: Path, chat_template: str | None = None) -> dict:
    """Write tokenizer.json and tokenizer_config.json; return the generation_config.json fields.

    `chat_template` replaces the file's own (or supplies one where the file has none)."""
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_MAPPING, convert_gguf_tokenizer

    template = chat_template or metadata.get("tokenizer.chat_template")
    if not template:
        raise InputError(gguf_path, "the file has no chat template (tokenizer.chat_template): it is probably a "
                                    "base model, not a chat / instruct one. Import the instruct version, or give "
                                    "a template (Jinja text) with --chat-template FILE")
    tokens = metadata.get("tokenizer.ggml.tokens")
    if not tokens:
        raise InputError(gguf_path, "the file has no vocabulary (tokenizer.ggml.tokens)")

    fields = {
        name: metadata[f"tokenizer.{key}"]
        for key, name in GGUF_TOKENIZER_MAPPING["tokenizer"].items()
        if f"tokenizer.{key}" in metadata
    }
    try:
        backend, _ = convert_gguf_tokenizer(metadata.get("general.architecture", ""), fields)
    except Exception as e:  # untrusted input into a library that raises bare Exceptions: a merge naming
        # a token not in the vocabulary, an unknown tokenizer.ggml.model
        raise InputError(gguf_path, f"cannot rebuild its tokenizer ({e})") from e
    backend.save(str(out_dir / "tokenizer.json"))

    config: dict = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": template,
        "add_bos_token": bool(metadata.get("tokenizer.ggml.add_bos_token", fields.get("tokenizer_type") == "llama")),
        "add_eos_token": bool(metadata.get("tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(metadata.get(f"{metadata.get('general.architecture')}.context_length", 2048)),
    }
    for name, key in SPECIAL_TOKEN_KEYS.items():
        token_id = metadata.get(key)
        if token_id is not None and 0 <= token_id < len(tokens):
            config[name] = tokens[token_id]
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")

    generation = {}
    for name in ("bos_token_id", "pad_token_id"):
        key = SPECIAL_TOKEN_KEYS[name.removesuffix("_id")]
        if key in metadata:
            generation[name] = int(metadata[key])
    stops = [int(metadata[key]) for key in (SPECIAL_TOKEN_KEYS["eos_token"], *EXTRA_STOP_KEYS) if key in metadata]
    if stops:
        unique = list(dict.fromkeys(stops))
        generation["eos_token_id"] = unique[0] if len(unique) == 1 else unique
    return generation
