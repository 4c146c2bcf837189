"""Interview → Practice → Integration on the tiny test model through a real mlx_lm.server, with a
scripted owner; the interview's commands and files."""

from __future__ import annotations

import json
from pathlib import Path

from notme.constitution import store
from notme.runs.record import list_runs
from tests.constitution.conftest import SERVED

OWNER_CONSTITUTION = """How I act
1. Care: I protect people from serious harm, including the person asking.
2. Honesty: I say what I think, plainly, and say when I don't know.
3. Directness: I answer without hedging or asking for approval.
4. Refusal: when I say no, I say it once, briefly, and offer what I can do instead.
"""


def test_the_whole_protocol_on_the_test_model(cli, workspace, mlx_server, tiny_path, monkeypatch):
    # The constitution recipe, shrunk for the tiny model: short parts, a few DPO steps; a greedy interview
    # (sampled, the tiny model's draft once came back empty in CI).
    recipe = workspace / "integration.yaml"
    recipe.write_text(f"""extends: constitution
base: {{model: {tiny_path}}}
use: {{max_seq_length: 256}}
interview: {{max_tokens: 24, temperature: 0.0}}
practice: {{max_tokens: 24}}
mode:
  sft: {{lora: {{rank: 4, alpha: 8, layers: 2}}}}
  preference: {{iters: 2, batch_size: 2, steps_per_report: 1, steps_per_eval: 2, save_every: 2, val_batches: 1}}
""")

    # Interview: the model answers the invitation, the owner talks, asks for a draft, edits it, accepts it.
    def owner_edits(path):
        assert path == store.draft_path() and path.read_text().strip()  # the model's draft is there to edit
        path.write_text(OWNER_CONSTITUTION)

    monkeypatch.setattr("click.edit", lambda filename=None, **_: owner_edits(Path(filename)))
    owner = "\n".join(["I want you to refuse weapons questions but help with everything else.", "/draft", "/edit",
                       "/accept", "/quit"]) + "\n"
    result = cli("interview", "--server", mlx_server, "--model", SERVED, "--recipe", recipe, input=owner)
    assert result.exit_code == 0, result.output
    assert "accepted as v001.md" in result.output
    constitution = workspace / "constitution" / "constitution.md"
    assert constitution.read_text() == OWNER_CONSTITUTION
    version = json.loads((workspace / "constitution" / "versions" / "v001.json").read_text())
    transcript = json.loads(Path(version["transcript"]).read_text())
    roles = [m["role"] for m in transcript["messages"]]
    assert roles == ["user", "assistant"] * 3  # invitation, the owner's message, the draft request
    assert transcript["messages"][0]["content"].startswith("I'd like to write a short constitution")

    # Resuming the interview goes on in the same transcript.
    result = cli("interview", "--server", mlx_server, "--model", SERVED, "--recipe", recipe, "--resume",
                 input="one more thing\n/quit\n")
    assert result.exit_code == 0, result.output
    assert len(json.loads(Path(version["transcript"]).read_text())["messages"]) == 8

    # Practice: pairs from the accepted constitution, two requests at a time against the server.
    result = cli("practice", "--server", mlx_server, "--model", SERVED, "--recipe", recipe, "--count", "8",
                 "--concurrency", "2", "--quiet")
    assert result.exit_code == 0, result.output
    pairs = [json.loads(line) for line in (workspace / "practice" / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 8 and len({p["prompt"] for p in pairs}) == 8
    assert all(p["chosen"] and p["rejected"] and p["critique"] for p in pairs)
    assert "kept: constitution pairs" in result.output

    # Integration: the constitution recipe trains DPO on those pairs, with the constitution as system prompt.
    result = cli("train", recipe)
    assert result.exit_code == 0, result.output
    (run,) = list_runs()
    assert run.status()["state"] == "done"
    build = json.loads((run.path / "data" / "build.json").read_text())
    assert build["pref"]["train"]["constitution"] > 0
    assert "Directness: I answer without hedging" in build["system"]


def test_interview_commands_without_a_draft_and_a_dead_server(cli, workspace, mlx_server):
    result = cli("interview", "--server", mlx_server, "--model", SERVED, input="/accept\n/help\n/quit\n")
    assert result.exit_code == 0, result.output  # nothing to accept yet: a message, and the interview goes on
    assert "draft.md is empty: /draft first" in result.output and "/accept" in result.output
    assert not (workspace / "constitution" / "constitution.md").exists()
    result = cli("interview", "--server", "http://127.0.0.1:9", "--model", SERVED, "--retries", "0", input="/quit\n")
    assert result.exit_code == 2 and "cannot reach the server" in result.output


def test_practice_needs_an_accepted_constitution(cli, workspace, mlx_server):
    result = cli("practice", "--server", mlx_server, "--model", SERVED, "--count", "2")
    assert result.exit_code == 2 and "no constitution yet" in result.output and "notme interview" in result.output


def test_directness_turns_come_from_the_owners_held_out_chats(cli, workspace, mlx_server):
    from zoneinfo import ZoneInfo

    from notme import samples
    from notme.ingest.pipeline import ingest

    person = samples.persona()
    ingest(samples.write_sample_exports(workspace / "exports"), "sample", me=samples.owner_identities(person),
           zone=ZoneInfo(person["timezone"]))
    (workspace / "constitution").mkdir()
    (workspace / "constitution" / "constitution.md").write_text(OWNER_CONSTITUTION)
    (workspace / "owner.yaml").write_text("extends: not-me\ndomain: {corpora: [sample]}\n")
    (workspace / "teacher.yaml").write_text("extends: constitution\npractice: {max_tokens: 16, attempts: 1}\n")
    result = cli("practice", "--server", mlx_server, "--model", SERVED, "--recipe", workspace / "teacher.yaml",
                 "--count", "0", "--directness", "3", "--from", workspace / "owner.yaml", "--quiet")
    assert result.exit_code == 0, result.output
    dropped = [json.loads(line) for line in (workspace / "practice" / "dropped.jsonl").read_text().splitlines()]
    kept = (workspace / "practice" / "pairs.jsonl")
    kept = [json.loads(line) for line in kept.read_text().splitlines()] if kept.is_file() else []
    assert len(dropped) + len(kept) == 3  # the tiny model rarely hedges: most are dropped, each with its reason
    assert all(d["kind"] == "directness" and d["turn"] and d["reply"] for d in dropped)
    assert all(k["chosen"] and k["prompt"] for k in kept)
    held_out = (workspace / "datasets" / "owner" / "sft" / "test.jsonl").read_text()
    assert all(json.dumps(d["reply"])[1:-1] in held_out for d in dropped)  # the owner's own held-out replies


def test_an_empty_draft_is_said_and_keeps_the_draft_already_there(workspace):
    from notme.backends.base import Backend
    from notme.constitution.interview import InterviewSession

    class Silent(Backend):
        def generate(self, chats, max_tokens, progress=None):
            return ["  "]

        def describe(self):
            return {"backend": "silent", "model": "none"}

    store.draft_path().parent.mkdir(parents=True, exist_ok=True)
    store.draft_path().write_text("my earlier draft\n")
    session = InterviewSession(Silent(), workspace / "t.json", draft_request="draft it")
    assert "came back empty" in session.command("/draft")
    assert store.draft_path().read_text() == "my earlier draft\n"
