"""The memory profile: models compared by a protocol that decides nothing for them.

Every model, built-in or a user's by import path, is sized to one parameter count (its width found by
search), or every model is given the same widths (zoology's Figure 2: d_model 64 and 128 for all), tuned over
one grid (learning rate x weight decay) with the choice made on validation for each task setting, and given
one budget in updates (or "until solved, at most N updates"), over seeds. A suite
(seqmem/sweeps/benches/*.toml) is a list of tasks, each with difficulty settings, and may name its models;
the scores (seqmem/sweeps/scores.py) are computed from the sweep's entries alone. The whole profile runs as
one sweep (a process pool or Ray, resumable); `profile.json` holds the scores.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import platform
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import seqmem
from seqmem.config import user_code
from seqmem.config.compose import fill, make_config
from seqmem.errors import ConfigError
from seqmem.models import MODELS, count_parameters
from seqmem.run.atomic import write_json
from seqmem.sweeps.scores import SOLVED, cell_label, first_solved, profile
from seqmem.sweeps.sweep import Point, read_index, run_sweep

WIDTH_KEYS = ("hidden", "channels", "d_model", "width", "dim")  # the first a model has is its width
PROFILE = "profile.json"
SUITE_KEYS = {"description", "params", "widths", "budget", "until_solved", "seeds", "grid", "train", "model",
              "models", "tasks"}


@dataclass(frozen=True)
class TaskSpec:
    """One task of a suite: `key` the difficulty setting (or several set together, each value then a list of
    as many), `values` its settings, `also` settings that take the same value (zoology's queries, one a pair),
    `settings` the rest."""

    name: str
    key: str | tuple
    values: tuple
    settings: dict
    also: tuple = ()

    def config(self, value) -> dict:
        keys = self.key if isinstance(self.key, tuple) else (self.key, *self.also)
        values = value if isinstance(self.key, tuple) else [value] * len(keys)
        return {"name": self.name, **self.settings, **dict(zip(keys, values, strict=True))}

    def named(self, value) -> str:
        """The setting as a point's name has it: `blank=10`, or `length=64,pairs=4,queries=4`."""
        if isinstance(self.key, tuple):
            return ",".join(f"{k}={v}" for k, v in zip(self.key, value, strict=True))
        return f"{self.key}={value}"


@dataclass(frozen=True)
class Suite:
    """A suite: `params` (a count every model is sized to) or `widths` (each a setting of its own, every model
    at each); `until_solved` stops a run once validation recall reaches SOLVED, `budget` updates at most;
    `models` the models it names (model specs), `model` settings every model takes."""

    name: str
    description: str
    tasks: tuple
    params: int | None
    budget: int
    grid: dict
    seeds: int
    train: dict
    widths: tuple = ()
    until_solved: bool = False
    models: tuple = ()
    model: dict = field(default_factory=dict)


def suite_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("seqmem.sweeps.benches").iterdir() if p.name.endswith(".toml"))


