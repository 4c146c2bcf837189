"""Recipe files: reading one (YAML with line numbers), resolving its file paths, finding recipes by name."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import notme
from notme.recipe.schema import PATH_KEYS, SCHEMA, RecipeError, brief
from notme.workspace import workspace


class Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate and non-text keys and reads 2e-4 as a number.

    YAML 1.1 (PyYAML) wants a dot in a float, so `learning_rate: 2e-4` would be the string '2e-4';
    a duplicate key would silently keep the last value.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:  # type: ignore[override]
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"keys must be text (got {key!r}; quote it)", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def show_path(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass
class Layer:
    """One recipe file as written: its values (without `extends` / `name`) and the line of each key."""

    path: Path
    data: dict[str, Any]
    lines: dict[str, int]
    extends: list[str]
    name: str | None

    def origin(self, dotted: str) -> str:
        parts = dotted.split(".")
        while parts and ".".join(parts) not in self.lines:
            parts.pop()
        line = self.lines.get(".".join(parts)) if parts else None
        return f"{show_path(self.path)}:{line}" if line else show_path(self.path)


def _key_lines(node: yaml.Node, prefix: str = "") -> dict[str, int]:
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            path = f"{prefix}.{key_node.value}" if prefix else key_node.value
            lines[path] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, path))
    return lines


def read_layer(path: Path) -> Layer:
    shown = show_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RecipeError(f"{shown}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise RecipeError(f"{shown}: cannot read: {e.strerror or e}") from e
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        raw = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        raise RecipeError(_yaml_problem(shown, e)) from e
    except yaml.YAMLError as e:
        raise RecipeError(f"{shown}: invalid YAML: {e}") from e
    finally:
        loader.dispose()
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise RecipeError(f"{shown}: a recipe is a mapping of `key: value` lines (got {type(raw).__name__})")
    lines = _key_lines(node) if node is not None else {}
    layer = Layer(path, raw, lines, [], None)

    extends = raw.pop("extends", "base")        # no `extends:` at all means "on top of the defaults"
    extends = [extends] if isinstance(extends, str) else extends
    if extends is None:
        extends = []
    if not isinstance(extends, list) or not all(isinstance(e, str) and e.strip() for e in extends):
        values = extends if isinstance(extends, list) else [extends]
        boolean = any(isinstance(v, bool) for v in values)
        quote = "; quote names YAML reads as true/false, like 'off'" if boolean else ""
        raise RecipeError(f"{layer.origin('extends')}: extends: must be a recipe name or path, or a list of them "
                          f"(got {brief(extends)}){quote}")
    layer.extends = extends
    name = raw.pop("name", None)
    if name is not None and not SCHEMA.fields["name"].ok(name):
        raise RecipeError(f"{layer.origin('name')}: name: must be {SCHEMA.fields['name'].expect} (got {brief(name)})")
    layer.name = name
    for dotted in PATH_KEYS:
        _resolve_paths(raw, dotted, path)
    return layer


def _yaml_problem(shown: str, e: yaml.MarkedYAMLError) -> str:
    """"file:line:column: problem (context)" from PyYAML's error, whose parts may each be missing."""
    mark = e.problem_mark or e.context_mark
    where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
    text = e.problem or e.context or "invalid YAML"
    if e.problem and e.context:
        since = e.context_mark
        started = f" from line {since.line + 1}" if since and mark and since.line != mark.line else ""
        text = f"{e.context}{started}, {text}" if text.startswith("but ") else f"{text} ({e.context}{started})"
    if "'\\t'" in text:
        text += "; indent with spaces, not tabs"
    return f"{where}: {text}"


def _resolve_paths(data: dict, dotted: str, recipe_file: Path) -> None:
    *parents, key = dotted.split(".")
    for part in parents:
        data = data.get(part)
        if not isinstance(data, dict):
            return
    value = data.get(key)
    if isinstance(value, str) and value.strip():
        data[key] = _resolve_file(value, recipe_file)
    elif isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        data[key] = [_resolve_file(v, recipe_file) for v in value]


def _resolve_file(value: str, recipe_file: Path) -> str:
    """A relative path is taken beside the recipe file that names it when the file is there (seed
    dialogues shipped with a recipe), otherwise in the workspace (files a notme command writes there,
    like practice/pairs.jsonl, that may not exist yet: the dataset builder reports a missing file)."""
    if value.startswith("hf:"):  # a dataset name for `datasets`, not a file
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    beside = recipe_file.parent / path
    if beside.exists():
        return str(beside.resolve())
    return str((workspace() / path).resolve())


class Dumper(yaml.SafeDumper):
    """Multi-line text (personas, prompts) as readable `|` blocks."""


Dumper.add_representer(
    str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))


def recipe_dirs() -> list[Path]:
    """Where recipe names are looked up, in order: the workspace's own recipes, then the shipped ones
    (the source checkout's `recipes/`, or the copy installed inside the package)."""
    package = Path(notme.__file__).resolve().parent
    checkout = package.parent if (package.parent / "pyproject.toml").is_file() else None  # not site-packages
    candidates = [workspace() / "recipes", *([checkout / "recipes"] if checkout else []), package / "recipes_builtin"]
    found: list[Path] = []
    for folder in candidates:
        if folder.is_dir() and folder.resolve() not in found:
            found.append(folder.resolve())
    return found


def _is_path(ref: str) -> bool:
    return "/" in ref or "\\" in ref or ref.startswith(("~", ".")) or ref.endswith((".yaml", ".yml"))


def locate(ref: str, relative_to: Path, skip: Path | None = None, where: str = "") -> Path:
    """The file `ref` names: a path (relative to `relative_to`) or a recipe name. `skip` is the file
    asking, so that a workspace `not-me.yaml` with `extends: not-me` reaches the shipped one."""
    prefix = f"{where}: " if where else ""
    if _is_path(ref):
        path = Path(ref).expanduser()
        path = path if path.is_absolute() else relative_to / path
        if not path.is_file():
            raise RecipeError(f"{prefix}no recipe file {show_path(path)}")
        return path.resolve()
    for folder in recipe_dirs():
        for suffix in (".yaml", ".yml"):
            path = (folder / f"{ref}{suffix}").resolve()
            if path.is_file() and path != skip:
                return path
    known = [name for name, _ in recipe_files()]
    close = difflib.get_close_matches(ref, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    places = ", ".join(show_path(d) for d in recipe_dirs()) or "nowhere: no recipes folder found"
    own = workspace() / "recipes"
    yours = "" if own.is_dir() else f" (your own recipes go in {show_path(own)})"
    raise RecipeError(f"{prefix}no recipe named {ref!r}{hint}; known: {', '.join(known) or 'none'}; "
                      f"looked in {places}{yours}")


def recipe_files() -> list[tuple[str, Path]]:
    """(name, path) of every recipe file a name reaches: the first of each name wins."""
    seen: dict[str, Path] = {}
    for folder in recipe_dirs():
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            seen.setdefault(path.stem, path)
    return sorted(seen.items())
