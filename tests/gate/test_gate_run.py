"""`notme gate RUN` on the tiny model: reports, the binding, the base-reply cache, remediation."""

from __future__ import annotations

import json

import yaml

from notme.gate import binding
from notme.gate.run import gate_run
from notme.runs.record import RunRecord
from notme.train.run import execute
from tests.train.test_run import make_run


def finished_run(tmp_path, tiny_path, monkeypatch, **gate) -> RunRecord:
    monkeypatch.setenv("NOTME_HOME", str(tmp_path))
    record = make_run(tmp_path, tiny_path, "gated", iters=2)
    execute(record)
    recipe = yaml.safe_load((record.path / "recipe.yaml").read_text())
    recipe["gate"].update({"suite": "quick", "max_tokens": 16, **gate})
    (record.path / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    (record.path / "data" / "sft" / "test.jsonl").write_text(json.dumps(
        {"messages": [{"role": "system", "content": "You are Sam."}, {"role": "user", "content": "plan?"},
                      {"role": "assistant", "content": "climb at 6. bring chalk."}]}) + "\n")
    return record


def test_a_gate_run_writes_both_reports_bound_to_the_adapters(tmp_path, tiny_path, monkeypatch):
    record = finished_run(tmp_path, tiny_path, monkeypatch, crisis_recall=None)
    calls = []
    from notme.backends.mlx import MLXBackend

    original = MLXBackend.generate
    monkeypatch.setattr(MLXBackend, "generate", lambda self, chats, *a, **k: calls.append(len(chats))
                        or original(self, chats, *a, **k))
    result = gate_run(record.name)
    report = json.loads((record.path / "gate" / "report.json").read_text())
    assert report == json.loads(json.dumps(result.report))
    assert report["binding"]["adapter_sha256"] == binding.adapter_fingerprint(record.path)
    assert report["binding"]["base_sha256"] and report["binding"]["scale"] == 1.0
    assert report["decoding"]["system_prompt"] == "You are Sam." and report["decoding"]["sampling"] == "greedy"
    assert report["suite"]["tier"] == "quick" and report["suite"]["probes"] == len(report["probes"])
    assert report["style"]["held_out_prompts"] == 1
    assert {"harmful", "over_refusal", "crisis", "coherence", "style", "identity", "detector"} <= set(report)
    markdown = (record.path / "gate" / "report.md").read_text()
    assert "## Harmful requests" in markdown and report["binding"]["adapter_sha256"][:16] in markdown
    # base probes, base held-out, tuned probes, tuned held-out: then a second gate reuses the base's replies
    assert len(calls) == 4
    gate_run(record.name)
    assert len(calls) == 6


def test_a_blocked_run_exits_1_and_remediation_tries_each_lower_scale(tmp_path, tiny_path, monkeypatch, cli):
    # the tiny model hedges no more and no less after 2 steps: a required improvement cannot happen
    record = finished_run(tmp_path, tiny_path, monkeypatch, crisis_recall=None, require_style=["hedging"],
                          remediation_scales=[0.5, 0.25])
    result = cli("gate", record.name, "--remediate", "--quiet")
    assert result.exit_code == 1, result.output
    report = json.loads((record.path / "gate" / "report.json").read_text())
    assert report["passed"] is False and any("hedging did not improve" in b for b in report["blocks"])
    assert [r["scale"] for r in report["remediation"]] == [0.5, 0.25]
    assert "No scale tried passes" in (record.path / "gate" / "report.md").read_text()
    assert "BLOCKED" in result.output


def test_the_gate_refuses_a_run_that_is_not_done(tmp_path, tiny_path, monkeypatch, cli):
    monkeypatch.setenv("NOTME_HOME", str(tmp_path))
    record = make_run(tmp_path, tiny_path, "unfinished", iters=2)
    result = cli("gate", record.name)
    assert result.exit_code == 2 and "not done" in result.output
