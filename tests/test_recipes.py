"""Recipes: the shipped ones load, `extends:` composes, the workspace overrides, every error names its
file and key, and the resolved recipe round-trips through YAML with a stable digest."""

from __future__ import annotations

import itertools
import json
import pickle
import re
from pathlib import Path

import pytest

from notme.recipe import RecipeError, list_recipes, load_recipe, schema_keys, show_recipe
from notme.recipe.schema import Section, spec_of

SHIPPED = Path(__file__).resolve().parent.parent / "recipes"
NAMES = sorted(p.stem for p in SHIPPED.glob("*.yaml"))


def write(workspace: Path, name: str, text: str) -> Path:
    """A recipe in the workspace's own recipes/ folder."""
    path = workspace / "recipes" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def error_of(ref: str | Path) -> str:
    with pytest.raises(RecipeError) as caught:
        load_recipe(ref)
    return str(caught.value)


# ------------------------------------------------------------------------------------------ shipped


def test_the_five_recipes_are_shipped():
    assert NAMES == ["base", "coach", "constitution", "demo", "not-me"]


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_recipe_loads_and_validates(name):
    recipe = load_recipe(name)
    assert recipe.name == name
    assert recipe.path == SHIPPED / f"{name}.yaml"
    assert recipe.chain[0] == SHIPPED / "base.yaml"
    assert recipe.data["description"].strip()
    assert len(recipe.digest) == 64


def test_base_sets_every_key():
    base = load_recipe("base")
    for key in schema_keys():
        parent, _, leaf = key.rpartition(".")
        if parent and base.get(parent) is None:
            continue  # inside a section base switches off (quantize, chat_safety)
        assert leaf in (base.data if not parent else base.get(parent)), f"base.yaml lacks {key}"


def test_the_readme_documents_every_key():
    readme = (SHIPPED / "README.md").read_text()
    for key in schema_keys():
        spec = spec_of(key)
        if isinstance(spec, Section) and not spec.nullable:
            continue  # a plain section (mode.sft) is a heading; its keys are documented one by one
        assert f"| `{key}` |" in readme, f"recipes/README.md does not document {key}"


def test_demo_is_not_me_made_small():
    demo = load_recipe("demo")
    assert [p.stem for p in demo.chain] == ["base", "not-me", "demo"]
    assert demo.get("domain.corpora") == ["sample"]
    assert demo.get("base.model") == "smollm2"
    assert demo.get("use.max_seq_length") == 256
    sft = demo.get("mode.sft")
    assert (sft["iters"], sft["batch_size"], sft["steps_per_eval"]) == (10, 4, 5)
    assert demo.get("mode.preference.iters") == 5
    not_me = load_recipe("not-me")
    assert demo.get("identity.persona") == not_me.get("identity.persona")  # inherited
    assert demo.get("mode.sft.lora.rank") == 16 and demo.get("mode.sft.lora.alpha") == 32


def test_not_me_is_direct_with_unlikelihood_and_dpo_on_edits_directness_and_safety():
    recipe = load_recipe("not-me")
    assert recipe.get("mode.sft.learning_rate") == pytest.approx(2e-4)
    assert (recipe.get("mode.sft.lora.rank"), recipe.get("mode.sft.lora.alpha")) == (16, 32)
    assert recipe.get("mode.unlikelihood.weight") > 0
    assert recipe.get("mode.preference.method") == "dpo"
    sources = recipe.get("mode.preference.sources")
    assert sources["edit"] > 0 and sources["directness"] > 0 and sources["safety"] > 0
    assert "hedg" in recipe.get("identity.persona")


def test_constitution_is_dpo_on_practice_pairs_that_need_not_exist_yet(workspace):
    recipe = load_recipe("constitution")
    assert recipe.get("mode.sft.iters") == 0
    assert recipe.get("mode.preference.method") == "dpo"
    assert recipe.get("mode.preference.beta") == pytest.approx(0.1)
    assert recipe.get("mode.preference.learning_rate") == pytest.approx(5e-5)
    assert recipe.get("mode.preference.sources.constitution") == 1.0
    assert recipe.get("domain.preference_files") == [str(workspace / "practice" / "pairs.jsonl")]
    assert not (workspace / "practice").exists()


