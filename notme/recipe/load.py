"""Resolving a recipe: the chain of files it extends, merged and checked, as a read-only `Recipe`."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from notme.errors import NotmeError
from notme.recipe.files import Dumper, Layer, locate, read_layer, recipe_files, show_path
from notme.recipe.schema import RecipeError, spec_of, validate


def _chain(top: Path) -> list[Layer]:
    """The files to merge, parents before children, each once (a diamond keeps its first place)."""
    order: list[Layer] = []
    done: set[Path] = set()

    def visit(path: Path, stack: list[Path]) -> None:
        if path in stack:
            loop = " → ".join(show_path(p) for p in [*stack[stack.index(path):], path])
            raise RecipeError(f"{show_path(stack[-1])}: extends: a cycle: {loop}")
        if path in done:
            return
        layer = read_layer(path)
        for ref in layer.extends:
            parent = locate(ref, path.parent, skip=path, where=f"{layer.origin('extends')}: extends")
            visit(parent, [*stack, path])
        done.add(path)
        order.append(layer)

    visit(top, [])
    return order


def _merge(layers: list[Layer]) -> tuple[dict[str, Any], dict[str, str]]:
    """Deep-merge the layers: mappings merge, lists and scalars replace. Returns the data and, per
    dotted key, where its value came from ("file:line").

    A section switched off with null and switched on again by a later mapping starts from the values
    it had before (so `mode.unlikelihood: {weight: 0.2}` after a parent's `unlikelihood: null` keeps
    the default share)."""
    data: dict[str, Any] = {}
    origins: dict[str, str] = {"": layers[0].origin("")}
    shadows: dict[str, tuple[dict, dict[str, str]]] = {}

    def claim(value: Any, path: str, layer: Layer) -> None:
        origins[path] = layer.origin(path)
        if isinstance(value, dict):
            for key, sub in value.items():
                claim(sub, f"{path}.{key}", layer)

    def release(path: str) -> dict[str, str]:
        gone = {k: v for k, v in origins.items() if k.startswith(path + ".")}
        for k in gone:
            del origins[k]
        return gone

    def merge_into(into: dict, new: dict, prefix: str, layer: Layer) -> None:
        for key, value in new.items():
            path = f"{prefix}.{key}" if prefix else key
            old = into.get(key)
            if isinstance(value, dict) and isinstance(old, dict):
                merge_into(old, value, path, layer)
                continue
            if isinstance(old, dict):
                shadows[path] = (old, release(path))
            if isinstance(value, dict) and old is None and path in shadows:
                restored, restored_origins = shadows.pop(path)
                into[key] = restored
                origins.update(restored_origins)
                origins[path] = layer.origin(path)
                merge_into(restored, value, path, layer)
                continue
            into[key] = copy.deepcopy(value)
            claim(value, path, layer)

    for layer in layers:
        merge_into(data, layer.data, "", layer)
    return data, origins


class FrozenDict(dict):
    """A dict that refuses changes: a resolved recipe is shared by the builder, trainer and run record."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a resolved recipe is read-only; recipe.to_dict() gives a copy you can change")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return FrozenDict, (dict(self),)

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict) -> FrozenDict:
        return self


