"""Echo letters (notebook 004): seconds of training until a recipe passes the notebook's acceptance tests.

A sweep of the recipes over the seeds: each trains until its validation recall accuracy reaches `stop_at`
(the quick recipes carry their own; the seed recipes get 0.995 and an evaluation every 250 updates), then
the notebook's test runs on the trained model through `predict_text`, with seeded strings:
- fixed delay D: 100 strings of 15-25 random letters (the notebook's docstring; its code runs 1), comparing
  s[:-D] with result[D:] letter by letter;
- variable delay: 500 strings of 20 letters, each with a delay d drawn in 0..8, comparing s[:-d] with result[d:]
  (all of s with all of result when d = 0).
Both must exceed 0.99. `value` is training time only (wall clock, evaluations excluded), one thread a
worker, `--workers` runs at a time.

    python benchmarks/echo_letters.py            # quick and seed recipes (docs/echo.md quotes it)
    python benchmarks/echo_letters.py --quick    # the quick recipes only
"""

from __future__ import annotations

import argparse
import json
import random
import string
import tempfile
from pathlib import Path

import torch

from seqmem import load
from seqmem.config.compose import recipe_config
from seqmem.run.rundir import write_jsonl
from seqmem.sweeps.sweep import Point, ProcessPool, grid, run_sweep


def random_letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def fixed_delay_accuracy(run, rng: random.Random, strings: int = 100) -> float:
    d = run.task.delay
    assert d > 0, "s[:-d] needs d > 0"
    correct = total = 0
    for _ in range(strings):
        s = random_letters(rng, rng.randint(15, 25))
        result = run.predict_text(s)
        correct += sum(a == b for a, b in zip(s[:-d], result[d:], strict=True))
        total += len(s) - d
    return correct / total


def variable_delay_accuracy(run, rng: random.Random, strings: int = 500, length: int = 20) -> float:
    correct = total = 0
    for _ in range(strings):
        s = random_letters(rng, length)
        d = rng.randint(0, run.task.max_delay)
        result = run.predict_text(s, d)
        pairs = zip(s[:-d], result[d:], strict=True) if d > 0 else zip(s, result, strict=True)
        correct += sum(a == b for a, b in pairs)
        total += len(s) - d
    return correct / total


def sweep(recipes: list[str], seeds: list[int]) -> list[Point]:
    points = []
    for recipe in recipes:
        base = recipe_config(recipe)
        if "stop_at" not in base["train"]:
            base["train"].update(stop_at=0.995, eval_every=250)
        points += [Point(f"{recipe},seed={seed}", config, {"recipe": recipe})
                   for seed, config in zip(seeds, grid(base, {}, seeds), strict=True)]
    return points


def notebook_test(entry: dict, runs: Path) -> dict:
    """The notebook's acceptance test on a finished point, beside its training figures."""
    summary = entry["summary"]
    run = load(runs / entry["name"])
    seed = run.config["train"]["seed"]
    variable = run.task.max_delay is not None
    test = variable_delay_accuracy if variable else fixed_delay_accuracy
    accuracy = test(run, random.Random(seed))
    return {"benchmark": "echo_letters", "metric": "train_seconds_to_pass", "unit": "s",
            "value": summary["train_seconds"] if accuracy > 0.99 else None, "recipe": entry["tags"]["recipe"],
            "test": "variable delay, 500 strings of 20" if variable else "fixed delay, 100 strings of 15-25",
            "notebook_test_accuracy": round(accuracy, 4), "passed": accuracy > 0.99,
            "train_seconds": summary["train_seconds"], "updates": summary["steps"],
            "test_recall_accuracy": round(summary["recall_accuracy"], 4),
            "valid_recall_accuracy": round(summary["valid_recall_accuracy"], 4),
            "stop_at": run.config["train"]["stop_at"], "model": run.config["model"], "seed": seed, "threads": 1}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the quick recipes")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds, e.g. 0,1,2")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--runs", default=None, help="folder of the sweep's runs (default: a temporary one)")
    parser.add_argument("--out", default=None, help="default benchmarks/results/echo_letters[-quick].jsonl")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    recipes = ["quick-echo-letters", "quick-echo-variable"]
    if not args.quick:
        recipes += ["seed-echo-letters", "seed-echo-variable"]
    out = Path(args.out or Path(__file__).parent / "results" / f"echo_letters{'-quick' if args.quick else ''}.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(args.runs or tmp)
        entries = run_sweep(sweep(recipes, [int(s) for s in args.seeds.split(",")]), runs,
                            ProcessPool(args.workers), progress=False)
        rows = [notebook_test(e, runs) for e in entries if e["status"] == "done"]
    for row in rows:
        print(json.dumps(row), flush=True)
    write_jsonl(out, rows)
    return 0 if len(rows) == len(entries) else 1


if __name__ == "__main__":
    raise SystemExit(main())
