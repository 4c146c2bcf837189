"""Property-based: every ingester, fed mangled versions of its own format, either reads them or
stops with a clear error (NotmeError) — never another exception — and a failed ingest leaves the
corpus exactly as it was, with no scratch file behind.

Inputs start from each source's sample writer (small) and are mangled three ways:
  - structure: one node of the JSON document (or one JSON line, one SQLite cell, a few text lines)
    replaced by an arbitrary value — this is what finds unguarded `record["key"]` and type errors;
  - bytes: truncated, a slice deleted, garbage inserted;
  - both, on a zip: the export zipped after mangling.
"""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
import zipfile
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notme import samples
from notme.corpus.store import Corpus
from notme.corpus.timestamps import parse_iso_utc
from notme.errors import NotmeError
from notme.ingest.pipeline import ingest
from notme.samples import (
    chatgpt,
    claude_ai,
    claude_code,
    discord,
    gemini,
    imessage,
    openai_jsonl,
    sharegpt,
    signal,
    telegram,
    whatsapp,
)
from tests.conftest import corpus_bytes

PERSON = samples.persona()
CHATS = PERSON["assistant_chats"][:2]
CONTACTS = PERSON["contacts"][:1]
GROUPS = PERSON["groups"][:1]
ME = samples.owner_identities(PERSON)

# source → writer of a small export of it (a folder, a file or a zip).
WRITERS: dict[str, Callable[[Path], Path]] = {
    "chatgpt": lambda d: chatgpt.write_sample(d, CHATS, PERSON),
    "claude_ai": lambda d: claude_ai.write_sample(d, CHATS, PERSON),
    "claude_code": lambda d: claude_code.write_sample(d, CHATS, PERSON),
    "gemini": lambda d: gemini.write_sample(d, CHATS, PERSON),
    "openai_jsonl": lambda d: openai_jsonl.write_sample(d, CHATS, PERSON),
    "sharegpt": lambda d: sharegpt.write_sample(d, CHATS, PERSON),
    "whatsapp": lambda d: whatsapp.write_sample(d, CONTACTS, GROUPS, PERSON),
    "imessage": lambda d: imessage.write_sample(d, CONTACTS, GROUPS, PERSON),
    "telegram": lambda d: telegram.write_sample(d, CONTACTS, GROUPS, PERSON),
    "discord": lambda d: discord.write_sample(d, CONTACTS, GROUPS, PERSON),
    "signal": lambda d: signal.write_sample(d, CONTACTS, GROUPS, PERSON),
}

_TEMPLATES: dict[str, Path] = {}


def template(source: str, cache: Path) -> Path:
    """The sample export as a plain folder (zips unpacked), written once per test session."""
    if source not in _TEMPLATES:
        written = WRITERS[source](cache / source / "written")
        folder = cache / source / "folder"
        if written.is_file() and zipfile.is_zipfile(written):
            with zipfile.ZipFile(written) as archive:
                archive.extractall(folder / written.stem)
        elif written.is_file():
            folder.mkdir(parents=True)
            shutil.copy(written, folder / written.name)
        else:
            shutil.copytree(written, folder)
        _TEMPLATES[source] = folder
    return _TEMPLATES[source]


def main_file(folder: Path) -> Path:
    """The export's data file: the largest one that is not media."""
    candidates = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in
                  {".json", ".jsonl", ".txt", ".db", ""}]
    return max(candidates, key=lambda p: p.stat().st_size)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False),
                         st.text(max_size=30))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)), max_leaves=6)


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _replace(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    document = copy.deepcopy(document)
    node = document
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return document


@st.composite
def structural_mangle(draw: st.DrawFn, path: Path) -> Callable[[], None]:
    """One change to the file's structure, applied in place by the returned function."""
    if path.suffix == ".db" or path.name == "chat.db":
        db = sqlite3.connect(path)
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        table = draw(st.sampled_from(sorted(tables)))
        columns = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
        rows = [r for (r,) in db.execute(f"SELECT rowid FROM {table}")]
        db.close()
        column = draw(st.sampled_from(columns))
        row = draw(st.sampled_from(rows)) if rows else None
        value = draw(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.text(max_size=20), st.binary(max_size=20)))

        def apply_sql() -> None:
            conn = sqlite3.connect(path)
            try:
                with conn:
                    conn.execute(f'UPDATE {table} SET "{column}" = ? WHERE rowid = ?', (value, row))
            except sqlite3.IntegrityError:
                pass  # a typed primary key refuses the value: the file stays as it was
            finally:
                conn.close()

        return apply_sql
    text = path.read_text(encoding="utf-8-sig")
    try:
        document = json.loads(text)
        lines = None
    except json.JSONDecodeError:
        document = None
        lines = text.splitlines()
    if document is not None:
        where = draw(st.sampled_from(_paths(document)))
        mangled = _replace(document, where, draw(json_values))
        return lambda: path.write_text(json.dumps(mangled), encoding="utf-8")
    assert lines is not None
    if path.suffix in (".jsonl", ".json") or (lines and lines[0].lstrip().startswith("{")):
        # JSON Lines: one record's structure.
        index = draw(st.integers(0, len(lines) - 1))
        try:
            record = json.loads(lines[index])
            where = draw(st.sampled_from(_paths(record)))
            lines[index] = json.dumps(_replace(record, where, draw(json_values)))
        except json.JSONDecodeError:
            lines[index] = draw(st.text(max_size=40))
    else:
        # Text: lines dropped, doubled or replaced by arbitrary text.
        for _ in range(draw(st.integers(1, 3))):
            index = draw(st.integers(0, max(0, len(lines) - 1)))
            action = draw(st.sampled_from(["drop", "double", "replace", "insert"]))
            if action == "drop" and lines:
                del lines[index]
            elif action == "double" and lines:
                lines.insert(index, lines[index])
            else:
                junk = draw(st.text(max_size=60).filter(lambda s: "\n" not in s and "\r" not in s))
                if action == "replace" and lines:
                    lines[index] = junk
                else:
                    lines.insert(index, junk)
    return lambda: path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@st.composite
