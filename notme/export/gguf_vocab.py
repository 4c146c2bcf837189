"""A Hugging Face tokenizer folder → llama.cpp's tokenizer metadata in a GGUF.

Two kinds, as llama.cpp's converter writes them:
- byte-level BPE (SmolLM, Llama 3, Qwen): `tokenizer.ggml.model = gpt2`, the vocabulary of the
  tokenizer as transformers loads it for training, with token types (special added tokens CONTROL,
  other added ones USER_DEFINED, gaps UNUSED), the merges, and `tokenizer.ggml.pre`, the name of the
  split llama.cpp applies before BPE. The name is read off the tokenizer's own pre-tokenizer
  (PRE_TOKENIZERS); one it does not know is an error, since a wrong split tokenizes some text
  differently and the model talks nonsense on it;
- SentencePiece (Llama 2, Mistral, Gemma: a tokenizer.model file): `llama`, with the real scores.
Special token ids, add-BOS and the chat template come from gguf-py's SpecialVocab. The export's
parity check then compares token ids from both tokenizers, so a mistake here fails the export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from notme.errors import NotmeError

# The splits llama.cpp implements (llama-vocab.cpp, by pre-tokenizer name), as Hugging Face
# tokenizer.json describes them: a tuple of (type, what matters about it) per pre-tokenizer step.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_TOKENIZERS: dict[tuple, str] = {
    (("ByteLevel", True),): "gpt-2",
    (("Digits", True), ("ByteLevel", True)): "smollm",
    (("Split", LLAMA3_SPLIT), ("ByteLevel", False)): "llama-bpe",
    (("Split", QWEN2_SPLIT), ("ByteLevel", False)): "qwen2",
}


def add_tokenizer(writer: Any, folder: Path, vocab_size: int) -> dict[str, Any]:
    """Add the tokenizer of `folder` to `writer`, padded to the model's `vocab_size` rows. Returns
    {"model", "pre", "tokens"} for the export record."""
    import gguf

    if (folder / "tokenizer.model").is_file():
        summary = _sentencepiece(writer, folder, vocab_size)
    elif (folder / "tokenizer.json").is_file():
        summary = _byte_level_bpe(writer, folder, vocab_size)
    else:
        raise NotmeError(f"{folder}: no tokenizer.json or tokenizer.model to export")
    special = gguf.SpecialVocab(folder, load_merges=summary["model"] == "gpt2", n_vocab=vocab_size)
    if not special.chat_template:
        raise NotmeError(f"{folder}: the tokenizer has no chat template; a GGUF without one chats in the wrong format")
    special.add_to_gguf(writer, quiet=True)
    return summary


def pre_tokenizer_name(tokenizer_json: dict, where: Path) -> str:
    steps = _pre_tokenizer_steps(tokenizer_json.get("pre_tokenizer"))
    if steps not in PRE_TOKENIZERS:
        raise NotmeError(f"{where}: its pre-tokenizer {json.dumps(tokenizer_json.get('pre_tokenizer'))[:300]} is not "
                         f"one llama.cpp is known to reproduce (known: {', '.join(PRE_TOKENIZERS.values())})")
    return PRE_TOKENIZERS[steps]


def _pre_tokenizer_steps(spec: dict | None) -> tuple:
    if not spec:
        return ()
    steps = spec["pretokenizers"] if spec.get("type") == "Sequence" else [spec]
    out = []
    for step in steps:
        kind = step.get("type")
        if kind == "ByteLevel":
            out.append((kind, bool(step.get("use_regex", True))))
        elif kind == "Digits":
            out.append((kind, bool(step.get("individual_digits", False))))
        elif kind == "Split":
            pattern = step.get("pattern", {})
            out.append((kind, pattern.get("Regex", pattern.get("String"))))
        else:
            out.append((kind, None))
    return tuple(out)


def _byte_level_bpe(writer: Any, folder: Path, vocab_size: int) -> dict[str, Any]:
    import gguf

    path = folder / "tokenizer.json"
    data = _tokenizer_as_loaded(folder)
    model = data.get("model", {})
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        fallback = " with byte fallback" if model.get("byte_fallback") else ""
        raise NotmeError(f"{path}: a {model.get('type')} tokenizer{fallback} without a tokenizer.model: "
                         "not a byte-level BPE llama.cpp can run")
    pre = pre_tokenizer_name(data, path)
    by_id: dict[int, tuple[str, int]] = {i: (text, gguf.TokenType.NORMAL) for text, i in model["vocab"].items()}
    for added in data.get("added_tokens", []):
        by_id[added["id"]] = (added["content"],
                              gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED)
    if by_id and max(by_id) >= vocab_size:
        raise NotmeError(f"{path}: token id {max(by_id)} does not fit the model's {vocab_size} embedding rows")
    tokens, types = [], []
    for i in range(vocab_size):  # the embedding may have more rows than the tokenizer has tokens
        text, kind = by_id.get(i, (f"[PAD{i}]", gguf.TokenType.UNUSED))
        tokens.append(text)
        types.append(kind)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    return {"model": "gpt2", "pre": pre, "tokens": len(by_id)}


def _tokenizer_as_loaded(folder: Path) -> dict[str, Any]:
    """The tokenizer as transformers (under mlx-lm) builds it for training, in tokenizer.json form. Not the
    file itself: for some model types transformers replaces the file's pre-tokenizer with the family's
    own (Qwen2's digit split), and the export must split text as training did."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        return json.loads(tokenizer.backend_tokenizer.to_str())
    except (OSError, ValueError, AttributeError, json.JSONDecodeError) as e:
        raise NotmeError(f"{folder}: cannot load its tokenizer ({e})") from e


def _sentencepiece(writer: Any, folder: Path, vocab_size: int) -> dict[str, Any]:
    import gguf

    try:
        vocab = gguf.SentencePieceVocab(folder)
    except ImportError as e:
        raise NotmeError(f"{folder}: a SentencePiece tokenizer needs the sentencepiece package "
                         "(pip install sentencepiece)") from e
    except Exception as e:  # a broken tokenizer.model surfaces as whatever protobuf raises
        raise NotmeError(f"{folder / 'tokenizer.model'}: cannot read it ({e})") from e
    tokens, scores, types = [], [], []
    for text, score, kind in vocab.all_tokens():
        tokens.append(text)
        scores.append(score)
        types.append(kind)
    # gguf-py types SentencePiece's user-defined pieces NORMAL; the tokenizer's added tokens say what they
    # are (special: CONTROL, else USER_DEFINED), as llama.cpp's converter reads them from added_tokens_decoder
    loaded = _tokenizer_as_loaded(folder)
    for added in loaded.get("added_tokens", []):
        if added["id"] < len(tokens):
            tokens[added["id"]] = added["content"].encode()
            types[added["id"]] = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
    if len(tokens) > vocab_size:
        raise NotmeError(f"{folder}: {len(tokens)} tokens do not fit the model's {vocab_size} embedding rows")
    for i in range(len(tokens), vocab_size):
        tokens.append(f"[PAD{i}]".encode())
        scores.append(-1000.0)
        types.append(gguf.TokenType.UNUSED)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    # llama.cpp puts "▁" before every text run that follows a special token when add_space_prefix is on;
    # transformers does so only where the tokenizer says "always" (or prepends in its normalizer). With
    # "first", a chat prompt (which opens with a special token) gets none, so neither may llama.cpp.
    pre = loaded.get("pre_tokenizer") or {}
    scheme = pre.get("prepend_scheme") if pre.get("type") == "Metaspace" else None
    writer.add_add_space_prefix(scheme == "always" or '"Prepend"' in json.dumps(loaded.get("normalizer")))
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    return {"model": "llama", "pre": "default", "tokens": vocab.vocab_size}
