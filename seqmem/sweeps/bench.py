"""The memory profile: models compared by a protocol that decides nothing for them.

Every model, built-in or a user's by import path, is sized to one parameter count (its width found by
search), tuned over one grid (learning rate x weight decay) with the choice made on validation for each
task setting, and given one budget in updates, over seeds. A suite (seqmem/sweeps/benches/*.toml) is a list of
tasks, each with difficulty settings; a model's score on a task is the fraction of its settings solved
(validation recall >= `SOLVED` at the chosen grid point; test recall reported) and the mean test recall at
the chosen grid point; overall, the mean over tasks, as mad-lab's MAD score averages over settings. The
whole profile runs as one sweep (a process pool or Ray, resumable); `profile.json` holds the scores.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import statistics
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import seqmem
from seqmem.config import user_code
from seqmem.config.compose import make_config
from seqmem.errors import ConfigError
from seqmem.models import MODELS, count_parameters
from seqmem.run.atomic import write_json
from seqmem.run.records import number
from seqmem.sweeps.sweep import Point, read_index, run_sweep

SOLVED = 0.99
WIDTH_KEYS = ("hidden", "channels", "d_model", "width", "dim")  # the first a model has is its width
PROFILE = "profile.json"


@dataclass(frozen=True)
class TaskSpec:
    """One task of a suite: `key` the difficulty setting, `values` its settings, `also` settings that take
    the same value (zoology's queries, one a pair), `settings` the rest."""

    name: str
    key: str
    values: tuple
    settings: dict
    also: tuple = ()


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    tasks: tuple
    params: int
    budget: int
    grid: dict
    seeds: int
    train: dict


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
    try:
        tasks = tuple(TaskSpec(t["name"], t["key"], tuple(t["values"]), dict(t.get("settings", {})),
                               tuple(t.get("also", ()))) for t in data.get("tasks", []))
        if not tasks:
            raise KeyError("tasks")
        if not set(data["grid"]) <= {"lr", "weight_decay"}:
            raise ConfigError(f"suite {name}: its grid tunes lr and weight_decay, got {', '.join(data['grid'])}")
    except KeyError as e:
        raise ConfigError(f"suite {name}: missing {e.args[0]!r}; a suite gives params, budget, [grid] and "
                          "[[tasks]] with name, key and values") from None
    return Suite(Path(name).stem, data.get("description", ""), tasks, int(data["params"]), int(data["budget"]),
                 {k: list(v) for k, v in data["grid"].items()}, int(data.get("seeds", 3)), dict(data.get("train", {})))


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
    increasing in the width: bisection), and the count achieved."""
    settings = dict(settings or {})
    key = width_key(model)

    @functools.cache  # each width is built once, however often the search compares it
    def count(width: int) -> int:
        return built_size(model, task, {**settings, key: width})

    lo, hi = 1, 2
    while count(hi) < target and hi < 2**16:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < target else (lo, mid)
    width = min((lo, hi), key=lambda w: (abs(count(w) - target), w))
    return {**settings, key: width}, count(width)


def task_config(spec: TaskSpec, value) -> dict:
    return {"name": spec.name, **spec.settings, **{k: value for k in (spec.key, *spec.also)}}


def bench_points(models: list[str], suite: Suite, seeds: int | None = None, params: int | None = None,
                 budget: int | None = None, grid: dict | None = None, say=print) -> tuple[list, dict]:
    """Every run of the profile as a sweep point, tagged with its model, task, setting and grid values; and
    each model's size on each task `{(model, task name): (settings, parameters)}`."""
    from seqmem.run.build import make_task  # imports PyTorch: only once the profile is planned

    params, budget = params or suite.params, budget or suite.budget
    grid = grid or suite.grid
    seeds = seeds or suite.seeds
    keys = sorted(grid)
    points, sizes = [], {}
    for spec in suite.tasks:
        task = make_task(**task_config(spec, spec.values[0]))  # a model's size depends on the task's vocabulary
        for model in models:
            settings, achieved = size_model(model, task, params)
            sizes[(model, spec.name)] = (settings, achieved)
            say(f"{user_code.label(model)} on {spec.name}: {', '.join(f'{k}={v}' for k, v in settings.items())}, "
                f"{achieved} parameters (target {params})")
            for value, combo, seed in itertools.product(spec.values, itertools.product(*(grid[k] for k in keys)),
                                                        range(seeds)):
                tuned = dict(zip(keys, combo, strict=True))
                data = {"task": task_config(spec, value), "model": {"name": model, **settings},
                        "train": {**suite.train, "steps": budget, "seed": seed, **tuned},
                        "allow_short_receptive_field": True}
                tags = {"bench.model": user_code.label(model), "bench.task": spec.name, "bench.setting": value,
                        "bench.seed": seed, "bench.params": achieved, **{f"bench.{k}": v for k, v in tuned.items()}}
                name = (f"model={user_code.label(model)},task={spec.name},{spec.key}={value},"
                        + ",".join(f"{k}={v:g}" for k, v in tuned.items()) + f",seed={seed}")
                points.append(Point(name, make_config(copy.deepcopy(data)), tags))
    return points, sizes


