"""Training recipes: YAML files in five layers (base, domain, use, mode, identity) composed with `extends:`.

`load_recipe("demo")` finds `demo.yaml` (the workspace's `recipes/` first, so the owner can override a
shipped recipe, then the shipped ones), merges it over the recipes it extends (mappings merge, lists
and scalars replace, `null` switches an optional section off), checks every key against SCHEMA and
returns a read-only `Recipe`. Every error names the file (and line) the offending value came from and
its dotted key, because a value may come from any file in the chain. `recipes/base.yaml` holds every
default; `recipes/README.md` documents every key.
"""

from notme.recipe.files import recipe_dirs
from notme.recipe.load import Recipe, list_recipes, load_recipe, show_recipe
from notme.recipe.schema import SCHEMA, RecipeError, schema_keys

__all__ = ["SCHEMA", "Recipe", "RecipeError", "list_recipes", "load_recipe", "recipe_dirs", "schema_keys",
           "show_recipe"]
