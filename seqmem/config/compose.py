"""One home for an experiment's settings: a recipe, flags, `--set`, a Python dict and a sweep point all
become the same validated `Config`, recorded as config.json (seqmem.run.build turns it into task, model and method).

A config has five parts:

    {"task":   {"name": "copy-memory", "blank": 1000, ...},   # the task's constructor arguments
     "model":  {"name": "tcn", "levels": 8, ...},             # the model's constructor arguments
     "method": {"name": "tbptt", "chunk_length": 20},         # the training method and its own options
     "train":  {"steps": 3000, "lr": 1e-3, ...},              # TrainConfig: what every method shares
     "allow_short_receptive_field": false,
     "sources": {"/abs/my_model.py": "<sha256>"}}                # files named by import path, and their hash

The settings a part accepts, and their types, are read from its constructor (or its dataclass), so a new
task, model or method brings its settings with it and nothing here lists them twice. A part's name is a
short name or an import path (`package.module:Class`, `path/to/file.py:Class`: seqmem.config.user_code).
"""

from __future__ import annotations

import copy
import sys
from dataclasses import asdict, dataclass, field

from seqmem.config import user_code
from seqmem.config.settings import REQUIRED, Param, coerce, settings_of, suggest
from seqmem.errors import ConfigError
from seqmem.models import MODELS
from seqmem.recipes import load_recipe
from seqmem.tasks import TASKS
from seqmem.training.methods import METHODS, method_options
from seqmem.training.train_config import TrainConfig

SECTIONS = ("task", "model", "method", "train")
LEGACY_METHOD_KEYS = {"chunk_length": "chunk_length", "tp_inverse_lr": "inverse_lr", "tp_target_lr": "target_lr",
                      "tp_noise": "noise", "tp_warmup_steps": "warmup_steps"}


@dataclass(frozen=True)
class Config:
    """A validated experiment, every default filled in. `as_dict()` is what config.json records."""

    task: dict
    model: dict
    method: dict
    train: dict
    allow_short_receptive_field: bool = False
    sources: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return copy.deepcopy(asdict(self))

    def get(self, key: str):
        """A setting by dotted key (`task.blank`, `train.seed`, `model.name`)."""
        section, _, name = key.partition(".")
        return getattr(self, section)[name] if name else getattr(self, section)


REGISTRIES = {"task": TASKS, "model": MODELS, "method": METHODS}  # section -> its names (read from source)


def known_name(section: str, name: str) -> str:
    """A task's, model's or method's name as config.json records it (an import path's file made absolute)."""
    return REGISTRIES[section].known(name)


def source_digests(parts: dict) -> dict[str, str]:
    """Each file a part is imported from, and the files of its folder it imports (read from source), with the
    SHA-256 of their contents now."""
    named = [user_code.source_file(p["name"]) for p in parts.values() if user_code.is_import_path(p.get("name"))]
    files = [g for f in named if f is not None for g in (f, *user_code.local_imports(f))]
    return {str(f): user_code.digest(f) for f in files}  # the named file's path is absolute, so its siblings' are


def section_params(section: str, name: str | None = None) -> dict[str, Param]:
    """The settings of one part of a config: of the named task, model or method, or TrainConfig's (read
    without importing the task's or model's module, so checking a config needs no PyTorch)."""
    return settings_of(TrainConfig) if section == "train" else REGISTRIES[section].params(name)


def upgrade(data: dict) -> dict:
    """A config written before methods owned their options (`train.method`, `train.tp_noise`, ...) in today's shape."""
    train = data.get("train") or {}
    if not isinstance(train, dict) or not isinstance(data.get("method") or {}, dict):
        return data  # make_config names the part that is not a table
    train = dict(train)
    if "method" not in train and not LEGACY_METHOD_KEYS.keys() & train.keys():
        return data
    method = dict(data.get("method") or {})
    name = train.pop("method", None) or method.get("name", "bptt")
    method["name"] = name
    for old, new in LEGACY_METHOD_KEYS.items():
        value = train.pop(old, None)
        if value is not None and new in section_params("method", name):
            method.setdefault(new, value)
    return {**data, "train": train, "method": method}


