"""The watcher: latest values from the end of metrics.jsonl, only new bytes read on refresh, flags."""

from __future__ import annotations

import builtins
import io
import json
import os
import socket

import pytest

from notme.dash.watch import RunsWatcher, read_latest
from notme.runs.record import RunRecord
from tests.dash.records import NOW, metrics, synthetic_runs, write_run


class CountingReads:
    """Bytes read from metrics.jsonl files, through Path.open and open."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        real_open = io.open
        counter = self

        class Counted(io.BufferedReader):
            def read(self, size=-1):
                data = super().read(size)
                counter.bytes += len(data)
                return data

            def __next__(self):
                line = super().__next__()
                counter.bytes += len(line)
                return line

        def counted_open(file, mode="r", *args, **kwargs):
            if str(file).endswith("metrics.jsonl") and "b" in mode and "r" in mode:
                return Counted(real_open(file, "rb", buffering=0))
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", counted_open)
        monkeypatch.setattr(io, "open", counted_open)


def test_the_table_values_are_the_latest_of_each_kind(tmp_path):
    runs = synthetic_runs(tmp_path / "adapters")
    watcher = RunsWatcher(tmp_path / "adapters")
    assert watcher.refresh() == {p.name for p in runs.values()}
    done = watcher.runs[runs["passed"].name]
    last = [r for r in metrics("preference", 10, start_loss=0.69) if "loss" in r][-1]
    assert done.latest["stage"] == "preference" and done.latest["loss"] == last["loss"]
    assert done.stage == "export" and done.gate_text == "passed (full)"
    assert watcher.runs[runs["blocked"].name].gate_text == "blocked (full)"
    running = watcher.runs[runs["running"].name]
    assert (running.step, running.total, running.stage) == (30, 60, "sft")
    # 30 sft steps and 20 preference steps left at 0.5 steps/s
    assert running.eta_seconds() == pytest.approx((30 + 20) / 0.5)
    assert watcher.refresh() == set()  # nothing changed on disk: nothing reported


def test_read_latest_reads_back_only_as_far_as_it_needs(tmp_path):
    rows = metrics("sft", 20000, every=1)
    path = write_run(tmp_path, "long-20261201-000001", "long", "running", rows)
    size = (path / "metrics.jsonl").stat().st_size
    latest, corrupt, offset = read_latest(path)
    assert offset == size and corrupt == 0
    assert latest["loss"] == rows[-2]["loss"] and latest["val_loss"] == rows[-1]["val_loss"]
    # a val_loss far back: found by reading further, every other value from the last chunk
    only_train = [r for r in rows if "val_loss" not in r]
    only_train.insert(100, {"stage": "sft", "step": 100, "val_loss": 9.5})
    path = write_run(tmp_path, "long-20261201-000002", "long", "running", only_train)
    latest, _, _ = read_latest(path)
    assert latest["val_loss"] == 9.5 and latest["loss"] == only_train[-1]["loss"]


def test_a_refresh_reads_only_the_appended_bytes(tmp_path, monkeypatch):
    path = write_run(tmp_path, "grow-20261201-000001", "grow", "running", metrics("sft", 20000, every=1))
    size = (path / "metrics.jsonl").stat().st_size
    watcher = RunsWatcher(tmp_path)
    reads = CountingReads(monkeypatch)
    watcher.refresh()
    assert 0 < reads.bytes < size / 20  # startup: the file's end, not the file
    reads.bytes = 0
    line = json.dumps({"stage": "sft", "step": 20001, "loss": 0.5, "tokens_per_second": 999.0}) + "\n"
    with (path / "metrics.jsonl").open("a") as f:
        f.write(line)
    assert watcher.refresh() == {path.name}
    assert reads.bytes == len(line)
    view = watcher.runs[path.name]
    assert view.latest["loss"] == 0.5 and view.latest["tokens_per_second"] == 999.0
    reads.bytes = 0
    assert watcher.refresh() == set() and reads.bytes == 0


def test_a_half_written_line_waits_and_a_corrupt_line_is_counted(tmp_path):
    path = write_run(tmp_path, "half-20261201-000001", "half", "running", metrics("sft", 10))
    metrics_file = path / "metrics.jsonl"
    with metrics_file.open("a") as f:
        f.write('{"stage": "sft", "step": 11, "loss": 0.4')
    watcher = RunsWatcher(tmp_path)
    watcher.refresh()
    view = watcher.runs[path.name]
    assert view.latest["loss"] != 0.4 and view.corrupt_lines == 0
    with metrics_file.open("a") as f:
        f.write(', "learning_rate": 1e-4}\nnot json at all\n')
    watcher.refresh()
    assert view.latest["loss"] == 0.4 and view.corrupt_lines == 1
    assert view.flag(NOW, 600) == "corrupt metrics"
    history = view.read_history()
    assert history.corrupt == ["not json at all"] and history.series("loss")[0][-1] == 11


def test_flags_failed_stalled_and_a_dead_process(tmp_path):
    runs = synthetic_runs(tmp_path / "adapters")
    watcher = RunsWatcher(tmp_path / "adapters", stall_after=600)
    watcher.refresh()
    assert watcher.flagged(NOW) == {runs["failed"].name: "failed", runs["stalled"].name: "stalled",
                                    runs["corrupt"].name: "corrupt metrics"}
    assert watcher.flagged(NOW + 10_000)[runs["running"].name] == "stalled"  # no news for hours
    # on this machine, a running run whose process is gone died
    status = json.loads((runs["running"] / "status.json").read_text())
    dead = max(os.getpid() + 10_000, 4_000_000)
    (runs["running"] / "status.json").write_text(json.dumps(status | {"host": socket.gethostname(), "pid": dead}))
    watcher.refresh()
    assert watcher.runs[runs["running"].name].flag(NOW, 600) == "died"


def test_a_verdict_is_stale_once_the_adapters_change_and_runs_come_and_go(tmp_path):
    runs = synthetic_runs(tmp_path / "adapters")
    watcher = RunsWatcher(tmp_path / "adapters")
    watcher.refresh()
    view = watcher.runs[runs["passed"].name]
    assert not view.verdict_stale
    (runs["passed"] / "adapters.safetensors").write_bytes(b"retrained")
    assert watcher.refresh() == {view.name}
    assert view.verdict_stale and view.gate_text.endswith("stale")
    record = RunRecord.create("fresh", {}, root=tmp_path / "adapters")
    assert record.name in watcher.refresh()
    import shutil

    shutil.rmtree(runs["failed"])
    assert runs["failed"].name in watcher.refresh() and runs["failed"].name not in watcher.runs


def test_a_metrics_file_rewritten_shorter_is_read_again(tmp_path):
    path = write_run(tmp_path, "redo-20261201-000001", "redo", "running", metrics("sft", 40))
    watcher = RunsWatcher(tmp_path)
    watcher.refresh()
    write_run(tmp_path, "redo-20261201-000001", "redo", "running", metrics("sft", 5, start_loss=9.0))
    watcher.refresh()
    assert watcher.runs[path.name].latest["loss"] == metrics("sft", 5, start_loss=9.0)[-1]["loss"]


def test_the_record_logs_what_happens(tmp_path):
    record = RunRecord.create("logged", {}, root=tmp_path)
    record.append_metrics({"stage": "sft", "step": 5, "loss": 2.5, "learning_rate": 1e-4, "tokens_per_second": 800,
                           "peak_memory_gb": 1.5})
    with record.activity("gate"):
        assert (record.path / "activity.json").is_file()
    with pytest.raises(KeyError), record.activity("export"):
        raise KeyError("boom")
    record.set_status("failed", message="out of memory")
    log = (record.path / "log.txt").read_text()
    for text in ("created", "sft step 5: loss 2.5000", "gate starts", "gate done", "export stopped: 'boom'",
                 "failed: out of memory"):
        assert text in log
    assert not (record.path / "activity.json").exists()