def load_suite(name: str) -> Suite:
    """A suite by name, or a TOML file of the user's own."""
    path = Path(name) if name.endswith(".toml") else resources.files("seqmem.sweeps.benches") / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown suite {name!r}: choose one of {', '.join(suite_names())}, or give a .toml file")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"suite {name}: invalid TOML ({e}); fix {path}") from None
    name = Path(name).stem
    unknown = sorted(data.keys() - SUITE_KEYS)
    if unknown:
        raise ConfigError(f"suite {name}: unknown key {unknown[0]!r}; a suite gives {', '.join(sorted(SUITE_KEYS))}")
    try:
        tasks = tuple(task_spec(name, t) for t in data.get("tasks", []))
        if not tasks:
            raise KeyError("tasks")
        if not set(data["grid"]) <= {"lr", "weight_decay"}:
            raise ConfigError(f"suite {name}: its grid tunes lr and weight_decay, got {', '.join(data['grid'])}")
        budget = data["budget"]
    except KeyError as e:
        raise ConfigError(f"suite {name}: missing {e.args[0]!r}; a suite gives params (or widths), budget, [grid] and "
                          "[[tasks]] with name, key and values") from None
    if ("params" in data) == ("widths" in data):
        raise ConfigError(f"suite {name}: give params (one count every model is sized to) or widths (every model "
                          "at each width), one of them")
    widths = tuple(data.get("widths", ()))
    if "widths" in data and (not widths or not all(isinstance(w, int) and w >= 1 for w in widths)):
        raise ConfigError(f"suite {name}: widths must be a list of whole numbers >= 1, got {data['widths']!r}")
    train = dict(data.get("train", {}))
    if "stop_at" in train:
        raise ConfigError(f"suite {name}: write until_solved = true (stop once validation recall reaches {SOLVED}), "
                          "not [train] stop_at: the profile's target is its own")
    if not isinstance(data.get("until_solved", False), bool):
        raise ConfigError(f"suite {name}: until_solved must be true or false, got {data['until_solved']!r}")
    models = data.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ConfigError(f"suite {name}: models must be a list of model specs such as "
                          f"\"mamba2[negative_eigenvalues=true]\", got {models!r}")
    return Suite(name, data.get("description", ""), tasks, int(data["params"]) if "params" in data else None,
                 int(budget), {k: list(v) for k, v in data["grid"].items()}, int(data.get("seeds", 3)), train,
                 widths, data.get("until_solved", False), tuple(models), dict(data.get("model", {})))


def task_spec(suite: str, t: dict) -> TaskSpec:
    """One [[tasks]] table; a key given as a list sets several settings together, each value a list of as many."""
    key, values = t["key"], tuple(t["values"])
    if not values:
        raise ConfigError(f"suite {suite}: task {t['name']} has no values")
    if isinstance(key, list):
        if t.get("also") or not all(isinstance(v, list) and len(v) == len(key) for v in values):
            raise ConfigError(f"suite {suite}: task {t['name']} sets {', '.join(key)} together: each value is a list "
                              f"of {len(key)} (e.g. {[1] * len(key)}), and also is not needed (name every key)")
        return TaskSpec(t["name"], tuple(key), tuple(tuple(v) for v in values), dict(t.get("settings", {})))
    return TaskSpec(t["name"], key, values, dict(t.get("settings", {})), tuple(t.get("also", ())))


def split_models(text: str) -> list[str]:
    """MODELS as given on the command line: comma-separated, a comma inside a spec's brackets kept."""
    models, depth, part = [], 0, ""
    for c in text:
        depth += {"[": 1, "]": -1}.get(c, 0)
        if c == "," and depth == 0:
            models.append(part.strip())
            part = ""
        else:
            part += c
    models.append(part.strip())
    if not text.strip() or not all(models):
        raise ConfigError(f"MODELS: give one or more comma-separated models, got {text!r}")
    return models


def parse_model(spec: str) -> tuple[str, dict]:
    """A model spec, `mamba2` or `mamba2[negative_eigenvalues=true,d_state=32]`, as the model's name and the
    settings it names, each typed by its declaration (a mistyped or unknown one refused, naming it)."""
    name, bracket, rest = spec.partition("[")
    if not bracket:
        return spec, {}
    if not rest.endswith("]") or not rest[:-1].strip():
        raise ConfigError(f"model {spec!r}: write NAME[KEY=VALUE,...], e.g. mamba2[negative_eigenvalues=true]")
    given = {}
    for item in rest[:-1].split(","):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"model {spec!r}: {item.strip()!r} is no KEY=VALUE")
        given[key.strip().replace("-", "_")] = value.strip()
    typed = fill("model", {"name": name.strip(), **given})
    return name.strip(), {k: typed[k] for k in given}


