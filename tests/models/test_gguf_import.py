"""GGUF → MLX folder: weights, config and tokenizer come back as they went in.

The GGUF files are written from the tiny model the way llama.cpp's converter writes them (Q/K rows
permuted for llama); llama.cpp itself reading one of them proves the writer's conventions."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest
from mlx_lm.utils import load

from notme.backends.llamacpp import open_llama
from notme.errors import NotmeError
from notme.models import import_gguf
from notme.models.gguf_file import _iter_with_mlx, _iter_with_numpy, read_gguf
from notme.models.gguf_import import llama3_rope_factors, mlx_name, model_config, unpermute_rows
from notme.models.tiny import write_tiny_model
from tests.models.conftest import copy_model
from tests.models.ggufs import llama_cpp_requantize

CHAT = [{"role": "user", "content": "Lunch at 1? The usual place."}, {"role": "assistant", "content": "Yes, see you."}]


def weights(folder):
    return mx.load(str(folder / "model.safetensors"))


def max_difference(a: dict, b: dict) -> float:
    assert sorted(a) == sorted(b)
    return max(float(mx.abs(a[k] - b[k]).max()) for k in a)


def test_float32_llama_round_trips_exactly(tiny_dir, make_gguf, tmp_path):
    folder = import_gguf(make_gguf(), tmp_path / "imported")
    assert max_difference(weights(tiny_dir), weights(folder)) == 0.0  # the Q/K permutation was undone
    original = json.loads((tiny_dir / "config.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    for key in ("model_type", "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
                "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "vocab_size",
                "max_position_embeddings", "tie_word_embeddings"):
        assert config[key] == original[key], key
    model_a, tokenizer_a = load(str(tiny_dir))
    model_b, tokenizer_b = load(str(folder))
    prompt = tokenizer_a.apply_chat_template(CHAT)
    assert tokenizer_b.apply_chat_template(CHAT) == prompt
    assert mx.array_equal(model_a(mx.array([prompt])), model_b(mx.array([prompt])))


def test_tied_embeddings_stay_tied(tiny_tied_dir, make_gguf, tmp_path):
    folder = import_gguf(make_gguf(model_dir=tiny_tied_dir), tmp_path / "imported")
    assert json.loads((folder / "config.json").read_text())["tie_word_embeddings"] is True
    assert "lm_head.weight" not in weights(folder)
    assert max_difference(weights(tiny_tied_dir), weights(folder)) == 0.0


def test_llama_cpp_reads_the_test_ggufs_like_mlx_reads_the_model(tiny_dir, make_gguf):
    """The fixtures are real GGUFs in llama.cpp's layout: same logits from llama.cpp and from MLX."""
    gguf = make_gguf()
    model, tokenizer = load(str(tiny_dir))
    prompt = tokenizer.apply_chat_template(CHAT)
    llama = open_llama(str(gguf), logits_all=True, verbose=False, n_ctx=64, n_threads=1)
    llama.eval(prompt)
    reference = np.array(llama.scores[: len(prompt)])
    ours = np.array(model(mx.array([prompt]))[0])
    assert np.corrcoef(reference.ravel(), ours.ravel())[0, 1] > 0.99999
    assert llama.tokenize("Lunch at 1? émigré 🙂".encode(), add_bos=False, special=True) == tokenizer.encode(
        "Lunch at 1? émigré 🙂", add_special_tokens=False
    )