def test_coach_has_its_seed_dialogues_and_a_chat_safety_layer():
    recipe = load_recipe("coach")
    assert recipe.get("domain.seed_files") == [str(SHIPPED / "coach-seeds.jsonl")]
    assert recipe.get("domain.corpora") == []
    assert recipe.get("use.chat_safety.risk_check") is True
    assert "988" in recipe.get("use.chat_safety.crisis_message")
    assert recipe.get("mode.preference.sources.safety") > 0
    assert "diagnose" in recipe.system_prompt()


# ------------------------------------------------------------------------------------------ coach seeds

APPROVAL_SEEKING = ("does that make sense", "would you like me to", "i might be wrong", "hope this helps",
                    "let me know if")
DIAGNOSING = re.compile(r"\byou (have|are suffering from|'ve got) (depression|adhd|anxiety disorder|ptsd|bipolar)"
                        r"|\byou are (depressed|bipolar|an alcoholic)\b|\bhe (is|was) a narcissist", re.I)
CRISIS = re.compile(r"ending my life|want(s)? to die|not wake up|cutting|shoved me|kill myself", re.I)


def seed_dialogues() -> list[dict]:
    return [json.loads(line) for line in (SHIPPED / "coach-seeds.jsonl").read_text().splitlines()]


def test_coach_seeds_are_many_short_multi_turn_dialogues_in_the_sft_format():
    dialogues = seed_dialogues()
    coach = load_recipe("coach")
    budget = coach.get("use.max_seq_length") * 3.5 - len(coach.system_prompt())  # the builder's chars/3.5 estimate
    assert len(dialogues) >= 40
    assert len({d["conversation"] for d in dialogues}) == len(dialogues)
    for d in dialogues:
        roles = [m["role"] for m in d["messages"]]
        assert roles[0] == "user" and roles[-1] == "assistant", d["conversation"]
        assert all(a != b for a, b in itertools.pairwise(roles)), d["conversation"]
        assert len(roles) >= 4, d["conversation"]  # multi-turn
        assert all(m["content"].strip() for m in d["messages"])
        assert sum(len(m["content"]) for m in d["messages"]) < budget, d["conversation"]  # never cut to fit


def test_the_coach_asks_one_open_question_seeks_no_approval_and_never_diagnoses():
    for d in seed_dialogues():
        for m in d["messages"]:
            if m["role"] != "assistant":
                continue
            text = m["content"]
            assert text.count("?") == 1 and text.endswith("?"), (d["conversation"], text)
            assert not any(p in text.lower() for p in APPROVAL_SEEKING), (d["conversation"], text)
            assert not DIAGNOSING.search(text), (d["conversation"], text)


def test_every_crisis_disclosure_is_answered_with_crisis_resources():
    crises = 0
    for d in seed_dialogues():
        messages = d["messages"]
        for i, m in enumerate(messages):
            if m["role"] == "user" and CRISIS.search(m["content"]):
                crises += 1
                reply = messages[i + 1]["content"]
                assert "988" in reply and "emergency" in reply, (d["conversation"], reply)
    assert crises >= 5


# ------------------------------------------------------------------------------------------ extends


def test_a_child_overrides_keys_merges_mappings_and_replaces_lists(workspace):
    write(workspace, "mine", "extends: not-me\ndomain: {corpora: [work, home]}\nmode:\n  sft:\n    lora: {rank: 8}\n")
    recipe = load_recipe("mine")
    assert recipe.get("mode.sft.lora.rank") == 8
    assert recipe.get("mode.sft.lora.alpha") == 32          # the rest of the mapping is kept
    assert recipe.get("mode.sft.lora.layers") == 16         # from not-me
    assert recipe.get("domain.corpora") == ["work", "home"]  # a list replaces
    assert recipe.get("domain.include_groups") is False     # from base
    assert [p.stem for p in recipe.chain] == ["base", "not-me", "mine"]
    assert recipe.origin("mode.sft.lora.rank").endswith("mine.yaml:5")
    lines = (SHIPPED / "not-me.yaml").read_text().splitlines()
    alpha_line = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("alpha:"))
    assert recipe.origin("mode.sft.lora.alpha").endswith(f"not-me.yaml:{alpha_line}")


