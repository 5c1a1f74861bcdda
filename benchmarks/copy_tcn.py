"""Copy memory T=1000 with the TCN paper's setting (recipe copy-tcn-1000): updates and seconds to recall >= 0.99.

A sweep of two points, one per initialisation (`--init`): PyTorch's default (seqmem's default, and what
locuslab's TCN effectively trains with, since its weight norm undoes its N(0, 0.01) init) and N(0, 0.01)
applied before weight norm, so that it holds. Each evaluates the 1000 validation and 1000 test sequences
every `--eval-every` updates and stops once validation recall reaches 0.99; the figures are the test scores
at that step. Seconds are training time only (evaluation excluded); the points run side by side, one
thread each.

    python benchmarks/copy_tcn.py            # the full run the README quotes
    python benchmarks/copy_tcn.py --quick    # seconds: T=20, a small TCN
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seqmem.config import recipe_config
from seqmem.report import summarize, sweep_records
from seqmem.runs import write_jsonl
from seqmem.sweep import Point, ProcessPool, grid, run_sweep

INITS = {"default": 0.0, "paper": 0.01}
METRICS = {"steps": "steps", "train_seconds": "s", "recall_accuracy": "fraction", "accuracy": "fraction",
           "valid_recall_accuracy": "fraction", "baseline.recall_accuracy": "fraction",
           "baseline.accuracy": "fraction", "stopped_early": "bool"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long run (T=20) for tests")
    parser.add_argument("--max-steps", type=int, default=6000)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--init", default="default,paper", help="which inits to run: default, paper or both")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="runs/copy_tcn", help="folder of the sweep's run directories")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "copy_tcn.jsonl"))
    args = parser.parse_args(argv)
    base = recipe_config("copy-tcn-1000")
    base["train"].pop("epochs")
    settings = [("train.steps", args.max_steps, ""), ("train.eval_every", args.eval_every, ""),
                ("train.stop_at", 0.99, "")]
    if args.quick:
        settings += [("task.blank", 20, ""), ("task.train_size", 2000, ""), ("task.test_size", 200, ""),
                     ("task.validation_size", 200, ""), ("model.levels", 4, ""), ("model.kernel_size", 4, ""),
                     ("train.steps", 60, ""), ("train.eval_every", 20, ""), ("train.lr", 5e-3, "")]
    points = [Point(f"init={name}", grid(base, {}, None, settings + [("model.init_std", INITS[name], "")])[0],
                    {"init": name}) for name in args.init.split(",")]
    entries = run_sweep(points, Path(args.runs + ("-quick" if args.quick else "")), ProcessPool(args.workers),
                        progress=False)
    records = sweep_records(entries)
    lines = [{"benchmark": "copy_tcn", **r, "target": 0.99} for r in summarize(records, ["init"], METRICS)]
    reached = {r["init"]: r for r in records if r["stopped_early"]}
    if len(reached) == 2:
        lines.append({"benchmark": "copy_tcn", "metric": "steps_ratio_default_over_paper_init", "unit": "ratio",
                      "value": reached["default"]["steps"] / reached["paper"]["steps"], "numerator": "pytorch default init",
                      "denominator": "paper init N(0,0.01) before weight norm"})
    for line in lines:
        print(json.dumps(line), flush=True)
    if not args.quick:
        write_jsonl(Path(args.out), lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