GRID_TAGS = ("bench.lr", "bench.weight_decay")


def profile(entries: list[dict], suite: Suite) -> dict:
    """The scores of finished runs: per model and task, the grid point chosen on mean validation recall over
    seeds for each setting (never on test); its solved fraction and test recall over the settings, per seed,
    as mean and min..max over seeds. A model's score: its solved fractions averaged over tasks."""
    runs = [e for e in entries if e.get("status") == "done"]
    out: dict = {"suite": suite.name, "solved_at": SOLVED, "models": {}}
    for model in dict.fromkeys(e["tags"]["bench.model"] for e in runs):
        tasks = {}
        for spec in suite.tasks:
            mine = [e for e in runs if e["tags"]["bench.model"] == model and e["tags"]["bench.task"] == spec.name]
            if mine:
                tasks[spec.name] = task_score(spec, mine)
        seeds = sorted(set.intersection(*(set(t["per_seed"]) for t in tasks.values()))) if tasks else []
        per_seed = [statistics.fmean(t["per_seed"][s] for t in tasks.values()) for s in seeds]
        out["models"][model] = {"tasks": tasks, "score": spread(per_seed)}
    return out


def task_score(spec: TaskSpec, runs: list[dict]) -> dict:
    """One model's runs on one task: for each setting the grid point with the best mean validation recall."""
    def valid(e) -> float:
        return e["summary"]["at_best"]["valid_recall_accuracy"] or 0.0

    solved: dict[int, list] = {}
    recall: dict[int, list] = {}
    chosen, baseline = {}, []
    for value in spec.values:
        at = [e for e in runs if e["tags"]["bench.setting"] == value]
        if not at:
            continue
        combos: dict[tuple, list] = {}
        for e in at:
            combos.setdefault(tuple(e["tags"].get(k) for k in GRID_TAGS), []).append(e)
        combo, best = max(combos.items(), key=lambda item: statistics.fmean(map(valid, item[1])))
        chosen[str(value)] = {k[len("bench."):]: v for k, v in zip(GRID_TAGS, combo, strict=True) if v is not None}
        for e in best:
            seed = str(e["tags"]["bench.seed"])  # as profile.json keys it
            solved.setdefault(seed, []).append(valid(e) >= SOLVED)
            recall.setdefault(seed, []).append(e["summary"]["at_best"]["recall_accuracy"])
        baseline.append(at[0]["summary"]["baseline"]["recall_accuracy"])
    per_seed = {s: statistics.fmean(v) for s, v in solved.items()}
    return {"solved": spread(list(per_seed.values())),
            "test_recall": spread([statistics.fmean(v) for v in recall.values()]),
            "memoryless_recall": statistics.fmean(baseline), "chosen": chosen, "per_seed": per_seed,
            "parameters": runs[0]["tags"]["bench.params"], "settings": len(chosen),
            "train_seconds": statistics.fmean(e["summary"]["train_seconds"] for e in runs)}


def spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values) if values else None, "min": min(values, default=None),
            "max": max(values, default=None), "values": values}


REFERENCE_MODELS = ("tcn", "gru", "lstm", "s4d", "lru", "mamba")
KEPT = ("steps", "train_seconds", "recall_accuracy", "valid_recall_accuracy", "parameters", "at_best", "baseline")


def reference_path(suite: str) -> Path:
    return Path(str(resources.files("seqmem.sweeps.benches") / f"{suite}-reference.json"))