def test_a_list_of_parents_later_wins_and_a_shared_ancestor_is_merged_once(workspace):
    write(workspace, "a", "mode: {sft: {learning_rate: 1.0e-4, iters: 11}}\n")
    write(workspace, "b", "mode: {sft: {iters: 22}}\n")
    write(workspace, "both", "extends: [a, b]\n")
    recipe = load_recipe("both")
    assert recipe.get("mode.sft.iters") == 22                        # b after a
    assert recipe.get("mode.sft.learning_rate") == pytest.approx(1e-4)  # base did not come back over a
    assert [p.stem for p in recipe.chain] == ["base", "a", "b", "both"]


def test_extends_by_relative_path(workspace, tmp_path):
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "shared.yaml").write_text("mode: {seed: 7}\n")
    (tmp_path / "team" / "sub").mkdir()
    child = tmp_path / "team" / "sub" / "child.yaml"
    child.write_text("extends: ../shared.yaml\n")
    assert load_recipe(child).get("mode.seed") == 7
    assert load_recipe(str(child)).get("mode.seed") == 7


def test_no_extends_means_base_and_an_empty_list_means_standalone(workspace):
    write(workspace, "plain", "description: just the defaults\n")
    base, plain = load_recipe("base").to_dict(), load_recipe("plain").to_dict()
    assert {**plain, "name": "base", "description": base["description"]} == base
    write(workspace, "alone", "extends: []\ndescription: nothing else\n")
    message = error_of("alone")
    assert "alone.yaml: base: missing" in message and "extends: base" in message


def test_null_switches_a_section_off_and_a_later_mapping_switches_it_back_on(workspace):
    write(workspace, "switched-off", "mode: {preference: null, unlikelihood: null}\n")
    off = load_recipe("switched-off")
    assert off.get("mode.preference") is None and off.get("mode.preference.beta", "none") == "none"
    write(workspace, "on-again", "extends: switched-off\nmode: {unlikelihood: {weight: 0.2}}\n")
    on = load_recipe("on-again")
    assert on.get("mode.unlikelihood.weight") == pytest.approx(0.2)
    assert on.get("mode.unlikelihood.share") == pytest.approx(0.3)  # base's value, from before it was off
    write(workspace, "qlora", "base: {quantize: {bits: 4, group_size: 64}}\n")
    assert load_recipe("qlora").get("base.quantize") == {"bits": 4, "group_size": 64}


def test_a_workspace_recipe_overrides_the_shipped_one_and_can_build_on_it(workspace):
    write(workspace, "demo", "extends: demo\nmode: {sft: {iters: 5}}\n")
    recipe = load_recipe("demo")
    assert recipe.get("mode.sft.iters") == 5
    assert recipe.get("domain.corpora") == ["sample"]  # the shipped demo underneath
    assert recipe.chain == (SHIPPED / "base.yaml", SHIPPED / "not-me.yaml", SHIPPED / "demo.yaml",
                            workspace / "recipes" / "demo.yaml")
    listed = {name: path for name, path, _ in list_recipes()}
    assert listed["demo"] == workspace / "recipes" / "demo.yaml"
    assert listed["coach"] == SHIPPED / "coach.yaml"


def test_a_workspace_base_changes_the_defaults_of_every_shipped_recipe(workspace):
    write(workspace, "base", "mode: {seed: 42}\n")  # no extends: builds on the shipped base
    assert load_recipe("base").get("mode.seed") == 42
    assert load_recipe("demo").get("mode.seed") == 42


