"""Content-dependent recall: which models solve selective copy and associative recall, at stated sizes.

A sweep: every model at its default size (tcn, gru, lstm, s4d, lru, mamba) on each task, all with the same
settings and budget, tuned for none: Adam 3e-3, clip 1, batch 32, at most `--steps` updates and
`--max-seconds` seconds of training on one thread, an evaluation every 250 updates, stopped once
validation recall reaches 0.99. The figure is the test recall of the last evaluation, mean (min..max) over
the seeds; "solved" means a mean above 0.99. The memoryless recall is beside it.

    python benchmarks/content_recall.py            # the README's table (2 workers)
    python benchmarks/content_recall.py --quick    # seconds: tiny tasks, two models, a few updates
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seqmem.config import make_config
from seqmem.report import pivot, summarize, sweep_records
from seqmem.runs import write_jsonl
from seqmem.sweep import Point, ProcessPool, run_sweep

TASKS = {
    "selective-copy": {"blank": 64, "recall_length": 8, "alphabet": 8},
    "associative-recall": {"pairs": 8, "queries": 8, "keys": 64, "values": 64},
}
QUICK_TASKS = {
    "selective-copy": {"blank": 8, "recall_length": 2, "alphabet": 4},
    "associative-recall": {"pairs": 2, "queries": 2, "keys": 4, "values": 4},
}
MODELS = ("tcn", "gru", "lstm", "s4d", "lru", "mamba")


def point(task: str, settings: dict, model: str, seed: int, steps: int, seconds: float, size: int) -> Point:
    config = make_config({
        "task": {"name": task, **settings, "test_size": size, "validation_size": size},
        "model": {"name": model},
        "train": {"optimizer": "adam", "lr": 3e-3, "clip": 1.0, "batch_size": 32, "steps": steps,
                  "max_seconds": seconds, "eval_every": min(250, steps), "stop_at": 0.99, "seed": seed},
    })
    return Point(f"task={task},model={model},seed={seed}", config, {"task": task, "model": model})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds: tiny tasks, tcn and gru, 20 updates")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--max-seconds", type=float, default=150.0, help="training seconds a run (one thread)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="runs/content_recall", help="folder of the sweep's run directories")
    parser.add_argument("--out", default=None, help="default benchmarks/results/content_recall[-quick].jsonl")
    args = parser.parse_args(argv)
    models, tasks, size = args.models.split(","), TASKS, 500
    for m in models:
        if m not in MODELS:
            parser.error(f"--models: unknown {m!r}; choose from {', '.join(MODELS)}")
    if args.quick:
        models, tasks, size, args.steps, args.seeds = ["tcn", "gru"], QUICK_TASKS, 50, 20, 1
    points = [point(t, settings, m, seed, args.steps, args.max_seconds, size)
              for t, settings in tasks.items() for m in models for seed in range(args.seeds)]
    runs = Path(args.runs + ("-quick" if args.quick else ""))
    records = sweep_records(run_sweep(points, runs, ProcessPool(args.workers), progress=False))
    metrics = {"recall_accuracy": "fraction", "baseline.recall_accuracy": "fraction", "steps": "steps",
               "train_seconds": "s", "valid_recall_accuracy": "fraction"}
    lines = [{"benchmark": "content_recall", **r, "settings": tasks[r["task"]], "quick": args.quick}
             for r in summarize(records, ["task", "model"], metrics)]
    for line in lines:
        print(json.dumps(line), flush=True)
    write_jsonl(Path(args.out or Path(__file__).parent / "results" /
                     f"content_recall{'-quick' if args.quick else ''}.jsonl"), lines)
    print(pivot(records, "model", "task", "recall_accuracy", bold_above=0.99), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