def write_reference(out: str | Path, suite: Suite, path: str | Path) -> int:
    """A finished profile of the built-in models as a reference file: each run's config and scores, with
    the seqmem version that made them. Returns the number of runs."""
    runs = []
    for e in read_index(Path(out))["points"]:
        if e["status"] != "done" or e["tags"]["bench.model"] not in REFERENCE_MODELS:
            continue
        config = json.loads((Path(out) / e["name"] / "config.json").read_text())
        runs.append({"name": e["name"], "tags": e["tags"], "config": config,
                     "summary": {k: e["summary"][k] for k in KEPT}})
    write_json(Path(path), {"seqmem": seqmem.__version__, "suite": suite.name, "runs": runs})
    return len(runs)


def reference_entries(suite: Suite, skip: set[str]) -> list[dict]:
    """The shipped reference runs of `suite` as sweep entries, less the models in `skip`."""
    path = reference_path(suite.name)
    if not path.is_file():
        raise ConfigError(f"suite {suite.name} has no reference profile; those shipped: "
                          f"{', '.join(n for n in suite_names() if reference_path(n).is_file()) or 'none'}")
    data = json.loads(path.read_text())
    return [{**r, "status": "done"} for r in data["runs"] if r["tags"]["bench.model"] not in skip]


def run_bench(models: list[str], suite: Suite, out: str | Path, backend=None, seeds: int | None = None,
              params: int | None = None, budget: int | None = None, grid: dict | None = None,
              against: str | None = None, progress: bool = True, say=print) -> dict:
    """Run the profile as one sweep into `out` (a rerun skips finished runs); write and return profile.json.
    With `against="reference"`, the shipped reference runs of the built-in models stand beside `models`
    (only for the suite's own parameter count, budget, grid and seeds, which they were measured with)."""
    if not models:
        raise ConfigError("name the models to profile, comma-separated (e.g. gru,lstm,my_model.py:Net)")
    labels = [user_code.label(m) for m in models]
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
    result = profile(references + entries, suite)
    result.update(target_parameters=params or suite.params, budget=budget or suite.budget,
                  grid=grid or suite.grid, seeds=seeds or suite.seeds,
                  sizes={f"{user_code.label(m)} on {t}": {"settings": s, "parameters": n} for (m, t), (s, n) in sizes.items()},
                  failed=[e["name"] for e in entries if e["status"] == "failed"])
    write_json(Path(out) / PROFILE, result)
    return result


def profile_shaped(result: dict) -> bool:
    """profile.json has the shape `profile` writes and the report shows: every score a mean with its min and max."""
    def spread_shaped(s) -> bool:
        return isinstance(s, dict) and all(s.get(k) is None or number(s.get(k)) for k in ("mean", "min", "max"))

    models = result.get("models")
    return (isinstance(models, dict) and isinstance(result.get("suite"), str)
            and all(number(result.get(k)) for k in ("solved_at", "budget", "target_parameters"))
            and all(isinstance(m, dict) and spread_shaped(m.get("score")) and isinstance(m.get("tasks"), dict)
                    and all(isinstance(t, dict) and spread_shaped(t.get("solved")) and spread_shaped(t.get("test_recall"))
                            and number(t.get("memoryless_recall")) for t in m["tasks"].values())
                    for m in models.values()))


def profile_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    """The profile as a table's head and rows: a row a model, per task the solved fraction and test recall
    (mean and min..max over seeds) beside the memoryless recall, then the overall score."""
    tasks = list(dict.fromkeys(t for m in result["models"].values() for t in m["tasks"]))
    head = ["model", *[f"{t} solved / recall (memoryless)" for t in tasks], "score"]
    rows = []
    for model, m in result["models"].items():
        row = [str(model)]
        for t in tasks:
            s = m["tasks"].get(t)
            row.append("-" if s is None else f"{span(s['solved'])} / {span(s['test_recall'])} "
                                             f"({s['memoryless_recall']:.2f})")
        rows.append([*row, span(m["score"])])
    return head, rows


def profile_text(result: dict) -> str:
    """`profile_rows` as aligned text under a line saying what solved means and the budget."""
    lines = [f"memory profile, suite {result['suite']}: solved = validation recall >= {result['solved_at']} at the "
             f"grid point chosen on validation; {result['budget']} updates, ~{result['target_parameters']} parameters"]
    header, rows = profile_rows(result)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


def span(s: dict) -> str:
    if s["mean"] is None:
        return "-"
    low, high = f"{s['min']:.2f}", f"{s['max']:.2f}"
    return f"{s['mean']:.2f}" + (f" ({low}..{high})" if low != high else "")