def make_config(data) -> Config:
    """Validate a config dict (or pass a Config through): unknown or mistyped settings are refused with a line
    that names them, and every default is filled in."""
    if isinstance(data, Config):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"a config is a dict with task, model, method and train, got {type(data).__name__}")
    data = upgrade(copy.deepcopy(data))
    unknown = data.keys() - {*SECTIONS, "allow_short_receptive_field", "sources"}
    if unknown:
        raise ConfigError(f"a config has no part {sorted(unknown)[0]!r}{suggest(sorted(unknown)[0], SECTIONS)}; its parts: {', '.join(SECTIONS)}, "
                          "allow_short_receptive_field")
    parts = {}
    for section in SECTIONS:
        given = data.get(section) or {}
        if not isinstance(given, dict):
            raise ConfigError(f"{section} must be a table of settings, got {given!r}")
        parts[section] = fill(section, dict(given))
    train = TrainConfig(**parts["train"]).as_dict()
    method = {"name": parts["method"]["name"],
              **asdict(method_options(parts["method"]["name"], without_name(parts["method"])))}
    allow = coerce("allow_short_receptive_field", data.get("allow_short_receptive_field", False), bool)
    sources = source_digests(parts)
    recorded = data.get("sources") or {}
    if not isinstance(recorded, dict):
        raise ConfigError(f"sources must be a table of file: sha256, got {recorded!r}")
    changed = user_code.changed_sources(recorded, sources)
    if changed:
        raise ConfigError(f"{changed[0]} has changed since this config was recorded: restore it, or start a new run "
                          "(a new --out) to train the changed code")
    return Config(task=parts["task"], model=parts["model"], method=method, train=train,
                  allow_short_receptive_field=allow, sources=sources)


def without_name(section: dict) -> dict:
    return {k: v for k, v in section.items() if k != "name"}


def fill(section: str, given: dict) -> dict:
    """One part checked against its declared settings, defaults filled (a method's required options are the
    method's to ask for)."""
    if section == "method":
        given.setdefault("name", "bptt")
    name = given.pop("name", None)
    if section in ("task", "model", "method") and name is None:
        example = {"task": "seqmem train copy-memory ...", "model": "--model tcn"}.get(section, "--method bptt")
        raise ConfigError(f"the config names no {section}: give one ({example}); `seqmem {section}s` lists them")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{section}.name must be a string, got {name!r}")
    if name is not None:
        name = known_name(section, name)
    params = section_params(section, name)
    out = {} if name is None else {"name": name}
    for key, value in given.items():
        if key not in params:
            what = f"{section} {name}" if name else section
            raise ConfigError(f"{what} has no setting {key!r}{suggest(key, params)}; its settings: "
                              f"{', '.join(params) or 'none'}")
        out[key] = coerce(f"{section}.{key}", value, params[key].kind)
    for key, param in params.items():
        if key not in out and (param.default is not REQUIRED or section != "method"):
            if param.default is REQUIRED:
                raise ConfigError(f"{section} {name} needs {key!r}")
            out[key] = param.default
    return out


def resolve_key(data: dict, key: str) -> tuple[str, str, Param | None]:
    """The part and setting a key names: `task.blank`, or a bare `blank` found in the chosen task, model,
    method or training (refused where it is in none, or in two)."""
    section, _, name = key.rpartition(".")
    name = name.replace("-", "_")
    if section and section not in SECTIONS:
        raise ConfigError(f"--set {key}: the part must be one of {', '.join(SECTIONS)}{suggest(section, SECTIONS)}")
    if name == "name" and section:
        return section, name, None
    chosen = {s: (data.get(s) or {}).get("name", "bptt" if s == "method" else None) for s in SECTIONS}
    found = {s: section_params(s, chosen[s]) for s in ([section] if section else SECTIONS)
             if s == "train" or chosen[s] is not None}
    candidates = [s for s, params in found.items() if name in params]
    if not candidates:
        where = f"{section} " if section else "task, model, method or train "
        listed = "; ".join(f"{s + ' ' + chosen[s] if chosen[s] else s}: {', '.join(p) or 'none'}" for s, p in found.items())
        near = suggest(name, [k for params in found.values() for k in params])
        raise ConfigError(f"{where}has no setting {name!r}{near} ({listed})")
    if len(candidates) > 1:
        raise ConfigError(f"{name!r} is a setting of both {' and '.join(candidates)}: write --set {candidates[0]}.{name}=...")
    return candidates[0], name, found[candidates[0]][name]


