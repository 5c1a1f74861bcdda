"""BPTT against target propagation on copy memory (notebook 001's layout): recall accuracy by delay T.

A sweep: recipes seed-copy-bp and seed-copy-tp over the delay T and the seeds, so both methods see the same
number of training samples (steps x batch size) and are scored on the same fixed 1000 test sequences. A run
stops once its validation recall reaches 0.99; "at best valid" is the test recall at the evaluation with the
best validation recall. Runs go to `--runs` (a finished point is reused), so `seqmem demo` can show any two.

    python benchmarks/copy_tp.py            # T = 5, 10, 15, 20, 30 x {bptt, target-prop} x 3 seeds
    python benchmarks/copy_tp.py --quick    # seconds: T=3, a small RNN, 30 steps
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from seqmem.config import recipe_config
from seqmem.report import summarize, sweep_records, sweep_table
from seqmem.runs import write_jsonl
from seqmem.sweep import ProcessPool, grid, name_points, run_sweep

RECIPES = ("seed-copy-bp", "seed-copy-tp")
METRICS = {"recall_accuracy": "fraction", "at_best.recall_accuracy": "fraction", "valid_recall_accuracy": "fraction",
           "sequence_accuracy": "fraction", "accuracy": "fraction", "steps": "steps", "train_seconds": "s",
           "baseline.recall_accuracy": "fraction"}


def sweep(blanks: list[int], seeds: int, quick: bool):
    """The points: each recipe over T and the seeds, stopping at validation recall 0.99."""
    shared = [("train.stop_at", "0.99", "stop_at")]
    if quick:
        shared += [("task.test_size", "100", ""), ("task.validation_size", "100", ""), ("model.hidden", "16", ""),
                   ("train.steps", "30", ""), ("train.eval_every", "30", "")]
    configs = []
    for recipe in RECIPES:
        tweaks = shared + ([("method.warmup_steps", "10", "")] if quick and recipe == "seed-copy-tp" else [])
        configs += grid(recipe_config(recipe), {"task.blank": blanks}, list(range(seeds)), tweaks)
    return name_points(configs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long run (T=3, 16 hidden, 30 steps) for tests")
    parser.add_argument("--blanks", default="5,10,15,20,30", help="delays T, comma-separated")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="runs in parallel, one thread each")
    parser.add_argument("--runs", default="runs/copy_tp", help="folder of the sweep's run directories")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "copy_tp.jsonl"))
    args = parser.parse_args(argv)
    blanks = [3] if args.quick else [int(t) for t in args.blanks.split(",")]
    seeds = 1 if args.quick else args.seeds
    points = sweep(blanks, seeds, args.quick)
    tic = time.perf_counter()
    entries = run_sweep(points, Path(args.runs + ("-quick" if args.quick else "")), ProcessPool(args.workers),
                        progress=False)
    records = [{"benchmark": "copy_tp", **r, "quick": args.quick}
               for r in summarize(sweep_records(entries), ["method.name", "task.blank"], METRICS)]
    records.append({"benchmark": "copy_tp", "metric": "wall_seconds", "value": round(time.perf_counter() - tic, 1),
                    "unit": "s", "workers": args.workers, "runs": len(points), "quick": args.quick})
    for record in records:
        print(json.dumps(record), flush=True)
    print(sweep_table(entries, ["method.name", "task.blank"], markdown=True), file=sys.stderr)
    if not args.quick:
        write_jsonl(Path(args.out), records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
