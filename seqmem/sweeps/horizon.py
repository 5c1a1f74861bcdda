"""The memory horizon: for each model, the largest delay at which it still reaches validation recall >= a
target within a fixed budget (updates, and optionally seconds), found per seed by doubling from `start`
and then bisecting, and reported as mean (min..max) over seeds.

Every probe is a point of one sweep (`model=gru,echo_step=16,seed=0`), so the search runs on the same
backends, and a rerun skips every probe already finished: the search replays its decisions from them.
A probe counts as solved when the best validation recall of its evaluations reaches the target.
"""

from __future__ import annotations

import copy
import statistics
from pathlib import Path

from seqmem.config import user_code
from seqmem.config.compose import resolve_key, set_value, without_name
from seqmem.errors import ConfigError
from seqmem.run.atomic import write_json
from seqmem.run.build import make_task
from seqmem.run.records import number
from seqmem.sweeps.point_names import folder_name
from seqmem.sweeps.sweep import Point, grid, run_sweep

DEFAULT_KEYS = {"copy-memory": "task.blank", "echo-stream": "task.echo_step", "echo-letters": "task.delay"}


def next_probe(lo: int, hi: int | None, start: int, limit: int, tolerance: float) -> int | None:
    """The next delay to try, given the largest solved (`lo`, 0 for none) and the smallest failed (`hi`, None
    for none); None when the horizon is known to within `tolerance` of itself (or 1 step), or reaches `limit`."""
    if hi is None:
        if lo >= limit:
            return None
        return min(limit, start if lo == 0 else 2 * lo)
    if hi - lo <= max(1, tolerance * lo):
        return None
    probe = (lo + hi) // 2
    return probe if lo < probe < hi else None


def delay_key(base: dict, key: str | None) -> str:
    """The task setting to search over, checked against the task."""
    task = base["task"]["name"]
    key = key or DEFAULT_KEYS.get(task)
    if key is None:
        raise ConfigError(f"task {task} has no default delay to search: give --key (e.g. --key task.blank)")
    key = key if "." in key else f"task.{key}"
    section, name, _ = resolve_key(base, key)
    return f"{section}.{name}"


def model_label(model) -> str:
    """A model given by name (`gru`) or as settings (`{"name": "tcn", "levels": 2}`, optionally with a `label`,
    and a `method` to train it by: a name, or its settings)."""
    if isinstance(model, str):
        return user_code.label(model)
    if model.get("label"):
        return model["label"]
    method = model.get("method")
    method = [method if isinstance(method, str) else model_label(method)] if method else []
    return "-".join([*(user_code.label(v) if k == "name" else f"{v}" for k, v in model.items()
                       if k not in ("label", "method")), *method])


