"""Recipes: named experiments as TOML data files in this folder (a notebook's settings, a suite's runs).

A recipe holds `description`, optional `suites` (names of suites it belongs to), optional `notes`, and the
`[task]`, `[model]`, `[method]` and `[train]` tables of a config (seqmem.config.compose).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from seqmem.config.settings import suggest
from seqmem.errors import ConfigError


def recipe_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def load_recipe(name: str) -> dict:
    """A recipe by name, or a TOML file of the user's own (a path ending in .toml)."""
    if name.endswith(".toml"):
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"recipe file {name} does not exist")
    else:
        path = resources.files(__name__) / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown recipe {name!r}{suggest(name, recipe_names())}: choose one of {', '.join(recipe_names())} (see `seqmem recipes`), "
                          "or give a .toml file")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"recipe {name}: invalid TOML ({e}); fix {path}") from None


def suites() -> dict[str, list[str]]:
    """Suite -> the recipes that belong to it."""
    found: dict[str, list[str]] = {}
    for name in recipe_names():
        for suite in load_recipe(name).get("suites", []):
            found.setdefault(suite, []).append(name)
    return dict(sorted(found.items()))


def suite_recipes(suite: str) -> list[str]:
    known = suites()
    if suite not in known:
        raise ConfigError(f"unknown suite {suite!r}{suggest(suite, known)}: choose one of {', '.join(known)} "
                          "(a recipe's `suites` puts it in one)")
    return known[suite]