@pytest.mark.parametrize("qtype", ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
def test_quantized_files_dequantize_like_gguf_py(make_gguf, tmp_path, qtype):
    """Every type is read (by MLX for F16/Q4_0/Q4_1/Q8_0, else by numpy) and agrees with gguf-py's
    reference dequantizers, value for value. K-quants: test_k_quants_from_llama_cpp."""
    gguf = make_gguf(qtype=qtype, name=f"tiny-{qtype}.gguf")
    file = read_gguf(gguf)
    reference = dict(_iter_with_numpy(file))
    folder = import_gguf(gguf, tmp_path / f"imported-{qtype}")
    imported = weights(folder)
    config = model_config(file)
    for info, values in reference.items():
        name = mlx_name(file, info)
        if ".q_proj." in name:
            values = unpermute_rows(values, config["num_attention_heads"])
        elif ".k_proj." in name:
            values = unpermute_rows(values, config["num_key_value_heads"])
        assert mx.array_equal(imported[name], values), name


def test_k_quants_from_llama_cpp(make_gguf, tmp_path):
    """A Q4_K_M file made by llama.cpp (Q4_K and Q6_K tensors: rows of 256, hence a wider model)
    imports to exactly the values llama.cpp itself dequantizes it to, and gives llama.cpp's logits."""
    wide = write_tiny_model(tmp_path / "wide", layers=1, hidden=256, tie_embeddings=False)
    k_quant = llama_cpp_requantize(make_gguf(model_dir=wide), tmp_path / "q4km.gguf", "MOSTLY_Q4_K_M")
    assert {"Q4_K", "Q6_K"} <= set(read_gguf(k_quant).tensor_types())
    as_f32 = llama_cpp_requantize(k_quant, tmp_path / "q4km-as-f32.gguf", "ALL_F32")
    folder = import_gguf(k_quant, tmp_path / "from-q4km")
    assert max_difference(weights(folder), weights(import_gguf(as_f32, tmp_path / "from-f32"))) == 0.0

    model, tokenizer = load(str(folder))
    prompt = tokenizer.apply_chat_template(CHAT)
    llama = open_llama(str(k_quant), logits_all=True, verbose=False, n_ctx=64, n_threads=1)
    llama.eval(prompt)
    reference = np.array(llama.scores[: len(prompt)])
    ours = np.array(model(mx.array([prompt]))[0])
    # llama.cpp multiplies K-quants with 8-bit-quantized activations: close, not identical
    assert np.corrcoef(reference.ravel(), ours.ravel())[0, 1] > 0.999


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0", "Q4_1", "F16"])
def test_mlx_and_numpy_readers_agree(make_gguf, qtype):
    file = read_gguf(make_gguf(qtype=qtype))
    by_mlx = {info.name: values for info, values in _iter_with_mlx(file)}
    by_numpy = {info.name: values for info, values in _iter_with_numpy(file)}
    assert max_difference(by_mlx, by_numpy) == 0.0


@pytest.mark.parametrize(("qtype", "tolerance"), [
    ("F16", 1e-3), ("BF16", 8e-3), ("Q8_0", 0.01), ("Q5_1", 0.07), ("Q5_0", 0.07), ("Q4_1", 0.14), ("Q4_0", 0.14),
])
def test_quantized_import_stays_close_to_the_original(tiny_dir, make_gguf, tmp_path, qtype, tolerance):
    """Independent of any dequantizer: each value is within the type's step of what was written."""
    folder = import_gguf(make_gguf(qtype=qtype), tmp_path / qtype)
    original, imported = weights(tiny_dir), weights(folder)
    for name, value in original.items():
        error = mx.abs(imported[name] - value).max(axis=-1) / mx.abs(value).max(axis=-1)  # per row
        assert float(error.max()) < tolerance, name


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_dtype_of_the_written_weights(make_gguf, tmp_path, dtype):
    folder = import_gguf(make_gguf(), tmp_path / dtype, dtype=dtype)
    assert {v.dtype for v in weights(folder).values()} == {getattr(mx, dtype)}
    assert json.loads((folder / "notme.json").read_text())["dtype"] == dtype


def test_qwen2_keeps_its_rows_and_biases(tiny_dir, make_gguf, tmp_path):
    """Qwen files are not permuted by llama.cpp; qwen2 has biases on Q, K and V."""
    original = dict(weights(tiny_dir))
    rng = np.random.default_rng(1)
    for layer in range(2):
        for part in ("q_proj", "k_proj", "v_proj"):
            rows = original[f"model.layers.{layer}.self_attn.{part}.weight"].shape[0]
            original[f"model.layers.{layer}.self_attn.{part}.bias"] = mx.array(rng.standard_normal(rows, np.float32))
    config = json.loads((tiny_dir / "config.json").read_text())
    folder = import_gguf(make_gguf(arch="qwen2", weights=original), tmp_path / "qwen2")
    imported = json.loads((folder / "config.json").read_text())
    assert imported["model_type"] == "qwen2" and imported["architectures"] == ["Qwen2ForCausalLM"]
    assert max_difference(original, weights(folder)) == 0.0
    model, _ = load(str(folder))
    assert model.model.layers[0].self_attn.q_proj.bias.shape == (config["hidden_size"],)


def test_qwen3_with_query_and_key_norms(tiny_dir, make_gguf, tmp_path):
    original = dict(weights(tiny_dir))
    rng = np.random.default_rng(2)
    for layer in range(2):
        for part in ("q_norm", "k_norm"):
            original[f"model.layers.{layer}.self_attn.{part}.weight"] = mx.array(1 + rng.random(16, np.float32))
    folder = import_gguf(make_gguf(arch="qwen3", weights=original), tmp_path / "qwen3")
    assert json.loads((folder / "config.json").read_text())["model_type"] == "qwen3"
    assert max_difference(original, weights(folder)) == 0.0
    model, tokenizer = load(str(folder))
    assert model(mx.array([tokenizer.apply_chat_template(CHAT)])).shape[-1] == original[
        "model.embed_tokens.weight"].shape[0]


def test_llama3_rope_factors_become_rope_scaling(make_gguf, tmp_path):
    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}
    factors = llama3_rope_factors(scaling, 500000.0, 16)
    assert factors.min() == 1.0 and factors.max() == 8.0  # the test covers all three regions
    assert ((factors > 1) & (factors < 8)).any()
    gguf = make_gguf(extra_tensors={"rope_freqs.weight": factors}, extra_metadata={"llama.rope.freq_base": 500000.0})
    folder = import_gguf(gguf, tmp_path / "llama3")
    assert json.loads((folder / "config.json").read_text())["rope_scaling"] == scaling
    assert "rope_freqs.weight" not in weights(folder)
    load(str(folder))  # mlx-lm builds its Llama3RoPE from it


