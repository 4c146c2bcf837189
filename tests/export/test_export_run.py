"""`notme export RUN` on a tiny run that really trained and really passed the full gate."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from notme.errors import NotmeError
from notme.export import quantize
from notme.export.run import export_run
from notme.gate.run import gate_run
from notme.runs.record import RunRecord
from notme.train.run import execute
from tests.train.test_run import make_run


@pytest.fixture(scope="module")
def gated_home(tmp_path_factory, tiny_path):
    """A workspace with one tiny run, trained 2 steps and gated on the full suite (it passes: 2 steps change
    nothing the gate measures)."""
    home = tmp_path_factory.mktemp("export-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NOTME_HOME", str(home))
        record = make_run(home, tiny_path, "tiny", iters=2)
        execute(record)
        recipe = yaml.safe_load((record.path / "recipe.yaml").read_text())
        recipe["gate"].update({"suite": "full", "max_tokens": 16, "crisis_recall": None})
        recipe["export"] = {"quants": ["q8_0"], "lora_adapter": True, "targets": []}
        (record.path / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
        assert gate_run(record.name).report["passed"]
    return home, record.name


@pytest.fixture
def run(gated_home, monkeypatch, tmp_path):
    """A fresh copy of the gated run in this test's workspace."""
    home, name = gated_home
    monkeypatch.setenv("NOTME_HOME", str(tmp_path))
    shutil.copytree(home / "adapters" / name, tmp_path / "adapters" / name)
    return RunRecord.open(name)


def test_a_gated_run_exports_checked_gguf_files_a_modelfile_and_a_card(run, cli):
    result = cli("export", run.name, "--quiet")
    assert result.exit_code == 0, result.output
    folder = run.path / "export"
    record = json.loads((folder / "export.json").read_text())
    names = [f["name"] for f in record["files"]]
    assert names == [f"{run.name}-Q8_0.gguf", f"{run.name}-lora.gguf"]  # the recipe's quants; F16 was a step
    assert all((folder / n).is_file() for n in names) and not (folder / f"{run.name}-F16.gguf").exists()
    assert [c["passed"] for c in record["parity"]] == [True, True]
    assert record["parity"][0]["min_cosine"] >= 0.999 and "lora" in record["parity"][1]["file"]
    assert record["verdict"]["tier"] == "full" and record["verdict"]["adapter_sha256"]
    assert set(record["seconds"]) >= {"fuse", "f16", "q8_0", "lora", "reference", "parity q8_0", "total"}
    modelfile = (folder / "Modelfile").read_text()
    assert modelfile.startswith(f"FROM ./{run.name}-Q8_0.gguf\n")
    assert "<|im_start|>{{ .Role }}" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    lora_modelfile = (folder / "Modelfile.lora").read_text()
    assert f"ADAPTER ./{run.name}-lora.gguf" in lora_modelfile and record["lora_base_gguf"] in lora_modelfile
    card = (folder / "README.md").read_text()
    assert "## Safety gate" in card and "PASSED" in card and "## Parity" in card and "Q8_0" in card
    # only aggregates from the data: none of the training text
    trained = [json.loads(line) for line in (run.path / "data" / "sft" / "train.jsonl").read_text().splitlines()]
    assert not any(m["content"] in card for r in trained for m in r["messages"] if len(m["content"]) > 12)
    assert (folder / "mlx" / "config.json").is_file() and "## Safety gate" in (folder / "mlx" / "README.md").read_text()
    assert run.name in result.output and "Q8_0" in result.output
    assert not (run.path / "export.partial").exists()


def test_export_refuses_without_a_passing_full_verdict_and_keeps_the_last_export(run, cli):
    report_path = run.path / "gate" / "report.json"
    report = json.loads(report_path.read_text())
    report_path.write_text(json.dumps(report | {"passed": False, "blocks": ["a flip"]}))
    result = cli("export", run.name)
    assert result.exit_code == 2 and "the safety gate blocked this model" in result.output
    report_path.unlink()
    result = cli("export", run.name)
    assert result.exit_code == 2 and f"notme gate {run.name}" in result.output
    assert not (run.path / "export").exists()


def test_a_failed_parity_check_fails_the_export_and_writes_nothing(run, monkeypatch):
    monkeypatch.setitem(quantize.PARITY_COSINE, "q8_0", 1.5)  # a cosine can never reach it
    from notme.export import run as export_module

    monkeypatch.setattr(export_module, "PARITY_COSINE", quantize.PARITY_COSINE)
    with pytest.raises(NotmeError, match=r"failed its parity check, so nothing was exported:\n.*Q8_0.gguf"):
        export_run(run.name)
    assert not (run.path / "export").exists() and not (run.path / "export.partial").exists()
    failed = json.loads((run.path / "export-failed.json").read_text())
    assert failed["failures"] and failed["parity"][0]["min_cosine"] < 1.5


def test_targets_ollama_lmstudio_and_exo_each_get_the_model(run, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ollama"  # records its arguments and the Modelfile it was given
    fake.write_text("#!/bin/sh\necho \"$@\" > \"$OLLAMA_LOG\"\ncat \"$4\" >> \"$OLLAMA_LOG\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("OLLAMA_LOG", str(tmp_path / "ollama.log"))
    exo = _FakeExo()
    try:
        result = export_run(run.name, quants=["q8_0"], targets=["ollama", "lmstudio", "exo"], lora_adapter=False,
                            destinations={"lmstudio": tmp_path / "lms", "exo": tmp_path / "exo"}, exo_url=exo.url)
    finally:
        exo.close()
    log = (tmp_path / "ollama.log").read_text()
    assert log.startswith(f"create notme-{run.name} -f Modelfile\nFROM ./{run.name}-Q8_0.gguf")
    assert (tmp_path / "lms" / "notme" / run.name / f"{run.name}-Q8_0.gguf").is_file()
    exo_folder = tmp_path / "exo" / "models" / f"local--{run.name}"
    assert (exo_folder / "model.safetensors.index.json").is_file()
    card = (tmp_path / "exo" / "custom_model_cards" / f"local--{run.name}.toml").read_text()
    assert f'model_id = "local/{run.name}"' in card and "n_layers = 2" in card and "in_bytes = " in card
    assert exo.calls == [("POST", "/place_instance", {"model_id": f"local/{run.name}"}),
                         ("GET", f"/instance/await?model_id=local%2F{run.name}&timeout_seconds=300", None)]
    assert any("is placed and ready" in m for m in result.messages)
    assert not result.record["files"][1:]  # --no-lora: the quantized file alone


def test_an_exo_cluster_that_is_down_is_a_message(run, tmp_path):
    with pytest.raises(NotmeError, match=r"cannot reach exo at http://127.0.0.1:9 .*is exo running"):
        export_run(run.name, quants=["q8_0"], targets=["exo"], lora_adapter=False,
                   destinations={"exo": tmp_path / "exo"}, exo_url="http://127.0.0.1:9")


class _FakeExo:
    """exo's two placement calls on 127.0.0.1: place_instance, then an await stream that ends ready."""

    def __init__(self) -> None:
        calls = self.calls = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                calls.append(("POST", self.path, body))
                self._send(b'{"message": "Command received.", "command_id": "c1"}', "application/json")

            def do_GET(self):
                calls.append(("GET", self.path, None))
                events = b': prefill\n\ndata: {"type": "waiting"}\n\ndata: {"type": "ready", "instance": {}}\n\n'
                self._send(events, "text/event-stream")

            def _send(self, body, kind):
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
