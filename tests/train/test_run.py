"""Whole runs on the tiny model: `execute` with resume, distributed training on two local ranks, and
the hostfile / exo-cluster readers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from notme.corpus.store import atomic_write
from notme.errors import NotmeError
from notme.runs.record import RunRecord, read_metrics, read_status
from notme.train import distributed
from notme.train.run import execute

RECIPE = """\
extends: base
base: {{model: {model}}}
domain: {{corpora: [test]}}  # the datasets below are made by hand; nothing is built
use: {{max_seq_length: 48, system_prompt: "You are Sam."}}
mode:
  seed: 3
  sft:
    iters: {iters}
    batch_size: 4
    learning_rate: 3.0e-3
    lr_schedule: {{name: cosine_decay, warmup: 2, min_lr: 0.0}}
    steps_per_report: 2
    steps_per_eval: 4
    save_every: 4
    val_batches: 2
    batching: {batching}
    lora: {{rank: 4, alpha: 8, layers: 2, dropout: 0.0}}
  unlikelihood: null
  preference: {preference}
"""


def sft_records(n: int) -> list[dict]:
    return [{"messages": [{"role": "system", "content": "You are Sam."},
                          {"role": "user", "content": f"plan for day {i}?"},
                          {"role": "assistant", "content": f"climb at {i % 7}. bring chalk."}]} for i in range(n)]


def pair_records(n: int) -> list[dict]:
    return [{"prompt": f"can you help with thing {i}?", "chosen": "no.", "rejected": "Sure! Happy to help. Does that "
             "make sense?", "system": "You are Sam.", "source": "directness"} for i in range(n)]


def make_run(tmp_path: Path, tiny_path: Path, name: str, iters: int = 8, batching: str = "packed",
             preference: str = "null") -> RunRecord:
    """A run record as `notme train` prepares it, with hand-made datasets."""
    from notme.recipe import load_recipe

    recipe_file = tmp_path / f"{name}.yaml"
    recipe_file.write_text(RECIPE.format(model=tiny_path, iters=iters, batching=batching, preference=preference))
    recipe = load_recipe(recipe_file)
    record = RunRecord.create(name, {}, root=tmp_path / "adapters")
    atomic_write(record.path / "recipe.yaml", recipe.to_yaml())
    for kind, records in (("sft", sft_records(24)), ("pref", pair_records(12))):
        (record.path / "data" / kind).mkdir(parents=True)
        for split, part in (("train", records[:-4]), ("valid", records[-4:])):
            with (record.path / "data" / kind / f"{split}.jsonl").open("w") as f:
                f.writelines(json.dumps(r) + "\n" for r in part)
    return record


def adapters(record: RunRecord) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in mx.load(str(record.path / "adapters.safetensors")).items()}


def test_a_run_trains_sft_then_dpo_and_resumes_where_it_stopped(tmp_path, tiny_path, monkeypatch):
    preference = "{iters: 4, batch_size: 2, learning_rate: 1.0e-3, steps_per_report: 2, save_every: 2, " \
                 "steps_per_eval: 4, val_batches: 2}"
    record = make_run(tmp_path, tiny_path, "whole", preference=preference)
    execute(record)
    assert read_status(record.path)["state"] == "done"
    metrics, _ = read_metrics(record.path)
    assert [m["step"] for m in metrics if m.get("stage") == "preference" and "loss" in m] == [2, 4]
    assert (record.path / "reference-train.npz").is_file()
    config = json.loads((record.path / "adapter_config.json").read_text())
    assert config["num_layers"] == 2 and config["lora_parameters"]["rank"] == 4
    expected = adapters(record)

    # The same run killed after its first SFT checkpoint, then `notme train --resume`.
    import notme.train.stage as stage

    broken = make_run(tmp_path, tiny_path, "broken", preference=preference)
    real_save = stage.save_checkpoint

    def save_then_die(run, config, step, *args):
        path = real_save(run, config, step, *args)
        if config.stage == "sft" and step == 4:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(stage, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        execute(broken)
    assert read_status(broken.path)["state"] == "stopped"
    assert "--resume" in read_status(broken.path)["message"]
    monkeypatch.setattr(stage, "save_checkpoint", real_save)
    execute(broken)
    resumed = adapters(broken)
    assert all(np.array_equal(expected[k], resumed[k]) for k in expected)


def test_two_local_ranks_train_like_one_process(tmp_path, tiny_path):
    single = make_run(tmp_path, tiny_path, "single", iters=6)
    execute(single)
    pair = make_run(tmp_path, tiny_path, "pair", iters=6)
    distributed.launch(pair, local_ranks=2)
    assert read_status(pair.path)["state"] == "done"
    one, two = adapters(single), adapters(pair)
    assert one.keys() == two.keys()
    for key in one:
        np.testing.assert_allclose(two[key], one[key], rtol=1e-3, atol=1e-5)  # float32 sums in another order
    # The record is written once (by rank 0), not twice.
    steps = [m["step"] for m in read_metrics(pair.path)[0] if "loss" in m]
    assert steps == [2, 4, 6]


def test_distributed_needs_divisible_batches_and_says_so(tmp_path, tiny_path):
    record = make_run(tmp_path, tiny_path, "odd", iters=2)
    with pytest.raises(NotmeError, match=r"batch_size \(4\) must be a multiple of the number of ranks \(3\)"):
        distributed.launch(record, local_ranks=3)


def test_a_rank_that_fails_fails_the_run_even_though_mlx_launch_exits_0(tmp_path, tiny_path):
    record = make_run(tmp_path, tiny_path, "short", iters=2)
    (record.path / "data" / "sft" / "train.jsonl").write_text("")  # nothing to train on
    with pytest.raises(NotmeError, match="no SFT examples"):
        distributed.launch(record, local_ranks=2)
    assert read_status(record.path)["state"] == "failed"


def test_hostfiles_are_checked(tmp_path):
    good = tmp_path / "hosts.json"
    good.write_text(json.dumps({"backend": "ring", "hosts": [{"ssh": "mac1", "ips": ["10.0.0.1"]},
                                                             {"ssh": "mac2", "ips": ["10.0.0.2"]}]}))
    assert len(distributed.read_hostfile(good)["hosts"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hosts": [{"ssh": "mac1"}]}))
    with pytest.raises(NotmeError, match="host 1 needs"):
        distributed.read_hostfile(bad)
    with pytest.raises(NotmeError, match="no such hostfile"):
        distributed.read_hostfile(tmp_path / "missing.json")
    command = distributed.launch_command(RunRecord(tmp_path), hostfile=good)
    assert command[command.index("--hostfile") + 1] == str(good)
    assert command[-3:] == ["-m", "notme.train.worker", str(tmp_path)]


def serve_state(state: dict) -> tuple[HTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(state).encode()
            self.send_response(200 if self.path == "/state" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def test_hosts_from_an_exo_cluster_state(tmp_path):
    state = {"topology": {"nodes": ["node-a", "node-b"], "connections": {}},
             "nodeIdentities": {"node-a": {"friendlyName": "studio-1"}, "node-b": {"hostname": "studio-2"}},
             "nodeNetwork": {"node-a": {"interfaces": [{"name": "lo0", "ips": ["127.0.0.1"]},
                                                       {"name": "en0", "ips": ["10.0.0.11/24"]}]},
                             "node-b": {"interfaces": [{"name": "en0", "ips": ["10.0.0.12"]}]}}}
    server, url = serve_state(state)
    try:
        hosts = distributed.hostfile_from_exo(url)
    finally:
        server.shutdown()
    assert hosts == {"backend": "ring", "hosts": [{"ssh": "studio-1", "ips": ["10.0.0.11"]},
                                                  {"ssh": "studio-2", "ips": ["10.0.0.12"]}]}


def test_an_unreachable_or_lonely_cluster_is_a_clear_error():
    with pytest.raises(NotmeError, match="cannot reach the exo cluster"):
        distributed.hostfile_from_exo("http://127.0.0.1:9", timeout=2)
    server, url = serve_state({"topology": {"nodes": ["a"]}, "nodeIdentities": {"a": {"hostname": "one"}},
                               "nodeNetwork": {"a": {"ip": "10.0.0.1"}}})
    try:
        with pytest.raises(NotmeError, match="needs two or more"):
            distributed.hostfile_from_exo(url)
    finally:
        server.shutdown()