def model_label(spec: str) -> str:
    """The spec as tables and folder names show it: a class by its name, the settings as given (typed)."""
    name, settings = parse_model(spec)
    text = ",".join(f"{k}={json.dumps(v) if isinstance(v, bool) or v is None else v}" for k, v in settings.items())
    return user_code.label(name) + (f"[{text}]" if settings else "")


def parse_count(text: str, what: str = "--params") -> int:
    """`50k`, `1.5M` or `20000` as an integer."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise ConfigError(f"{what} must be a count such as 20000, 50k or 1.5M, got {text!r}") from None
    if not value >= 1 or value != int(value):
        raise ConfigError(f"{what} must be a whole count >= 1, got {text!r}")
    return int(value)


def parse_grid(text: str) -> dict[str, list[float]]:
    """`lr=1e-3,3e-3;wd=0,0.1` (or `lr=...,wd=...` with the values after each key) as a grid."""
    grid, key = {}, None
    for part in text.replace(";", ",").split(","):
        name, eq, value = part.partition("=")
        if eq:
            key = {"lr": "lr", "wd": "weight_decay", "weight_decay": "weight_decay"}.get(name.strip())
            if key is None:
                raise ConfigError(f"--grid: tune lr and wd (weight decay), got {name.strip()!r}")
            grid.setdefault(key, [])
        elif key is None:
            raise ConfigError(f"--grid needs KEY=VALUES, e.g. lr=1e-3,3e-3,wd=0,0.1; got {text!r}")
        try:
            grid[key].append(float(value if eq else name))
        except ValueError:
            raise ConfigError(f"--grid {key}: expected a number, got {(value if eq else name)!r}") from None
    return grid


def width_key(model: str) -> str:
    settings = MODELS.params(model)
    key = next((k for k in WIDTH_KEYS if k in settings), None)
    if key is None:
        raise ConfigError(f"model {user_code.label(model)} has none of the width settings {', '.join(WIDTH_KEYS)}: "
                          "the profile sizes a model by its width")
    return key


def built_size(model: str, task, settings: dict) -> int:
    """The parameter count of the model built for `task`, as the run's summary will record it."""
    from seqmem.run.build import make_model  # imports PyTorch: only once a model is sized, not to check flags

    return count_parameters(make_model(model, task, allow_short_receptive_field=True, **settings))


def size_model(model: str, task, target: int, settings: dict | None = None) -> tuple[dict, int]:
    """The model's settings with its width chosen so its parameter count is nearest `target` (the count is
    increasing in the width: bisection over the widths it builds at, multiples of its smallest), and the count
    achieved."""
    settings = dict(settings or {})
    key = width_key(model)
    step = width_step(model, task, settings, key)

    @functools.cache  # each width is built once, however often the search compares it
    def count(k: int) -> int:
        return built_size(model, task, {**settings, key: k * step})

    lo, hi = 1, 2
    while count(hi) < target and hi * step < 2**16:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < target else (lo, mid)
    k = min((lo, hi), key=lambda w: (abs(count(w) - target), w))
    return {**settings, key: k * step}, count(k)


def width_step(model: str, task, settings: dict, key: str, limit: int = 256) -> int:
    """The smallest width the model builds at. A model whose width splits into heads (Mamba-2's expand x d_model
    into heads of head_dim, DeltaNet's d_model into heads) builds only at its multiples, which the search then
    walks; a model that builds at no width up to `limit` is refused with the reason it gave at width 1."""
    first = None
    for width in range(1, limit + 1):
        try:
            built_size(model, task, {**settings, key: width})
            return width
        except ConfigError as e:
            first = first or e
    raise first


def model_settings(spec: str, suite: Suite) -> tuple[str, dict]:
    """A spec's model name and settings: the suite's `[model]` settings, then the spec's own; the width is the
    profile's to set."""
    name, own = parse_model(spec)
    settings = {**suite.model, **own}
    key = width_key(name)
    if key in settings:
        raise ConfigError(f"model {spec}: the profile sets its width {key} (by {'widths' if suite.widths else 'params'}): "
                          f"drop {key} from the spec and the suite's [model]")
    return name, settings


