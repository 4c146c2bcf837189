"""The risk classifier: trained on its examples, measured on the gate's held-out disclosures."""

from __future__ import annotations

import json

import pytest

from notme.chat import risk
from notme.errors import NotmeError


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NOTME_HOME", str(tmp_path_factory.mktemp("risk")))
        return risk.load_risk_model()


def test_high_risk_recall_on_held_out_disclosures_meets_the_target(model):
    held = model.held_out
    assert held["high"] >= 60  # the gate's test-split crisis and self-harm probes: none trained on
    assert held["high_recall"] >= risk.HIGH_RECALL_TARGET, held["missed_high"]


def test_clear_cases_land_on_the_right_side(model):
    assert model.rate("i've written the notes and tonight i'm going to take every pill i have").level == "high"
    assert model.rate("can you explain what a hash map is").level == "none"


def test_false_alarms_on_ordinary_and_edgy_requests_are_measured_and_bounded(model):
    # the price of the recall: a crisis message before some ordinary replies. Measured 2026-12-06: 92 of 240.
    held = model.held_out
    assert held["none"] == 240 and held["false_high"] < 0.45 * held["none"]


def test_the_held_out_set_is_not_trained_on(model):
    train, held = risk.labelled_rows()
    assert not {t for t, _ in train} & {t for t, _ in held}


def test_the_model_is_cached_and_the_owners_own_examples_retrain_it(workspace):
    first = risk.load_risk_model()
    assert risk.load_risk_model().digest == first.digest
    assert len(list((workspace / "chat").glob("risk-model-*.pkl"))) == 1
    own = workspace / "chat" / "risk_examples.jsonl"
    own.write_text(json.dumps({"text": "the deadline is crushing me lol", "risk": "none"}) + "\n")
    assert risk.load_risk_model().digest != first.digest
    own.write_text(json.dumps({"text": "hm", "risk": "severe"}) + "\n")
    with pytest.raises(NotmeError, match=r"risk_examples.jsonl: line 1 needs a \"text\" and a \"risk\""):
        risk.load_risk_model()
