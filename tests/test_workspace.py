"""Where data lives: NOTME_HOME, else the checkout, else ~/notme."""

from __future__ import annotations

from pathlib import Path

import notme.workspace as ws


def test_notme_home_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("NOTME_HOME", str(tmp_path / "elsewhere"))
    assert ws.workspace() == tmp_path / "elsewhere"
    assert ws.corpora_dir() == tmp_path / "elsewhere" / "corpora"
    assert ws.adapters_dir() == tmp_path / "elsewhere" / "adapters"


def test_a_source_checkout_is_its_own_workspace(monkeypatch):
    monkeypatch.delenv("NOTME_HOME")
    checkout = Path(ws.__file__).resolve().parent.parent
    assert ws.workspace() == checkout  # this test runs from the checkout: corpora/ sits beside notme/


def test_an_installed_package_uses_home(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTME_HOME")
    site = tmp_path / "site-packages" / "notme"
    site.mkdir(parents=True)
    monkeypatch.setattr(ws, "__file__", str(site / "workspace.py"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ws.workspace() == tmp_path / "home" / "notme"


def test_the_current_directory_does_not_matter(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTME_HOME")
    before = ws.workspace()
    monkeypatch.chdir(tmp_path)
    assert ws.workspace() == before
