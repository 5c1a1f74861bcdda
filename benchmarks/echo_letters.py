"""Echo letters (notebook 004): seconds of training until a recipe passes the notebook's acceptance tests.

Each recipe trains until its test recall accuracy reaches `stop_at` (the quick recipes carry their own; the
seed recipes get 0.995 and an evaluation every 250 updates), then the notebook's test runs on the trained
model through `predict_text`, with seeded strings:
- fixed delay D: 100 strings of 15-25 random letters (the notebook's docstring; its code runs 1), comparing
  s[:-D] with result[D:] letter by letter;
- variable delay: 500 strings of 20 letters, each with a delay d drawn in 0..8, comparing s[:-d] with result[d:]
  (all of s with all of result when d = 0).
Both must exceed 0.99. `value` is training time only (wall clock, evaluations excluded), one thread; on a
machine shared with other work, `cpu_seconds_with_evaluations` (this process's CPU time, evaluations
included) is closer to what an idle machine takes.

    python benchmarks/echo_letters.py            # quick and seed recipes (docs/echo.md quotes it)
    python benchmarks/echo_letters.py --quick    # the quick recipes only
"""

from __future__ import annotations

import argparse
import json
import random
import string
import tempfile
import time
from pathlib import Path

import torch

from seqmem import load, run_experiment
from seqmem.recipes import load_recipe, recipe_config
from seqmem.runs import write_jsonl


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


def measure(recipe: str, seed: int) -> dict:
    config = recipe_config(load_recipe(recipe))
    config["train"] = {**config["train"], "seed": seed}
    if "stop_at" not in config["train"]:
        config["train"].update(stop_at=0.995, eval_every=250)
    with tempfile.TemporaryDirectory() as tmp:
        tic, cpu = time.perf_counter(), time.process_time()
        summary = run_experiment(config, Path(tmp) / "run", progress=False, say=lambda _: None)
        wall, cpu = time.perf_counter() - tic, time.process_time() - cpu
        run = load(Path(tmp) / "run")
        variable = run.task.max_delay is not None
        test = variable_delay_accuracy if variable else fixed_delay_accuracy
        accuracy = test(run, random.Random(seed))
    return {"benchmark": "echo_letters", "metric": "train_seconds_to_pass", "unit": "s",
            "value": summary["train_seconds"] if accuracy > 0.99 else None, "recipe": recipe,
            "test": "variable delay, 500 strings of 20" if variable else "fixed delay, 100 strings of 15-25",
            "notebook_test_accuracy": round(accuracy, 4), "passed": accuracy > 0.99,
            "train_seconds": summary["train_seconds"], "wall_seconds": round(wall, 1),
            "cpu_seconds_with_evaluations": round(cpu, 1), "updates": summary["steps"],
            "test_recall_accuracy": round(summary["recall_accuracy"], 4),
            "stop_at": config["train"]["stop_at"], "model": config["model"], "seed": seed,
            "threads": torch.get_num_threads()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the quick recipes")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds, e.g. 0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="default benchmarks/results/echo_letters[-quick].jsonl")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    recipes = ["quick-echo-letters", "quick-echo-variable"]
    if not args.quick:
        recipes += ["seed-echo-letters", "seed-echo-variable"]
    out = Path(args.out or Path(__file__).parent / "results" / f"echo_letters{'-quick' if args.quick else ''}.jsonl")
    rows = []
    for recipe in recipes:
        for seed in map(int, args.seeds.split(",")):
            rows.append(measure(recipe, seed))
            print(json.dumps(rows[-1]), flush=True)
            write_jsonl(out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
