"""The GGUF writers on tiny models of every supported architecture, checked in llama.cpp itself."""

from __future__ import annotations

import json
import shutil
from importlib.resources import files

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from notme.errors import NotmeError
from notme.export import gguf_vocab
from notme.export.gguf_lora import write_lora_gguf
from notme.export.gguf_model import write_gguf
from notme.export.parity import MLXReference, check_gguf
from notme.export.quantize import quantize_gguf
from notme.models.fuse import fuse_adapters
from notme.models.gguf_file import read_gguf
from tests.export.conftest import tiny_of_type


@pytest.mark.parametrize("model_type", ["llama", "mistral", "qwen2", "qwen3", "gemma"])
def test_each_architecture_exports_with_the_same_tokens_prompt_and_logits(model_type, tiny_path, tmp_path, load_mlx):
    folder = tiny_of_type(tiny_path, tmp_path / model_type, model_type)
    gguf = write_gguf(folder, tmp_path / "model-F16.gguf")
    model, tokenizer = load_mlx(folder)
    parity = check_gguf(MLXReference(model, tokenizer, system="Be brief."), gguf, threshold=0.999)
    assert parity.passed, parity.failures
    assert all(p.same_prompt and p.same_tokens for p in parity.prompts)
    assert parity.min_cosine > 0.9995 and parity.stop_tokens_ok
    assert not list(tmp_path.glob("*.partial"))


def test_a_sentencepiece_tokenizer_exports_with_its_scores_and_special_tokens(tiny_path, tmp_path, load_mlx):
    import sentencepiece

    from notme.models.tiny import CHATML_TEMPLATE, tiny_config, tiny_weights

    folder = tmp_path / "spm"
    folder.mkdir()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(files("notme.samples").joinpath("persona.yaml").read_text(encoding="utf-8"))
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "tokenizer"), vocab_size=400, model_type="bpe",
        user_defined_symbols=["<|im_start|>", "<|im_end|>"], byte_fallback=True, unk_id=0, bos_id=1, eos_id=2,
        pad_id=-1, minloglevel=2)
    (folder / "tokenizer.vocab").unlink()
    config = tiny_config(2, 64, 400, True, eos_id=4)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "chat_template": CHATML_TEMPLATE, "bos_token": "<s>",
        "eos_token": "<|im_end|>", "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False}))
    mx.save_safetensors(str(folder / "model.safetensors"), tiny_weights(config, 0))
    gguf = write_gguf(folder, tmp_path / "spm.gguf")
    meta = read_gguf(gguf).metadata
    assert meta["tokenizer.ggml.model"] == "llama" and len(set(meta["tokenizer.ggml.scores"])) > 100
    assert meta["tokenizer.ggml.token_type"][3] == 4  # <|im_start|>: user-defined, matched whole by llama.cpp
    model, tokenizer = load_mlx(folder)
    parity = check_gguf(MLXReference(model, tokenizer), gguf, threshold=0.999)
    assert parity.passed, parity.failures


def test_the_file_carries_what_llama_cpp_reads_as_its_converter_writes_it(tiny_path, tmp_path):
    gguf = read_gguf(write_gguf(tiny_path, tmp_path / "m.gguf", name="tiny"))
    meta = gguf.metadata
    assert meta["general.architecture"] == "llama" and meta["general.name"] == "tiny"
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "gpt-2"
    assert meta["tokenizer.chat_template"] == json.loads((tiny_path / "tokenizer_config.json").read_text())[
        "chat_template"]
    assert meta["tokenizer.ggml.token_type"][:3] == [3, 3, 3]  # ChatML specials are CONTROL tokens
    assert meta["tokenizer.ggml.eos_token_id"] == 2 and len(meta["tokenizer.ggml.merges"]) > 100
    types = {t.name: t.type_name for t in gguf.tensors}
    assert types["blk.0.attn_norm.weight"] == "F32" and types["blk.0.attn_q.weight"] == "F16"
    assert "output.weight" not in types  # tied embeddings: llama.cpp falls back to token_embd


def test_a_tokenizer_whose_split_llama_cpp_lacks_is_refused_and_a_wrong_name_fails_parity(tiny_path, tmp_path,
                                                                                           load_mlx, monkeypatch):
    folder = tmp_path / "odd"
    shutil.copytree(tiny_path, folder)
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["pre_tokenizer"] = {"type": "Whitespace"}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(NotmeError, match=r"tokenizer.json: its pre-tokenizer .*Whitespace.* is not one llama.cpp"):
        write_gguf(folder, tmp_path / "odd.gguf")
    assert not (tmp_path / "odd.gguf").exists()
    # claiming Llama 3's split for a GPT-2 one: the file loads, and parity catches the different tokens
    monkeypatch.setitem(gguf_vocab.PRE_TOKENIZERS, (("ByteLevel", True),), "llama-bpe")
    gguf = write_gguf(tiny_path, tmp_path / "wrong.gguf")
    model, tok = load_mlx(tiny_path)
    parity = check_gguf(MLXReference(model, tok), gguf, threshold=0.999)
    assert not parity.passed
    assert any("tokenizes the prompt differently" in f for f in parity.failures), parity.failures