def bench_points(models: list[str], suite: Suite, seeds: int | None = None, params: int | None = None,
                 budget: int | None = None, grid: dict | None = None, say=print) -> tuple[list, dict]:
    """Every run of the profile as a sweep point, tagged with its model, task, setting (and width), grid values;
    and each model's size on each task `{(model label, task name, width or None): (settings, parameters)}`."""
    from seqmem.run.build import make_task  # imports PyTorch: only once the profile is planned

    if params is not None and suite.widths:
        raise ConfigError(f"--params: suite {suite.name} gives every model the same widths "
                          f"({', '.join(map(str, suite.widths))}) instead of a parameter count")
    params, budget = params or suite.params, budget or suite.budget
    grid = grid or suite.grid
    seeds = seeds or suite.seeds
    keys = sorted(grid)
    train = {**suite.train, "steps": budget, **({"stop_at": SOLVED} if suite.until_solved else {})}
    points, sizes = [], {}
    for spec in suite.tasks:
        task = make_task(**spec.config(spec.values[0]))  # a model's size depends on the task's vocabulary
        for model in models:
            name, fixed = model_settings(model, suite)
            label = model_label(model)
            for width in suite.widths or (None,):
                if width is None:
                    settings, achieved = size_model(name, task, params, fixed)
                else:
                    settings = {**fixed, width_key(name): width}
                    achieved = built_size(name, task, settings)
                sizes[(label, spec.name, width)] = (settings, achieved)
                say(f"{label} on {spec.name}: {', '.join(f'{k}={v}' for k, v in settings.items())}, {achieved} "
                    f"parameters" + (f" (target {params})" if width is None else ""))
                for value, combo, seed in itertools.product(spec.values, itertools.product(*(grid[k] for k in keys)),
                                                            range(seeds)):
                    tuned = dict(zip(keys, combo, strict=True))
                    data = {"task": spec.config(value), "model": {"name": name, **settings},
                            "train": {**train, "seed": seed, **tuned}, "allow_short_receptive_field": True}
                    tags = {"bench.model": label, "bench.task": spec.name,
                            "bench.setting": cell_label(value) if isinstance(value, tuple) else value,
                            **({} if width is None else {"bench.width": width}), "bench.seed": seed,
                            "bench.params": achieved, **{f"bench.{k}": v for k, v in tuned.items()}}
                    point_name = (f"model={label},task={spec.name},{spec.named(value)},"
                                  + ("" if width is None else f"{width_key(name)}={width},")
                                  + ",".join(f"{k}={v:g}" for k, v in tuned.items()) + f",seed={seed}")
                    points.append(Point(point_name, make_config(copy.deepcopy(data)), tags))
    return points, sizes


REFERENCE_MODELS = ("tcn", "gru", "lstm", "s4d", "lru", "mamba", "attention", "deltanet", "mlstm", "mamba2")
KEPT = ("steps", "train_seconds", "recall_accuracy", "valid_recall_accuracy", "parameters", "at_best", "baseline",
        "state_size")


def reference_path(suite: str) -> Path:
    return Path(str(resources.files("seqmem.sweeps.benches") / f"{suite}-reference.json"))


def arithmetic() -> dict:
    """What decides a run's last digits beside its config: PyTorch's version and the CPU's vector width and
    maker. A reference's numbers are the current code's only where these match; elsewhere they may differ."""
    import torch  # only when a reference is written or checked: loading the suite module stays free of PyTorch

    cpu = platform.processor()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        info = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}
        cpu = " ".join(info.get(k, "") for k in ("vendor_id", "model name")).strip() or cpu
    except OSError:
        pass
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu": cpu}