class FrozenList(list):
    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a resolved recipe is read-only; recipe.to_dict() gives a copy you can change")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return FrozenList, (list(self),)

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: dict) -> FrozenList:
        return self


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return FrozenDict({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Recipe:
    """A resolved, validated recipe. `data` is read-only; `chain` lists the files merged, base first."""

    name: str
    path: Path
    data: FrozenDict
    chain: tuple[Path, ...]
    digest: str                                   # sha256 of the resolved content, for run records
    origins: dict[str, str] = field(repr=False, compare=False)

    def get(self, dotted: str, default: Any = None) -> Any:
        """The value at a dotted key ("mode.sft.learning_rate"); `default` when it is absent or inside a
        section switched off (null). A key the schema does not have is a KeyError: a typo in code must
        not read as "not set"."""
        if spec_of(dotted) is None:
            raise KeyError(f"no recipe key {dotted!r}")
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return default if node is None else node

    def origin(self, dotted: str) -> str:
        """Where the value at a dotted key came from ("recipes/demo.yaml:12")."""
        parts = dotted.split(".")
        while parts and ".".join(parts) not in self.origins:
            parts.pop()
        return self.origins.get(".".join(parts), self.origins[""])

    def to_dict(self) -> dict[str, Any]:
        """A plain, changeable deep copy of `data`."""
        return _thaw(self.data)

    def to_yaml(self) -> str:
        """The resolved recipe as a standalone file (`extends: []`): loading it gives the same data."""
        files = "\n".join(f"#   {show_path(p)}" for p in self.chain)
        header = (f"# notme recipe {self.name!r}, resolved from these files (later ones override earlier):\n"
                  f"{files}\n# digest: {self.digest}\n")
        body = {"name": self.name, "extends": [], **{k: v for k, v in self.to_dict().items() if k != "name"}}
        return header + yaml.dump(body, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)

    def to_json(self) -> dict[str, Any]:
        """What `notme recipe show --json` prints."""
        return {"name": self.name, "path": str(self.path), "chain": [str(p) for p in self.chain],
                "digest": self.digest, "recipe": self.to_dict()}

    def system_prompt(self) -> str:
        """`use.system_prompt` with {persona} filled from identity.persona and the constitution file."""
        persona = self.data["identity"]["persona"].strip()
        constitution = self.data["identity"]["constitution_file"]
        if constitution:
            try:
                text = Path(constitution).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as e:
                raise RecipeError(f"{self.origin('identity.constitution_file')}: identity.constitution_file: "
                                  f"cannot read {constitution}: {e}") from e
            persona = f"{persona}\n\n{text}".strip()
        return self.data["use"]["system_prompt"].replace("{persona}", persona).strip()


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A recipe by name (the workspace's recipes/ first, then the shipped ones) or by path to a YAML file."""
    ref = str(name_or_path)
    top = locate(ref, Path.cwd()) if isinstance(name_or_path, str) else _locate_path(Path(name_or_path))
    layers = _chain(top)
    data, origins = _merge(layers)
    own = layers[-1]
    data = {"name": own.name or top.stem, **data}
    origins["name"] = own.origin("name") if own.name else show_path(top)
    since = data.get("domain", {}).get("since") if isinstance(data.get("domain"), dict) else None
    if isinstance(since, date):   # YAML reads 2024-01-31 as a date; keep text so the recipe stays JSON
        data["domain"]["since"] = since.isoformat()
    validate(data, origins, [show_path(layer.path) for layer in layers])
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return Recipe(name=data["name"], path=top, data=_freeze(data), chain=tuple(layer.path for layer in layers),
                  digest=hashlib.sha256(canonical.encode()).hexdigest(), origins=origins)


def _locate_path(path: Path) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise RecipeError(f"no recipe file {show_path(path.resolve())}")
    return path.resolve()


def list_recipes() -> list[tuple[str, Path, str]]:
    """(name, path, description) of every recipe a name can reach, the workspace's own first.
    A recipe that does not load says why in its description instead of stopping the listing."""
    rows = []
    for name, path in recipe_files():
        try:
            description = load_recipe(path).data["description"]
        except NotmeError as e:
            description = f"(invalid: {str(e).splitlines()[-1].strip()})"
        rows.append((name, path, description.strip().splitlines()[0] if description.strip() else ""))
    return rows


def show_recipe(name_or_path: str, as_json: bool = False) -> str:
    """The text `notme recipe show NAME [--json]` prints: the resolved recipe as YAML, or JSON."""
    recipe = load_recipe(name_or_path)
    if as_json:
        return json.dumps(recipe.to_json(), indent=2, ensure_ascii=False)
    return recipe.to_yaml()
