"""A memory profile's scores, from its finished runs alone (the sweep's entries, or a reference's).

A cell is one model on one task setting (and width, where the suite fixes widths). In each cell the grid point
is the one with the best validation recall averaged over seeds (never test); the cell reports, at that point,
per seed: solved (validation recall >= `SOLVED`), the test recall, the recall above the memoryless recall,
the updates to solve and the test recall at each other length scored (a task's `eval_lengths`); and, over the whole grid, the learning-rate window (the grid points whose
seed-mean validation recall reaches `SOLVED`) and whether the chosen rate is at the grid's edge. A task
averages its cells per seed; a model averages its tasks per seed, and models are ranked on the recall
above the memoryless recall, which credits a model that nearly solves where the solved fraction cannot.
"""

from __future__ import annotations

import itertools
import math
import statistics

from seqmem.run.records import number

SOLVED = 0.99
GRID_TAGS = ("bench.lr", "bench.weight_decay")


def profile(entries: list[dict], suite, grid: dict | None = None) -> dict:
    """The scores of finished runs, the models in the order of their rank, with what the suite measured them
    by. `grid` (default the suite's) is what each cell's window is a fraction of and whose edges the chosen
    rate is held against."""
    runs = [e for e in entries if e.get("status") == "done"]
    combos = grid_combos(grid or suite.grid)
    models = {}
    for model in dict.fromkeys(e["tags"]["bench.model"] for e in runs):
        mine = [e for e in runs if e["tags"]["bench.model"] == model]
        tasks = {}
        for spec in suite.tasks:
            scored = task_score(spec, [e for e in mine if e["tags"]["bench.task"] == spec.name], combos)
            if scored is not None:
                tasks[spec.name] = scored
        seeds = sorted(set.intersection(*(set(t["per_seed"]) for t in tasks.values()))) if tasks else []
        cells = [c for t in tasks.values() for c in t["cells"].values()]
        models[model] = {
            "tasks": tasks,
            "score": spread([statistics.fmean(t["per_seed"][s] for t in tasks.values()) for s in seeds]),
            "recall_score": spread([statistics.fmean(t["recall_score"]["per_seed"][s] for t in tasks.values())
                                    for s in seeds if all(s in t["recall_score"]["per_seed"] for t in tasks.values())]),
            "edges": sum(c["edge"] is not None for c in cells), "cells": len(cells),
            "reference": any(e.get("reference") for e in mine)}
    ranked = sorted(models, key=lambda m: rank_key(models[m]))
    for rank, model in enumerate(ranked, 1):
        models[model]["rank"] = rank
    return {"suite": suite.name, "solved_at": SOLVED, "budget": suite.budget, "until_solved": suite.until_solved,
            "target_parameters": suite.params, "widths": list(suite.widths), "grid": grid or suite.grid,
            "seeds": suite.seeds, "models": {m: models[m] for m in ranked}}


def ranked(result: dict) -> list[str]:
    """The models of a profile.json in the order of their rank (a JSON file keeps its keys sorted by name); in
    the file's order where it has no ranks (an older seqmem's)."""
    models = result["models"]
    return sorted(models, key=lambda m: models[m].get("rank") if number(models[m].get("rank")) else math.inf)


def rank_key(model: dict) -> tuple:
    """Higher recall above the memoryless recall first, then the solved fraction; a model with neither last."""
    def high_first(s: dict) -> float:
        return -s["mean"] if s["mean"] is not None else 1.0

    return high_first(model["recall_score"]), high_first(model["score"])


def grid_combos(grid: dict) -> list[tuple]:
    """The grid's points as their tags' values (None for a key the grid does not tune)."""
    values = [grid.get(tag[len("bench."):], [None]) for tag in GRID_TAGS]
    return list(itertools.product(*values))


def valid(e) -> float:
    return e["summary"]["at_best"]["valid_recall_accuracy"] or 0.0