@pytest.mark.parametrize(("files", "loop"), [
    ({"a": "extends: b\n", "b": "extends: a\n"}, "a.yaml → b.yaml → a.yaml"),
    ({"a": "extends: b\n", "b": "extends: c\n", "c": "extends: [base, a]\n"}, "a.yaml → b.yaml → c.yaml → a.yaml"),
    ({"a": "extends: ./a.yaml\n"}, "a.yaml → a.yaml"),
])
def test_a_cycle_is_an_error_naming_the_chain(workspace, files, loop):
    for name, text in files.items():
        write(workspace, name, text)
    message = error_of("a")
    assert "cycle" in message
    assert re.sub(r"\S*/", "", message).endswith(loop)


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("text", "key", "line", "says"), [
    ("mode:\n  sft:\n    learning_rate: fast\n", "mode.sft.learning_rate", 3, "must be a number > 0 (got 'fast')"),
    ("mode: {sft: {learning_rate: -1}}\n", "mode.sft.learning_rate", 1, "> 0"),
    ("mode: {sft: {lora: {rank: 0}}}\n", "mode.sft.lora.rank", 1, "≥ 1"),
    ("mode: {sft: {lora: {alpha: 0}}}\n", "mode.sft.lora.alpha", 1, "> 0"),
    ("mode: {sft: {lora: {dropout: 1}}}\n", "mode.sft.lora.dropout", 1, "< 1"),
    ("mode: {sft: {iters: 2.5}}\n", "mode.sft.iters", 1, "whole number"),
    ("mode: {sft: {batching: padded}}\n", "mode.sft.batching", 1, "one of packed, grouped"),
    ("mode: {unlikelihood: {share: 1.5}}\n", "mode.unlikelihood.share", 1, "from 0 to 1"),
    ("mode:\n  preference:\n    method: ppo\n", "mode.preference.method", 3, "did you mean dpo"),
    ("mode: {preference: {sources: {safety: 2}}}\n", "mode.preference.sources.safety", 1, "from 0 to 1"),
    ("mode: {preference: {learning_rate: 0}}\n", "mode.preference.learning_rate", 1, "> 0"),
    ("base: {dtype: fp32}\n", "base.dtype", 1, "one of auto, float32, bfloat16, float16"),
    ("base: {quantize: {bits: 3, group_size: 64}}\n", "base.quantize.bits", 1, "one of 4, 8"),
    ("base: {quantize: {bits: 4, group_size: 48}}\n", "base.quantize.group_size", 1, "one of 32, 64, 128"),
    ("base: {quantize: {bits: 4}}\n", "base.quantize.group_size", 1, "missing"),
    ("base: {quantize: 4}\n", "base.quantize", 1, "mapping"),
    ("domain:\n  include_groups: yes please\n", "domain.include_groups", 2, "true or false"),
    ("domain: {since: last year}\n", "domain.since", 1, "ISO date"),
    ("domain: {sources: [whatsap]}\n", "domain.sources", 1, "did you mean whatsapp"),
    ("domain: {corpora: default}\n", "domain.corpora", 1, "list"),
    ("splits: {valid: 0.5, test: 0.5}\n", "splits.test", 1, "valid + test"),
    ("use: {system_prompt: 'Hi {name}'}\n", "use.system_prompt", 1, "{name}"),
    ("mode:\n  sft:\n    learnig_rate: 0.1\n", "mode.sft.learnig_rate", 3, "did you mean mode.sft.learning_rate"),
    ("mode:\n  learning_rate: 0.1\n", "mode.learning_rate", 2, "mode.sft.learning_rate"),
    ("colour: blue\n", "colour", 1, "unknown key"),
    ("mode: {preference: {sources: {constitution: 1.0}}}\n", "mode.preference.sources.constitution", 1,
     "domain.preference_files"),
    ("mode: {sft: {iters: 0}, preference: null}\n", "mode.sft.iters", 1, "nothing would be trained"),
    ("mode: {sft: {iters: 5, lr_schedule: {warmup: 10}}}\n", "mode.sft.lr_schedule.warmup", 1, "iters"),
    ("domain: {corpora: []}\n", "domain.corpora", 1, "SFT needs data"),
])
def test_each_bad_value_is_named_by_file_line_and_key(workspace, text, key, line, says):
    write(workspace, "bad", text)
    message = error_of("bad")
    assert f"bad.yaml:{line}: {key}: " in message, message
    assert says in message, message


def test_an_error_names_the_parent_file_the_value_came_from(workspace):
    write(workspace, "parent", "description: x\n\nmode:\n  sft:\n    iters: many\n")
    write(workspace, "child", "extends: parent\nmode: {seed: 1}\n")
    message = error_of("child")
    assert "parent.yaml:5: mode.sft.iters: must be a whole number" in message
    assert "child.yaml" not in message