def byte_mangle(draw: st.DrawFn, path: Path) -> Callable[[], None]:
    data = path.read_bytes()
    size = len(data)
    action = draw(st.sampled_from(["truncate", "delete", "insert", "overwrite"]))
    a = draw(st.integers(0, size))
    b = draw(st.integers(a, min(size, a + 200)))
    junk = draw(st.binary(min_size=1, max_size=64))
    mangled = {"truncate": data[:a], "delete": data[:a] + data[b:], "insert": data[:a] + junk + data[a:],
               "overwrite": data[:a] + junk + data[a + len(junk):]}[action]
    return lambda: path.write_bytes(mangled)


def _check_corpus_well_formed() -> None:
    for conversation in Corpus("default").conversations():
        assert conversation.id.startswith(f"{conversation.source}:")
        assert conversation.messages
        for message in conversation.messages:
            assert message.text.strip() and message.id
            assert isinstance(message.is_me, bool)
            if message.timestamp is not None:
                assert parse_iso_utc(message.timestamp).tzinfo == UTC


def _ingest_and_check(target: Path, source: str | None, *, record_level: bool = False) -> None:
    """`record_level`: the mangling changed one record, which the ingester must skip or name
    precisely — the pipeline's last-resort "unexpected data" error (the whole ingest refused) is a
    failure of the ingester's guards."""
    before = corpus_bytes()
    try:
        ingest([target], me=ME, source=source)
    except NotmeError as e:
        assert corpus_bytes() == before, "a failed ingest changed the corpus"
        assert not (record_level and "unexpected data" in str(e)), f"an odd record refused the whole ingest: {e}"
    corpus_dir = Corpus("default").path
    leftovers = [p.name for p in corpus_dir.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    assert not leftovers, f"scratch files left behind: {leftovers}"
    _check_corpus_well_formed()


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("templates")


@pytest.fixture
def baseline(exports):
    """Something already stored, so 'unchanged after a failure' means something."""
    c = chatgpt.ChatGPTConversation("already stored", chatgpt.datetime(2025, 1, 1, tzinfo=UTC))
    c.user("keep me")
    ingest([chatgpt.write_export(exports / "baseline", [c])])


SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def fresh_copy(folder: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A new copy of a template export for one example, and its data file inside the copy."""
    work = tmp_path / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(folder, work)
    return work, work / main_file(folder).relative_to(folder)


@pytest.mark.parametrize("source", sorted(WRITERS))
def test_structurally_mangled_exports_are_read_or_refused_cleanly(source, cache, tmp_path, baseline):
    folder = template(source, cache)

    @SETTINGS
    @given(data=st.data())
    def run(data):
        work, target_file = fresh_copy(folder, tmp_path)
        data.draw(structural_mangle(target_file))()
        _ingest_and_check(work, data.draw(st.sampled_from([None, source])), record_level=True)

    run()


@pytest.mark.parametrize("source", sorted(WRITERS))
def test_byte_mangled_exports_are_read_or_refused_cleanly(source, cache, tmp_path, baseline):
    folder = template(source, cache)

    @SETTINGS
    @given(data=st.data())
    def run(data):
        work, target_file = fresh_copy(folder, tmp_path)
        data.draw(byte_mangle(target_file))()
        as_zip = data.draw(st.booleans())
        if as_zip:
            archive = tmp_path / "export.zip"
            with zipfile.ZipFile(archive, "w") as z:
                for p in sorted(work.rglob("*")):
                    if p.is_file():
                        z.write(p, p.relative_to(work).as_posix())
            target = archive
        else:
            target = work
        _ingest_and_check(target, data.draw(st.sampled_from([None, source])))

    run()


def test_every_source_has_a_mangling_test():
    from notme.ingest.registry import names

    assert sorted(WRITERS) == sorted(names())
