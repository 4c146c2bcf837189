"""The main screens as SVG snapshots (pytest-textual-snapshot), at 80×24 and in both themes, from
hand-written run records with fixed times. After a deliberate change to a screen, review the new SVGs
(`pytest tests/dash/test_snapshots.py --snapshot-update`, then open the report or the files in
tests/dash/__snapshots__/) before committing them."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from notme.dash.app import DashApp
from tests.dash.records import NOW, synthetic_runs

SMALL = (80, 24)


@pytest.fixture
def runs(workspace):
    return synthetic_runs(workspace / "adapters")


def app(theme: str = "textual-dark") -> DashApp:
    return DashApp(clock=lambda: NOW, theme=theme, refresh_every=3600)


def test_runs_dark_80x24(runs, snap_compare):
    assert snap_compare(app(), terminal_size=SMALL)


def test_runs_light_80x24(runs, snap_compare):
    assert snap_compare(app("textual-light"), terminal_size=SMALL)


def test_run_detail_loss_curves(runs, snap_compare):
    # the newest-first table: down ×5 is the oldest run, trained through SFT and DPO, gated and exported
    assert snap_compare(app(), press=["down"] * 5 + ["enter"], terminal_size=(100, 30))


def test_run_detail_80x24_light(runs, snap_compare):
    assert snap_compare(app("textual-light"), press=["down", "down", "enter"], terminal_size=SMALL)


def test_gate_report_of_a_blocked_run(runs, snap_compare):
    assert snap_compare(app(), press=["down"] * 4 + ["g", "right"], terminal_size=(100, 30))


def test_compare_figures(runs, snap_compare):
    presses = ["down"] * 4 + ["space", "down", "space", "m", "right", "right", "right"]
    assert snap_compare(app(), press=presses, terminal_size=(100, 30))


def test_corpus(workspace, snap_compare):
    from notme import samples
    from notme.ingest.pipeline import ingest

    exports = samples.write_sample_exports(workspace / "exports")
    person = samples.persona()
    ingest(exports, "sample", me=samples.owner_identities(person), zone=ZoneInfo(person["timezone"]))

    async def loaded(pilot):
        await pilot.press("c")
        while not pilot.app.screen.query_one("#sources").row_count:
            await pilot.pause(0.05)

    assert snap_compare(app(), run_before=loaded, terminal_size=(100, 30))


def test_confirmation(runs, snap_compare):
    assert snap_compare(app(), press=["a"], terminal_size=SMALL)