def test_a_clash_between_keys_blames_the_file_that_changed_last(workspace):
    write(workspace, "short", "mode: {sft: {iters: 5}}\n")  # base's warmup of 10 no longer fits
    message = error_of("short")
    assert "short.yaml:1: mode.sft.iters: warmup (10) must not exceed mode.sft.iters (5)" in message
    assert "mode.sft.lr_schedule.warmup is set at recipes/base.yaml:" in message.replace(str(SHIPPED.parent) + "/", "")


def test_all_problems_are_reported_at_once_in_file_order(workspace):
    write(workspace, "bad", "mode:\n  sft:\n    iters: x\n    batch_size: 0\nbase: {dtype: fp32}\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe("bad")
    assert [p.split(": ")[1] for p in caught.value.problems] == ["mode.sft.iters", "mode.sft.batch_size", "base.dtype"]


@pytest.mark.parametrize(("text", "place", "says"), [
    ("mode:\n  sft: [1,\n", "bad.yaml:3:1", ""),
    ("mode:\n  sft:\n    iters: 3\n   batch_size: 2\n", "bad.yaml:4:", ""),
    ("mode:\n  seed: 1\n  seed: 2\n", "bad.yaml:3:", "duplicate key 'seed' (first on line 2)"),
    ("mode:\n  1: x\n", "bad.yaml:2:", "keys must be text"),
    ("- a\n- b\n", "bad.yaml: ", "a recipe is a mapping"),
    ("a: 1\n---\nb: 2\n", "bad.yaml:2:1", "expected a single document"),
    ("mode:\n\t- x\n", "bad.yaml:2:1", "indent with spaces, not tabs"),
    ("extends: off\n", "bad.yaml:1: extends:", "quote names YAML reads as true/false"),
    ("extends: 5\n", "bad.yaml:1: extends:", "recipe name or path"),
    ("extends: not_me\n", "bad.yaml:1: extends:", "no recipe named 'not_me' (did you mean 'not-me'?)"),
    ("extends: ../nowhere.yaml\n", "bad.yaml:1: extends:", "no recipe file"),
    ("name: has space\n", "bad.yaml:1: name:", "letters, digits"),
])
def test_yaml_and_extends_errors_name_the_file_and_place(workspace, text, place, says):
    write(workspace, "bad", text)
    message = error_of("bad")
    assert place in message, message
    assert says in message, message


def test_an_unknown_recipe_name_suggests_the_close_one():
    message = error_of("demoo")
    assert "no recipe named 'demoo' (did you mean 'demo'?)" in message
    assert "known: base, coach, constitution, demo, not-me" in message


def test_a_missing_recipe_file():
    assert "no recipe file" in error_of(Path("/nonexistent/x.yaml"))


def test_a_broken_recipe_does_not_stop_the_listing(workspace):
    write(workspace, "broken", "mode: {sft: {iters: x}}\n")
    rows = {name: description for name, _, description in list_recipes()}
    assert rows["broken"].startswith("(invalid: ") and "mode.sft.iters" in rows["broken"]
    assert rows["demo"].startswith("not-me in a few minutes")


# ------------------------------------------------------------------------------------------ values


def test_exponent_floats_and_bare_dates_are_read_as_intended(workspace):
    write(workspace, "mine", "mode: {sft: {learning_rate: 3e-4}}\ndomain: {since: 2024-01-31}\n")
    recipe = load_recipe("mine")
    assert recipe.get("mode.sft.learning_rate") == pytest.approx(3e-4)
    assert recipe.get("domain.since") == "2024-01-31"


def test_file_paths_are_found_beside_the_recipe_else_in_the_workspace(workspace):
    (workspace / "recipes").mkdir()
    (workspace / "recipes" / "mine.jsonl").write_text("")
    write(workspace, "mine", "domain: {seed_files: [mine.jsonl], preference_files: [practice/p.jsonl, /abs/q.jsonl]}\n"
                             "identity: {constitution_file: ~/c.md}\n")
    recipe = load_recipe("mine")
    assert recipe.get("domain.seed_files") == [str(workspace / "recipes" / "mine.jsonl")]
    assert recipe.get("domain.preference_files") == [str(workspace / "practice" / "p.jsonl"), "/abs/q.jsonl"]
    assert recipe.get("identity.constitution_file") == str(Path("~/c.md").expanduser())


def test_the_system_prompt_fills_in_the_persona_and_the_constitution(workspace):
    (workspace / "recipes").mkdir()
    (workspace / "recipes" / "rules.md").write_text("Say no plainly.\n")
    write(workspace, "mine", "use: {system_prompt: 'Persona: {persona}'}\n"
                             "identity: {persona: Sam., constitution_file: rules.md}\n")
    assert load_recipe("mine").system_prompt() == "Persona: Sam.\n\nSay no plainly."
    write(workspace, "gone", "extends: mine\nidentity: {constitution_file: /nonexistent/rules.md}\n")
    with pytest.raises(RecipeError, match=r"gone\.yaml:2: identity\.constitution_file: cannot read"):
        load_recipe("gone").system_prompt()


# ------------------------------------------------------------------------------------------ the object


def test_the_resolved_recipe_is_read_only_but_serialisable():
    recipe = load_recipe("demo")
    with pytest.raises(TypeError):
        recipe.data["mode"]["sft"]["iters"] = 1
    with pytest.raises(TypeError):
        recipe.data["domain"]["corpora"].append("x")
    with pytest.raises(TypeError):
        recipe.data.update(name="x")
    copy = recipe.to_dict()
    copy["mode"]["sft"]["iters"] = 1
    assert recipe.get("mode.sft.iters") == 10
    assert json.loads(json.dumps(recipe.data)) == recipe.to_dict()
    assert pickle.loads(pickle.dumps(recipe.data)) == recipe.data


def test_get_refuses_keys_the_schema_does_not_have():
    recipe = load_recipe("demo")
    assert recipe.get("mode.sft.lora") == recipe.data["mode"]["sft"]["lora"]
    assert recipe.get("base.quantize", "off") == "off"
    with pytest.raises(KeyError, match=r"mode\.sft\.learnig_rate"):
        recipe.get("mode.sft.learnig_rate")


@pytest.mark.parametrize("name", NAMES)
def test_to_yaml_round_trips_to_the_same_data_and_digest(workspace, name):
    recipe = load_recipe(name)
    text = recipe.to_yaml()
    assert text.startswith(f"# notme recipe '{name}'")
    assert all(str(p.name) in text.split("name:")[0] for p in recipe.chain)  # the header lists the chain
    dumped = workspace / "run" / "recipe.yaml"
    dumped.parent.mkdir(exist_ok=True)
    dumped.write_text(text)
    again = load_recipe(dumped)
    assert again.data == recipe.data
    assert again.name == name  # the name travels with the file, whatever the file is called
    assert again.digest == recipe.digest
    assert again.chain == (dumped.resolve(),)  # standalone: does not re-read base.yaml


def test_the_digest_depends_on_the_values_only(workspace):
    write(workspace, "one", "# a comment\nmode: {sft: {iters: 70, batch_size: 2}}\n")
    first = load_recipe("one").digest
    assert load_recipe("one").digest == first
    write(workspace, "one", "mode:\n  sft:\n    batch_size: 2   # reordered\n    iters: 70\n")
    assert load_recipe("one").digest == first
    write(workspace, "one", "mode: {sft: {iters: 80, batch_size: 2}}\n")
    assert load_recipe("one").digest != first


def test_show_prints_yaml_or_json():
    assert show_recipe("demo").startswith("# notme recipe 'demo'")
    shown = json.loads(show_recipe("demo", as_json=True))
    assert shown["name"] == "demo"
    assert [Path(p).stem for p in shown["chain"]] == ["base", "not-me", "demo"]
    assert shown["digest"] == load_recipe("demo").digest
    assert shown["recipe"]["mode"]["sft"]["iters"] == 10


def test_the_readme_example_recipe_loads(workspace):
    readme = (SHIPPED / "README.md").read_text()
    example = readme.split("Put `my-voice.yaml`", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    write(workspace, "my-voice", example)
    recipe = load_recipe("my-voice")
    assert recipe.get("domain.sources") == ["whatsapp", "signal"]
    assert (recipe.get("mode.sft.lora.rank"), recipe.get("mode.sft.lora.alpha")) == (32, 64)