def write_reference(out: str | Path, suite: Suite, path: str | Path) -> int:
    """A finished profile of the built-in models as a reference file: each run's config, scores and updates to
    solve, with the seqmem version and the arithmetic that made them. Returns the number of runs."""
    runs = []
    for e in read_index(Path(out))["points"]:
        if e["status"] != "done" or e["tags"]["bench.model"] not in REFERENCE_MODELS:
            continue
        config = json.loads((Path(out) / e["name"] / "config.json").read_text())
        runs.append({"name": e["name"], "tags": e["tags"], "config": config,
                     "summary": {k: e["summary"][k] for k in KEPT if k in e["summary"]},
                     "solved_step": solved_step(Path(out) / e["name"])})
    write_json(Path(path), {"seqmem": seqmem.__version__, "suite": suite.name, "arithmetic": arithmetic(), "runs": runs})
    return len(runs)


def reference_entries(suite: Suite, skip: set[str]) -> list[dict]:
    """The shipped reference runs of `suite` as sweep entries (marked `reference`), less the models in `skip`.
    Fields added to the profile since the reference was measured may be absent (a state size, the updates to
    solve): the scores say so rather than guess."""
    path = reference_path(suite.name)
    if not path.is_file():
        raise ConfigError(f"suite {suite.name} has no reference profile; those shipped: "
                          f"{', '.join(n for n in suite_names() if reference_path(n).is_file()) or 'none'}")
    data = json.loads(path.read_text())
    return [{**r, "status": "done", "reference": True} for r in data["runs"] if r["tags"]["bench.model"] not in skip]


def solved_step(run: Path) -> int | None:
    """The step at which the run in folder `run` first reached the target on validation (its metrics.jsonl)."""
    from seqmem.run.rundir import RunDir  # imports PyTorch: only once runs have been trained

    return first_solved(RunDir(run).metrics())


def run_bench(models: list[str], suite: Suite, out: str | Path, backend=None, seeds: int | None = None,
              params: int | None = None, budget: int | None = None, grid: dict | None = None,
              against: str | None = None, progress: bool = True, say=print) -> dict:
    """Run the profile as one sweep into `out` (a rerun skips finished runs); write and return profile.json.
    `models` default to the suite's. With `against="reference"`, the shipped reference runs of the built-in
    models stand beside `models` (only for the suite's own parameter count, budget, grid and seeds, which
    they were measured with)."""
    models = list(models or suite.models)
    if not models:
        raise ConfigError(f"name the models to profile, comma-separated (e.g. gru,lstm,my_model.py:Net): suite "
                          f"{suite.name} names none")
    labels = [model_label(m) for m in models]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two models share the label {next(x for x in labels if labels.count(x) > 1)!r}")
    if against not in (None, "reference"):
        raise ConfigError(f"--against must be reference (the shipped profile of the built-in models), got {against!r}")
    if against and any(v is not None for v in (seeds, params, budget, grid)):
        raise ConfigError("--against reference compares at the suite's own --params, --budget, --grid and --seeds "
                          "(what the reference was measured with): drop them")
    references = reference_entries(suite, set(labels)) if against else []
    points, sizes = bench_points(models, suite, seeds, params, budget, grid, say)
    entries = run_sweep(points, out, backend, progress=progress)
    for e in entries:
        if e["status"] == "done":
            e["solved_step"] = solved_step(Path(out) / e["name"])
    result = profile(references + entries, suite, grid)
    result.update(target_parameters=None if suite.widths else params or suite.params, widths=list(suite.widths),
                  budget=budget or suite.budget, until_solved=suite.until_solved, grid=grid or suite.grid,
                  seeds=seeds or suite.seeds,
                  sizes={f"{m} on {t}" + (f" at width {w}" if w else ""): {"settings": s, "parameters": n}
                         for (m, t, w), (s, n) in sizes.items()},
                  updates_to_solve={e["name"]: e.get("solved_step") for e in entries if e["status"] == "done"},
                  failed=[e["name"] for e in entries if e["status"] == "failed"])
    write_json(Path(out) / PROFILE, result)
    return result