def task_score(spec, runs: list[dict], combos: list[tuple]) -> dict | None:
    """One model's runs on one task: a cell a setting (and width), then the per-seed means over the cells;
    None where no run is of one of the task's settings."""
    cells = {}
    for value in spec.values:  # in the suite's order, each width in turn
        tag = cell_label(value) if isinstance(value, tuple) else value  # as bench.setting holds it
        at = [e for e in runs if e["tags"]["bench.setting"] == tag]
        for width in sorted({e["tags"].get("bench.width") for e in at}, key=lambda w: w or 0):
            cell = cell_score([e for e in at if e["tags"].get("bench.width") == width], combos)
            cells[cell_label(value, width)] = {"setting": tag, "width": width, **cell}
    if not cells:
        return None
    seeds = sorted(set.intersection(*(set(c["solved"]) for c in cells.values())), key=int)

    def per_seed(key: str) -> dict:
        return {s: statistics.fmean(c[key][s] for c in cells.values()) for s in seeds
                if all(c[key].get(s) is not None for c in cells.values())}

    solved, recall, above = per_seed("solved"), per_seed("test_recall"), per_seed("recall_score")
    return {"key": list(spec.key) if isinstance(spec.key, tuple) else spec.key, "solved": spread(list(solved.values())), "test_recall": spread(list(recall.values())),
            "recall_score": {**spread(list(above.values())), "per_seed": above},
            "memoryless_recall": statistics.fmean(c["memoryless_recall"] for c in cells.values()),
            "chosen": {label: c["chosen"] for label, c in cells.items()}, "per_seed": solved,
            "parameters": runs[0]["tags"]["bench.params"], "settings": len(cells), "cells": cells,
            "train_seconds": statistics.fmean(e["summary"]["train_seconds"] for e in runs)}


def cell_score(runs: list[dict], combos: list[tuple]) -> dict:
    """One cell's runs (every grid point and seed): the grid point chosen on seed-mean validation recall, what
    each seed reached there, and the grid's window."""
    by_combo: dict[tuple, list] = {}
    for e in runs:
        by_combo.setdefault(tuple(e["tags"].get(k) for k in GRID_TAGS), []).append(e)
    mean_valid = {combo: statistics.fmean(map(valid, rs)) for combo, rs in by_combo.items()}
    combo = max(mean_valid, key=mean_valid.get)
    best = sorted(by_combo[combo], key=lambda e: e["tags"]["bench.seed"])
    memoryless = runs[0]["summary"]["baseline"]["recall_accuracy"]
    combos = combos if set(by_combo) <= set(combos) else list(dict.fromkeys([*combos, *by_combo]))
    solving = [c for c in combos if mean_valid.get(c, 0.0) >= SOLVED]
    lrs = sorted({c[0] for c in combos if c[0] is not None})
    seed = {e["tags"]["bench.seed"]: str(e["tags"]["bench.seed"]) for e in best}  # as profile.json keys them
    updates = {seed[e["tags"]["bench.seed"]]: steps for e in best if (steps := updates_to_solve(e)) != UNKNOWN}
    sizes = [e["summary"].get("state_size") for e in runs if number(e["summary"].get("state_size"))]
    return {
        "chosen": {k[len("bench."):]: v for k, v in zip(GRID_TAGS, combo, strict=True) if v is not None},
        "edge": edge(combo[0], lrs, solving),
        "window": {"solving": len(solving), "grid": len(combos), "lr": sorted({c[0] for c in solving if c[0] is not None})},
        "solved": {seed[e["tags"]["bench.seed"]]: valid(e) >= SOLVED for e in best},
        "test_recall": {seed[e["tags"]["bench.seed"]]: e["summary"]["at_best"]["recall_accuracy"] for e in best},
        "recall_score": {seed[e["tags"]["bench.seed"]]: above_memoryless(e["summary"]["at_best"]["recall_accuracy"],
                                                                       memoryless) for e in best},
        "updates": updates, "memoryless_recall": memoryless,
        "parameters": best[0]["summary"].get("parameters", best[0]["tags"]["bench.params"]),
        "state_size": sizes[0] if sizes else None,
        "train_seconds": statistics.fmean(e["summary"]["train_seconds"] for e in best),
        **({"by_length": lengths} if (lengths := by_length(best, seed)) else {})}


def by_length(best: list[dict], seed: dict) -> dict:
    """The test recall at each other length the chosen point's runs were scored at (a task's `eval_lengths`, the
    last weights), per seed, with the memoryless recall there: `{"1024": {"recall": {"0": ...}, "memoryless": ...}}`,
    the lengths in order; empty where no run was scored at other lengths."""
    out = {}
    for e in best:
        scored = e["summary"].get("by_length")
        for length, s in (scored.items() if isinstance(scored, dict) else ()):
            if str(length).isdigit() and isinstance(s, dict):
                baseline = s.get("baseline") if isinstance(s.get("baseline"), dict) else {}
                at = out.setdefault(str(length), {"recall": {}, "memoryless": numeric(baseline.get("recall_accuracy"))})
                at["recall"][seed[e["tags"]["bench.seed"]]] = numeric(s.get("recall_accuracy"))
    return {k: out[k] for k in sorted(out, key=int)}


