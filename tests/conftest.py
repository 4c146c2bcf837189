"""Shared test set-up. Every test runs in its own workspace (NOTME_HOME), and sockets may only
reach loopback (pytest-socket, configured in pyproject.toml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from notme.corpus.schema import Conversation
from notme.corpus.store import Corpus


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

    def run(*args: str):
        return runner.invoke(notme_cli, [str(a) for a in args], catch_exceptions=False)

    return run


def load_json(path: Path):
    return json.loads(path.read_text())