def test_unknown_rope_factors_are_refused(make_gguf, tmp_path):
    factors = np.linspace(1, 3, 8, dtype=np.float32)
    with pytest.raises(NotmeError, match=r"rope_freqs"):
        import_gguf(make_gguf(extra_tensors={"rope_freqs.weight": factors}), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_linear_rope_scaling(make_gguf, tmp_path):
    gguf = make_gguf(extra_metadata={"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": 4.0})
    folder = import_gguf(gguf, tmp_path / "linear")
    assert json.loads((folder / "config.json").read_text())["rope_scaling"] == {"type": "linear", "factor": 4.0}


def test_import_writes_what_mlx_lm_and_notme_need(make_gguf, tmp_path):
    gguf = make_gguf()
    folder = import_gguf(gguf, tmp_path / "imported")
    names = {p.name for p in folder.iterdir()}
    assert names == {"config.json", "generation_config.json", "model.safetensors", "notme.json",
                     "tokenizer.json", "tokenizer_config.json"}
    info = json.loads((folder / "notme.json").read_text())
    assert info["source"] == str(gguf.resolve()) and info["architecture"] == "llama"
    assert info["quantization"] == {"F32": len(read_gguf(gguf).tensors)}
    assert info["parameters"] == sum(v.size for v in weights(folder).values())
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert tokenizer_config["eos_token"] == "<|im_end|>" and tokenizer_config["add_bos_token"] is False
    assert json.loads((folder / "generation_config.json").read_text())["eos_token_id"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_an_existing_folder_is_kept_unless_overwrite(make_gguf, tmp_path, tiny_dir):
    target = copy_model(tiny_dir, tmp_path / "taken")
    with pytest.raises(NotmeError, match=r"already exists"):
        import_gguf(make_gguf(), target)
    assert not (target / "notme.json").exists()
    import_gguf(make_gguf(), target, overwrite=True)
    assert (target / "notme.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_chat_template_can_be_supplied(make_gguf, tmp_path):
    template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    folder = import_gguf(make_gguf(chat_template=None), tmp_path / "base", chat_template=template)
    _, tokenizer = load(str(folder))
    assert tokenizer.apply_chat_template(CHAT, tokenize=False) == "user: Lunch at 1? The usual place.\n" \
                                                                  "assistant: Yes, see you.\n"