def set_value(data: dict, key: str, value, label: str | None = None) -> dict:
    """`data` (a config dict, changed in place) with one setting put in, typed by its declaration; a new
    task, model or method name starts that part afresh."""
    if key == "allow_short_receptive_field":
        data[key] = coerce(label or key, value, bool)
        return data
    section, name, param = resolve_key(data, key)
    if name == "name":
        rename(data, section, value)
        return data
    data.setdefault(section, {})[name] = coerce(label or f"{section}.{name}", value, param.kind)
    return data


def rename(data: dict, section: str, name: str) -> tuple[list[str], list[str]]:
    """A new name in one part of a config (changed in place): the settings that part held which the new class
    declares too are kept (a recipe's width, carried to another model that has one), the others dropped.
    The names of those kept and of those dropped."""
    old = data.get(section) or {}
    if old.get("name") == name:
        return [], []
    settings = {k: v for k, v in old.items() if k != "name"}
    declared = section_params(section, name) if settings else {}
    kept = [k for k in settings if k in declared]
    data[section] = {"name": name, **{k: settings[k] for k in kept}}
    return kept, [k for k in settings if k not in declared]


def renamed_line(section: str, name: str, old: dict, kept: list[str], dropped: list[str], flag: str) -> str:
    """One line saying what a name given over a recipe's kept of the recipe's settings and what it dropped."""
    shown = ", ".join(f"{k}={old[k]}" for k in kept) or "none"
    new, before = user_code.label(name), user_code.label(old["name"])
    line = f"{flag} {new} replaces the recipe's {section} {before}: keeps its {shown}"
    return line + (f"; drops {', '.join(dropped)} ({before}'s own)" if dropped else "")


def recipe_config(name: str) -> dict:
    """A recipe's settings as a config dict (not yet validated: flags may still change it)."""
    recipe = load_recipe(name)
    for part in SECTIONS:
        if part in recipe and not isinstance(recipe[part], dict):
            raise ConfigError(f"recipe {name}: [{part}] must be a table of settings, got {recipe[part]!r}")
    return upgrade({k: copy.deepcopy(v) for k, v in recipe.items() if k not in ("description", "suites", "notes")})


def draft(recipe: str | None = None, names: dict | None = None, settings=(), need: tuple = ("task", "model"),
          base: dict | None = None, say=None) -> dict:
    """A config dict from a recipe (or `base`), the names given (`{"task": ..., "model": ..., "method": ...}`)
    and settings `(key, value, label)` in order, each typed by its declaration as it goes in; not yet
    filled or checked as a whole (`compose` does both). A length given (`train.steps` or `train.epochs`)
    replaces the recipe's other one. A name given over the recipe's keeps the recipe's settings it declares
    too, and `say` (default: standard error) gets one line naming those kept and those dropped."""
    data = copy.deepcopy(base) if base is not None else recipe_config(recipe) if recipe else {}
    for section, name in (names or {}).items():
        if name:
            old = copy.deepcopy(data.get(section) or {})
            kept, dropped = rename(data, section, name)
            if kept or dropped:
                (say or stderr)(renamed_line(section, name, old, kept, dropped, f"--{section}"))
    if "task" in need and "name" not in data.get("task", {}):
        raise ConfigError("name a task (seqmem train copy-memory ...) or a --recipe; `seqmem tasks` lists them")
    if "model" in need and "name" not in data.get("model", {}):
        raise ConfigError("name a model with --model (e.g. --model tcn); `seqmem models` lists them")
    replace_length(data, settings)
    for key, value, label in settings:
        set_value(data, key, value, label=label)
    return data


def replace_length(data: dict, settings) -> None:
    """A training length the settings give (`train.steps` or `train.epochs`) replaces the other one `data` has
    (a recipe's), rather than being refused beside it."""
    keys = {key for key, _, _ in settings}
    for given, other in (("train.steps", "epochs"), ("train.epochs", "steps")):
        if given in keys and f"train.{other}" not in keys:
            data.get("train", {}).pop(other, None)


def compose(recipe: str | None = None, names: dict | None = None, settings=(), base: dict | None = None,
            say=None) -> Config:
    """The one call that makes a checked Config: a recipe (or `base`), names and settings (see `draft`)."""
    return make_config(draft(recipe, names, settings, base=base, say=say))


def stderr(line: str) -> None:
    print(line, file=sys.stderr)