def test_a_template_that_renders_differently_and_another_models_weights_fail_parity(tiny_path, tmp_path, load_mlx):
    changed = tmp_path / "changed"
    shutil.copytree(tiny_path, changed)
    config = json.loads((changed / "tokenizer_config.json").read_text())
    config["chat_template"] = config["chat_template"].replace("'\n' + message['content']", "': ' + message['content']")
    (changed / "tokenizer_config.json").write_text(json.dumps(config))
    model, tok = load_mlx(tiny_path)
    reference = MLXReference(model, tok)
    parity = check_gguf(reference, write_gguf(changed, tmp_path / "template.gguf"), threshold=0.999)
    assert any("chat template renders a different prompt" in f for f in parity.failures), parity.failures
    other = tiny_of_type(tiny_path, tmp_path / "other", "llama")  # same tokenizer, other weights
    parity = check_gguf(reference, write_gguf(other, tmp_path / "other.gguf"), threshold=0.999)
    assert any("logit cosine" in f for f in parity.failures) and parity.min_cosine < 0.9


def test_q8_0_keeps_parity_and_is_smaller(tiny_path, tmp_path, load_mlx):
    f16 = write_gguf(tiny_path, tmp_path / "m-F16.gguf")
    q8 = quantize_gguf(f16, tmp_path / "m-Q8_0.gguf", "q8_0")
    assert q8.stat().st_size < f16.stat().st_size
    assert {t.type_name for t in read_gguf(q8).tensors if len(t.shape) == 2} == {"Q8_0"}
    model, tok = load_mlx(tiny_path)
    assert check_gguf(MLXReference(model, tok), q8, threshold=0.999).passed


def test_quantizing_a_broken_file_is_a_message_with_llama_cpps_reason(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(NotmeError, match=r"broken.gguf: llama.cpp could not quantize it to q8_0"):
        quantize_gguf(broken, tmp_path / "out.gguf", "q8_0")
    assert not list(tmp_path.glob("out.gguf*"))


def _random_adapters(base, folder, rank=4, scale=2.0, dora=False):
    """Adapters as mlx-lm saves them, with B not zero so they change the output."""
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import load

    model, _ = load(str(base))
    model.freeze()
    params = {"rank": rank, "scale": scale, "dropout": 0.0}
    linear_to_lora_layers(model, 2, params, use_dora=dora)
    rng = np.random.default_rng(0)
    weights = {name: mx.array(rng.standard_normal(value.shape, dtype=np.float32) * 0.2)
               for name, value in tree_flatten(model.trainable_parameters())}
    folder.mkdir()
    mx.save_safetensors(str(folder / "adapters.safetensors"), weights)
    (folder / "adapter_config.json").write_text(json.dumps({"fine_tune_type": "dora" if dora else "lora",
                                                            "num_layers": 2, "lora_parameters": params}))
    return folder


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
def test_the_lora_adapter_gguf_on_the_base_gguf_matches_the_fused_model(model_type, tiny_path, tmp_path, load_mlx):
    base = tiny_of_type(tiny_path, tmp_path / "base", model_type)
    adapters = _random_adapters(base, tmp_path / "run")
    fused = fuse_adapters(base, adapters, tmp_path / "fused")
    base_gguf = write_gguf(base, tmp_path / "base.gguf")
    lora = write_lora_gguf(adapters, base, tmp_path / "lora.gguf")
    meta = read_gguf(lora).metadata
    assert meta["general.type"] == "adapter" and meta["adapter.lora.alpha"] == pytest.approx(8.0)
    model, tok = load_mlx(fused)
    reference = MLXReference(model, tok)
    with_adapter = check_gguf(reference, base_gguf, threshold=0.999, lora=lora)
    assert with_adapter.passed, with_adapter.failures
    assert check_gguf(reference, base_gguf, threshold=0.999).min_cosine < 0.99  # the adapter really applies


def test_dora_adapters_have_no_gguf_adapter_form(tiny_path, tmp_path):
    adapters = _random_adapters(tiny_path, tmp_path / "run", dora=True)
    with pytest.raises(NotmeError, match="dora adapters have no GGUF adapter form"):
        write_lora_gguf(adapters, tiny_path, tmp_path / "lora.gguf")


def test_unsupported_and_quantized_models_are_refused_by_name(tiny_path, tmp_path):
    folder = tmp_path / "phi"
    shutil.copytree(tiny_path, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"model_type": "phi3"}))
    with pytest.raises(NotmeError, match=r"'phi3' model to GGUF is not supported; supported: gemma, llama"):
        write_gguf(folder, tmp_path / "x.gguf")
    (folder / "config.json").write_text(json.dumps(config | {"quantization": {"bits": 4, "group_size": 64}}))
    with pytest.raises(NotmeError, match="quantized: fuse it dequantized"):
        write_gguf(folder, tmp_path / "x.gguf")
