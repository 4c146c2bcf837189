"""build_datasets as a whole: files and report, determinism, atomic replacement, unlikelihood
negatives, seeds, the system prompt, clear errors, and the numbers on the bundled sample corpus."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notme import samples
from notme.data.build import _since, build_datasets
from notme.data.hedges import SUFFIXES, is_refusal
from notme.errors import InputError, NotmeError
from notme.ingest.pipeline import ingest
from notme.workspace import datasets_dir, workspace
from tests.data.conftest import at, build, conversation, msg, recipe, store


def small_corpus(chats: int = 12) -> None:
    store(*[conversation(f"whatsapp:c{i}", msg("Ana", f"question {i}?", 0), msg("me", f"answer {i}, plainly.", 1),
                         msg("Ana", f"follow-up {i}", 2), msg("me", f"second answer {i}.", 3))
            for i in range(chats)])


def folder_bytes(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_the_layout_and_the_report():
    small_corpus()
    the_recipe = recipe(**{"splits.valid": 0.2, "splits.test": 0.2})
    report, files = build(the_recipe)
    assert report.path == datasets_dir() / "test" == workspace() / "datasets" / "test"
    assert sorted(files) == ["pref/train", "pref/valid", "sft/test", "sft/train", "sft/valid"]
    saved = json.loads((report.path / "build.json").read_text())
    assert saved == {k: v for k, v in report.to_dict().items() if k != "path"}
    assert saved["recipe_digest"] == the_recipe.digest and saved["corpora"] == {"default": 12}
    assert saved["sft"] == {s: len(files[f"sft/{s}"]) for s in ("train", "valid", "test")}
    assert sorted(i for ids in saved["splits"].values() for i in ids) == sorted(f"whatsapp:c{i}" for i in range(12))
    assert set(saved["tokens"]["sft"]["train"]) == {"count", "min", "mean", "p50", "p95", "max"}


def test_the_same_recipe_gives_the_same_bytes(tmp_path):
    small_corpus()
    the_recipe = recipe(**{"splits.valid": 0.2, "splits.test": 0.2, "mode.unlikelihood": {"weight": 0.5, "share": 0.5},
                           "mode.preference.sources": {"directness": 1.0, "safety": 1.0}})
    first, _ = build(the_recipe, tmp_path / "one")
    second, _ = build(the_recipe, tmp_path / "two")
    assert folder_bytes(first.path) == folder_bytes(second.path)
    other, _ = build(recipe(**{"splits.valid": 0.2, "splits.test": 0.2, "splits.seed": 1}), tmp_path / "three")
    assert folder_bytes(other.path)["build.json"] != folder_bytes(first.path)["build.json"]


def test_a_rebuild_replaces_the_folder_whole_and_a_failed_build_leaves_it(tmp_path):
    small_corpus()
    out = tmp_path / "datasets" / "mine"
    build(recipe(), out)
    (out / "stale.txt").write_text("from an older build")
    build(recipe(), out)
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["mine"]  # no temporary folders left
    before = folder_bytes(out)
    with pytest.raises(NotmeError):
        build(recipe(**{"domain.sources": ["telegram"]}), out)
    assert folder_bytes(out) == before


def test_unlikelihood_negatives_end_with_the_marked_suffix_and_never_negate_a_refusal():
    small_corpus(10)
    store(conversation("whatsapp:no", msg("Ana", "lend me your card?", 0), msg("me", "no. not doing that.", 1)))
    report, files = build(recipe(**{"mode.unlikelihood": {"weight": 0.5, "share": 0.5}}))
    train = files["sft/train"]
    negatives = [r for r in train if "unlikely_suffix" in r]
    originals = {r["id"]: r for r in train if "unlikely_suffix" not in r}
    assert len(negatives) == report.unlikely["train"] == round(0.5 * len(originals)) == 6
    for negative in negatives:
        original = originals[negative["id"].removesuffix("~unlikely")]
        suffix = negative["unlikely_suffix"]
        assert suffix in SUFFIXES
        assert negative["messages"][:-1] == original["messages"][:-1]
        last = original["messages"][-1]["content"]
        assert negative["messages"][-1] == {"role": "assistant", "content": last + suffix}
        assert not is_refusal(original["messages"][-1]["content"])
    assert report.dropped["unlikelihood: last reply is a refusal"] == 1


def test_the_system_prompt_fills_in_the_persona_and_the_constitution_file(tmp_path):
    small_corpus(1)
    (tmp_path / "values.md").write_text("Never hedge.\n")
    the_recipe = recipe(path=tmp_path / "r.yaml", **{"use.system_prompt": "Write as {persona}",
                                                      "identity.persona": "Sam, a climber.",
                                                      "identity.constitution_file": "values.md"})
    _, files = build(the_recipe)
    system = files["sft/train"][0]["messages"][0]
    assert system == {"role": "system", "content": "Write as Sam, a climber.\n\nNever hedge."}


def test_seed_files_add_examples_in_the_sft_format(tmp_path):
    small_corpus(1)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"messages": [{"role": "user", "content": "I feel stuck."},
                                              {"role": "assistant", "content": "Stuck where, exactly?"}]}) + "\n")
    _, files = build(recipe(path=tmp_path / "coach.yaml", **{"domain.seed_files": ["seeds.jsonl"]}))
    (seed,) = [r for r in files["sft/train"] if r["source"] == "seed"]
    assert seed == {"messages": [{"role": "system", "content": "You are Sam."},
                                 {"role": "user", "content": "I feel stuck."},
                                 {"role": "assistant", "content": "Stuck where, exactly?"}],
                    "source": "seed", "conversation": "seed:seeds.jsonl:1", "id": "seed:seeds.jsonl:1"}
    seeds.write_text('{"messages": [{"role": "user", "content": "only a question"}]}\n')
    with pytest.raises(InputError, match=r"seeds.jsonl: line 1: .*at least one assistant message"):
        build(recipe(path=tmp_path / "coach.yaml", **{"domain.seed_files": ["seeds.jsonl"]}))


def test_group_chats_only_when_the_recipe_includes_them():
    store(conversation("whatsapp:bloc", msg("Rui", "who's in?", 0), msg("me", "in. 10h.", 1), group=True),
          conversation("whatsapp:ana", msg("Ana", "dinner?", 0), msg("me", "yes, 19:30.", 1)))
    _, files = build(recipe())
    assert [r["conversation"] for r in files["sft/train"]] == ["whatsapp:ana"]
    _, files = build(recipe(**{"domain.include_groups": True}))
    assert sorted(r["conversation"] for r in files["sft/train"]) == ["whatsapp:ana", "whatsapp:bloc"]
    (group,) = [r for r in files["sft/train"] if r["conversation"] == "whatsapp:bloc"]
    assert group["messages"][1:] == [{"role": "user", "content": "Rui: who's in?"},
                                     {"role": "assistant", "content": "in. 10h."}]


def test_sources_and_since_select_what_is_used():
    store(conversation("whatsapp:ana", msg("Ana", "old?", 0), msg("me", "old answer.", 1),
                       msg("Ana", "new?", 5000), msg("me", "new answer.", 5001)),
          conversation("telegram:rui", msg("Rui", "hi?", 0), msg("me", "hi there.", 1)))
    _, files = build(recipe(**{"domain.sources": ["whatsapp"], "domain.since": at(4000)[:10]}))
    replies = [m["content"] for r in files["sft/train"] for m in r["messages"] if m["role"] == "assistant"]
    assert replies == ["new answer."]


def test_since_accepts_what_yaml_gives():
    assert _since(date(2025, 1, 2)) == "2025-01-02T00:00:00.000Z"
    assert _since(datetime(2025, 1, 2, 1, 30, tzinfo=timezone(timedelta(hours=2)))) == "2025-01-01T23:30:00.000Z"
    assert _since("2025-01-02") == "2025-01-02T00:00:00.000Z" and _since(None) is None
    with pytest.raises(NotmeError, match=r"domain\.since: 'last week' is not an ISO date"):
        _since("last week")


@pytest.mark.parametrize(("settings", "message"), [
    ({"domain.corpora": ["nope"]}, r"domain.corpora: no corpus named 'nope' .*\(corpora: default\)"),
    ({"domain.sources": ["telegram"]}, r"no conversations from the sources in domain.sources \(telegram\); "
                                       r"the corpora have: whatsapp"),
    ({"domain.since": "2030-01-01"}, r"every message .* is before domain.since \(2030-01-01\); "
                                     r"the newest message is from 2025-03-01"),
    ({"use.max_seq_length": 8}, r"every one of the owner's 24 replies was dropped \(reply too long ×24\)"),
])
def test_an_empty_build_says_why(settings, message):
    small_corpus()
    with pytest.raises(NotmeError, match=message):
        build(recipe(**settings))


def test_a_corpus_with_no_owner_messages_or_only_groups_says_so():
    store(conversation("whatsapp:bloc", msg("Rui", "who's in?", 0), msg("me", "in.", 1), group=True))
    with pytest.raises(NotmeError, match=r"only matching conversations are group chats.*include_groups is false"):
        build(recipe())
    store(conversation("whatsapp:x", msg("Rui", "hello?", 0)), corpus="quiet")
    with pytest.raises(NotmeError, match="no owner messages in the selected conversations"):
        build(recipe(**{"domain.corpora": ["quiet"]}))


def test_the_sample_corpus_gives_enough_to_train_sft_and_dpo(tmp_path):
    person = samples.persona()
    paths = samples.write_sample_exports(tmp_path / "exports")
    ingest(paths, "sample", me=samples.owner_identities(person), zone=ZoneInfo(person["timezone"]))
    report, files = build(recipe(**{
        "domain.corpora": ["sample"], "domain.include_groups": True, "splits.valid": 0.1, "splits.test": 0.1,
        "mode.unlikelihood": {"weight": 0.5, "share": 0.3},
        "mode.preference.sources": {"edit": 1.0, "directness": 1.0, "safety": 1.0, "feedback": 0.0,
                                    "regeneration": 0.0},
    }))
    examples = sum(report.sft.values()) - report.unlikely["train"]
    assert examples >= 150 and sum(report.targets.values()) >= 250
    assert report.sft["valid"] >= 10 and report.sft["test"] >= 10
    train_pairs = files["pref/train"]
    assert len(train_pairs) >= 150 and len(files["pref/valid"]) >= 10
    sources = [p["source"] for p in train_pairs]
    assert {"directness", "safety"} <= set(sources) and "feedback" not in sources
    assert 0.02 <= sources.count("safety") / len(train_pairs) <= 0.04
    assert report.pref_found["edit"] >= 2 and report.pref_found["regeneration"] >= 1


def test_a_recipe_without_an_sft_stage_needs_only_pairs(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Review this.", "chosen": "Cut the intro.", "rejected": "Love it!!"}) + "\n")
    settings = {"domain.corpora": [], "mode.sft": {"iters": 0}, "domain.preference_files": [str(pairs)],
                "mode.preference.sources": {"constitution": 1.0, "safety": 1.0}}
    report, files = build(recipe(**settings))
    assert report.sft == {"train": 0, "valid": 0, "test": 0}
    assert [p["source"] for p in files["pref/train"]].count("constitution") == 1
    pairs.unlink()
    with pytest.raises(NotmeError, match=r"no SFT stage .* besides the safety anchors \(missing: .*pairs.jsonl\)"):
        build(recipe(**settings))


def test_the_shipped_demo_recipe_builds_on_the_sample_corpus(tmp_path):
    load_recipe = pytest.importorskip("notme.recipe").load_recipe
    person = samples.persona()
    paths = samples.write_sample_exports(tmp_path / "exports")
    ingest(paths, "sample", me=samples.owner_identities(person), zone=ZoneInfo(person["timezone"]))
    report = build_datasets(load_recipe("demo"))
    assert report.path == datasets_dir() / "demo"
    assert sum(report.sft.values()) >= 150 and len(report.splits["train"]) > len(report.splits["test"]) > 0
    assert sum(report.pref["train"].values()) >= 100 and report.pref["train"].get("safety", 0) >= 1
