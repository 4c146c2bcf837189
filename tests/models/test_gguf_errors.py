"""Files the importer must refuse with a message naming the file and what to do — and no half-written
model folder left behind."""

from __future__ import annotations

import json
import random
import shutil

import mlx.core as mx
import numpy as np
import pytest

from notme.errors import InputError, NotmeError
from notme.models import import_gguf
from notme.models.gguf_file import read_gguf
from tests.models.conftest import copy_model


def refused(gguf, out, match: str, error=InputError) -> NotmeError:
    with pytest.raises(error, match=match) as caught:
        import_gguf(gguf, out)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    return caught.value


def test_not_a_gguf(tmp_path):
    text = tmp_path / "notes.gguf"
    text.write_text("just some text, not a model\n")
    error = refused(text, tmp_path / "out", "not a GGUF file")
    assert error.path == str(text)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    refused(empty, tmp_path / "out", "cannot read it as GGUF|not a GGUF")
    refused(tmp_path / "absent.gguf", tmp_path / "out", "no such file")


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.01, 8 / 9000])
def test_truncated_files(make_gguf, tmp_path, keep):
    whole = make_gguf().read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[: max(5, int(len(whole) * keep))])
    refused(cut, tmp_path / "out", "truncated")


def test_corrupt_bytes_give_an_error_or_a_model_never_a_crash(make_gguf, tmp_path):
    """Bytes flipped anywhere in the header: an InputError, or (a flip in a string) a model that
    still loads; never a traceback from deep inside a library."""
    whole = bytearray(make_gguf().read_bytes())
    header_end = read_gguf(make_gguf()).data_start
    rng = random.Random(0)
    outcomes = set()
    for attempt in range(60):
        mangled = bytearray(whole)
        for _ in range(3):
            mangled[rng.randrange(4, header_end)] = rng.randrange(256)
        path = tmp_path / f"mangled-{attempt}.gguf"
        path.write_bytes(bytes(mangled))
        try:
            import_gguf(path, tmp_path / f"out-{attempt}")
            outcomes.add("imported")
        except NotmeError:
            outcomes.add("refused")
    assert "refused" in outcomes


def test_unsupported_architecture(make_gguf, tmp_path):
    refused(make_gguf(arch="gemma"), tmp_path / "out", "architecture 'gemma' is not supported; supported: llama")


def test_no_chat_template(make_gguf, tmp_path):
    refused(make_gguf(chat_template=None), tmp_path / "out", "no chat template.*--chat-template")


def test_unsupported_quantization_type(make_gguf, tmp_path):
    refused(make_gguf(qtype="Q8_1"), tmp_path / "out", "stored as Q8_1, which cannot be converted")


def test_mixture_of_experts(make_gguf, tmp_path):
    refused(make_gguf(extra_metadata={"llama.expert_count": 8}), tmp_path / "out", "mixture-of-experts")


def test_an_unexpected_tensor(make_gguf, tmp_path):
    extra = {"blk.0.attn_sinks.weight": np.ones(4, np.float32)}
    refused(make_gguf(extra_tensors=extra), tmp_path / "out", "unexpected tensor blk.0.attn_sinks.weight")


def test_a_missing_tensor(tiny_dir, make_gguf, tmp_path):
    weights = dict(mx.load(str(tiny_dir / "model.safetensors")))
    del weights["model.layers.1.mlp.down_proj.weight"]
    refused(make_gguf(weights=weights), tmp_path / "out", "1 tensors are missing, e.g. model.layers.1.mlp.down_proj")


def test_an_unknown_tokenizer(make_gguf, tmp_path):
    refused(make_gguf(tokenizer_model="rwkv"), tmp_path / "out", "cannot rebuild its tokenizer")


def test_a_bad_dtype(make_gguf, tmp_path):
    with pytest.raises(NotmeError, match=r"dtype 'int8' is not one of auto, float32, bfloat16, float16"):
        import_gguf(make_gguf(), tmp_path / "out", dtype="int8")


def test_a_merge_outside_the_vocabulary(tiny_dir, make_gguf, tmp_path):
    broken = copy_model(tiny_dir, tmp_path / "broken-tokenizer")
    tokenizer = json.loads((broken / "tokenizer.json").read_text())
    tokenizer["model"]["merges"][0] = ["zzz", "qqq"]
    (broken / "tokenizer.json").write_text(json.dumps(tokenizer))
    refused(make_gguf(model_dir=broken), tmp_path / "out", "cannot rebuild its tokenizer")


def test_not_enough_disk_space(make_gguf, tmp_path, monkeypatch):
    monkeypatch.setattr("notme.models.gguf_import.shutil.disk_usage", lambda path: shutil._ntuple_diskusage(1, 1, 1))
    refused(make_gguf(), tmp_path / "out", r"needs 0.0 GB .* 0.0 GB are free", NotmeError)