def numeric(value):
    return value if number(value) else None


def edge(lr, lrs: list, solving: list[tuple]) -> str | None:
    """`smallest` or `largest` where the chosen rate is the grid's and no rate inside the grid solves: the best
    may lie beyond, and the grid should reach further. A setting solved inside the grid is not flagged: a rate
    beyond it could not do better than solve."""
    if len(lrs) < 2 or lr not in (lrs[0], lrs[-1]) or any(c[0] not in (lrs[0], lrs[-1]) for c in solving):
        return None
    return "smallest" if lr == lrs[0] else "largest"


def above_memoryless(recall, memoryless: float) -> float | None:
    """How far the recall stands from the memoryless recall towards 1: (recall - memoryless) / (1 - memoryless),
    0 at or below a guess, 1 at perfect recall; None where a guess is already perfect."""
    if not number(recall) or memoryless >= 1:
        return None
    return max(0.0, (recall - memoryless) / (1 - memoryless))


UNKNOWN = "unknown"


def updates_to_solve(entry: dict):
    """The step at which the run's validation recall first reached SOLVED; None if it never did; UNKNOWN where
    the entry cannot tell. Read from `solved_step` where the bench put it (from the run's evaluations), else
    from the summary: a run that stops at a target at or below SOLVED (its config's `stop_at`) stops at the
    first evaluation that reaches it, so its last step is the one."""
    if "solved_step" in entry:
        return entry["solved_step"]
    summary = entry["summary"]
    if valid(entry) < SOLVED:  # at_best is the best evaluation: none reached the target
        return None
    stop_at = entry.get("config", {}).get("train", {}).get("stop_at")
    if stop_at is not None and stop_at <= SOLVED and (summary.get("valid_recall_accuracy") or 0.0) >= SOLVED:
        return summary["steps"]
    return UNKNOWN


def first_solved(history: list[dict]) -> int | None:
    """The step of the first evaluation whose validation recall reaches SOLVED, or None."""
    return next((h["step"] for h in history if (h.get("valid_recall_accuracy") or 0.0) >= SOLVED), None)


def cell_label(value, width=None) -> str:
    """`10`, or `64/4/4` for a setting of several keys (as its tag holds it), with ` w64` where the suite fixes
    widths."""
    text = "/".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return text if width is None else f"{text} w{width}"


def spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values) if values else None, "min": min(values, default=None),
            "max": max(values, default=None), "values": values}


def profile_shaped(result: dict) -> bool:
    """profile.json has the shape `profile` writes and the report shows: every score a mean with its min and max.
    The cells and the recall above memoryless are newer and may be absent (a profile.json an older seqmem wrote)."""
    def spread_shaped(s) -> bool:
        return isinstance(s, dict) and all(s.get(k) is None or number(s.get(k)) for k in ("mean", "min", "max"))

    models = result.get("models")
    return (isinstance(models, dict) and isinstance(result.get("suite"), str)
            and all(number(result.get(k)) for k in ("solved_at", "budget"))
            and (result.get("target_parameters") is None or number(result["target_parameters"]))
            and all(isinstance(m, dict) and spread_shaped(m.get("score")) and isinstance(m.get("tasks"), dict)
                    and spread_shaped(m.get("recall_score", {}))
                    and all(isinstance(t, dict) and spread_shaped(t.get("solved")) and spread_shaped(t.get("test_recall"))
                            and number(t.get("memoryless_recall")) and isinstance(t.get("cells", {}), dict)
                            and all(cell_shaped(c) for c in t.get("cells", {}).values())
                            for t in m["tasks"].values())
                    for m in models.values()))


def cell_shaped(cell) -> bool:
    def per_seed(d) -> bool:
        return isinstance(d, dict) and all(v is None or isinstance(v, bool) or number(v) for v in d.values())

    lengths = cell.get("by_length", {}) if isinstance(cell, dict) else None
    return (isinstance(cell, dict) and all(per_seed(cell.get(k)) for k in ("solved", "test_recall", "recall_score",
                                                                             "updates"))
            and isinstance(lengths, dict) and all(str(n).isdigit() and isinstance(s, dict) and per_seed(s.get("recall"))
                                                  and (s.get("memoryless") is None or number(s["memoryless"]))
                                                  for n, s in lengths.items())
            and isinstance(cell.get("window"), dict) and number(cell["window"].get("solving"))
            and number(cell["window"].get("grid")) and number(cell.get("memoryless_recall"))
            and isinstance(cell.get("chosen"), dict))