def search(base: dict, models: list, seeds: list[int], out: str | Path, backend=None, key: str | None = None,
           start: int = 1, limit: int = 1024, target: float = 0.99, tolerance: float = 0.25, settings=(),
           progress: bool = True, say=print) -> dict:
    """Search every model's horizon (one search per seed); write and return `horizon.json`'s content.

    `models` are names or settings dicts. A probe whose delay a model cannot see (a TCN's receptive field)
    is trained anyway and fails, so the horizon stays below what the model can see.
    """
    base = {**copy.deepcopy(base), "allow_short_receptive_field": True}
    key = delay_key(base, key)
    for name, value, low in (("--start", start, 1), ("--limit", limit, start)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if not 0 < target <= 1:
        raise ConfigError(f"--target must be in (0, 1], got {target!r}")
    if not 0 <= tolerance < 1:
        raise ConfigError(f"--resolution must be in [0, 1) (a fraction of the solved delay), got {tolerance!r}")
    if not models:
        raise ConfigError("--models: name one or more models")
    short = key.split(".")[-1]
    # the budget: every probe's config, checked before any runs
    labels = [folder_name(model_label(m), "--models label") for m in models]  # each names its probes' folders
    if len(set(labels)) != len(labels):
        raise ConfigError(f"--models: two models share the label {next(x for x in labels if labels.count(x) > 1)!r}")
    budget_config = probe_config(base, models[0], key, start, seeds[0], settings)
    budget = {"steps": budget_config.train["steps"], "epochs": budget_config.train["epochs"],
              "max_seconds": budget_config.train["max_seconds"]}
    spec = dict(zip(labels, models, strict=True))
    bounds = {(m, s): [0, None] for m in labels for s in seeds}
    points: dict[str, Point] = {}
    built: dict = {}  # each point's recorded config: every round plans every point so far, builds only new ones

    def point(model: str, seed: int, delay: int) -> Point:
        name = f"model={model},{short}={delay},seed={seed}"
        if name not in points:
            config = probe_config(base, spec[model], key, delay, seed, settings)
            make_task(config.task["name"], **without_name(config.task))  # a delay the task refuses, refused here
            points[name] = Point(name, config, {"model": model})
        return points[name]

    for model in labels:  # every model's settings are checked at the start, not when its turn comes
        point(model, seeds[0], start)
    while True:
        probes = {ms: next_probe(*bounds[ms], start, limit, tolerance) for ms in bounds}
        probes = {ms: d for ms, d in probes.items() if d is not None}
        if not probes:
            break
        wanted = {}
        for ms, d in probes.items():
            try:
                wanted[ms] = point(*ms, d).name
            except ConfigError as e:  # the task refuses that delay (past its sequence, say): not solved
                bounds[ms][1] = d
                say(f"model={ms[0]},{short}={d},seed={ms[1]}: refused ({e}); counted as not solved")
        if not wanted:
            continue
        entries = {e["name"]: e for e in run_sweep(list(points.values()), out, backend, progress=progress, built=built)}
        for (model, seed), name in wanted.items():
            entry, delay = entries[name], probes[(model, seed)]
            solved = entry["status"] == "done" and entry["summary"]["at_best"]["valid_recall_accuracy"] >= target
            bounds[(model, seed)][0 if solved else 1] = delay
            if entry["status"] == "failed":
                say(f"{name}: failed ({entry['error']}); counted as not solved")
        write_json(Path(out) / "horizon.json", summary(key, start, limit, target, budget, bounds, labels, seeds))
    result = summary(key, start, limit, target, budget, bounds, labels, seeds)
    write_json(Path(out) / "horizon.json", result)
    return result


def probe_config(base: dict, model, key: str, delay: int, seed: int, settings):
    """One probe's config: the model (a name, or settings), the delay and the seed put into the base."""
    data = copy.deepcopy(base)
    model = {"name": model} if isinstance(model, str) else {k: v for k, v in model.items() if k != "label"}
    method = model.pop("method", None)
    set_value(data, "model.name", model["name"], label="--models")
    for name, value in model.items():
        if name != "name":
            set_value(data, f"model.{name}", value, label=f"model {name}")
    if method is not None:  # a new method's name starts its options afresh; the base's own method keeps them
        method = {"name": method} if isinstance(method, str) else method
        set_value(data, "method.name", method["name"], label="--methods")
        for name, value in method.items():
            if name != "name":
                set_value(data, f"method.{name}", value, label=f"method {name}")
    return grid(data, {key: [delay]}, [seed], settings)[0]


def summary(key, start, limit, target, budget, bounds, models, seeds) -> dict:
    out = {"key": key, "start": start, "limit": limit, "target": target, "budget": budget, "models": {}}
    for model in models:
        per_seed = {str(s): bounds[(model, s)][0] for s in seeds}
        values = list(per_seed.values())
        out["models"][model] = {"seeds": per_seed, "mean": statistics.fmean(values), "min": min(values),
                                "max": max(values), "reached_limit": all(v >= limit for v in values)}
    return out


def horizon_shaped(horizon: dict) -> bool:
    """horizon.json has the shape `summary` writes and the report shows."""
    models = horizon.get("models")
    return (isinstance(horizon.get("key"), str) and isinstance(horizon.get("budget"), dict)
            and all(number(horizon.get(k)) for k in ("start", "limit", "target")) and isinstance(models, dict)
            and all(isinstance(h, dict) and all(number(h.get(k)) for k in ("mean", "min", "max"))
                    and isinstance(h.get("seeds"), dict) and all(map(number, h["seeds"].values()))
                    for h in models.values()))


def horizon_text(horizon: dict) -> str:
    """A horizon's result as lines of text: each model's largest delay solved, mean (min..max) over seeds."""
    lines = [f"memory horizon: largest {horizon['key']} with validation recall >= {horizon['target']} "
             f"(searched {horizon['start']}..{horizon['limit']})"]
    for model, h in horizon["models"].items():
        spread = f" ({h['min']:g}..{h['max']:g})" if h["min"] != h["max"] else ""
        lines.append(f"  {model:<10} {h['mean']:.4g}{spread}" + ("  (reached the limit)" if h["reached_limit"] else ""))
    return "\n".join(lines)
