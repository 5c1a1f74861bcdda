"""Echo a binary stream echo_step steps later (notebook 002): which models solve which echo_step.

A sweep: every model variant at every echo_step, trained with truncated BPTT on the notebook's data (5
training streams of 20000 steps, RMSprop lr 1e-3, batch 5), stopped once validation recall reaches 0.995,
and scored on the fixed test streams (5 x 20000), run whole. Recall accuracy counts the steps t >=
echo_step; the memoryless figure is 0.5. "solved" means test recall accuracy > 0.99.

Settings that differ from the notebook, to fit the grid in minutes on 2 cores: at most `--epochs` (default
3; 10 for the gated models from echo_step 20 on) passes over the streams instead of 20; chunks of
max(20, 2 * echo_step) steps (truncated BPTT cannot learn an echo longer than its chunk: no gradient links
an input to a target that lies in a later chunk); one thread per worker.

    python benchmarks/echo_stream.py            # the table docs/echo.md quotes
    python benchmarks/echo_stream.py --quick    # seconds: short streams, echo_step 3 and 10
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

VARIANTS = {
    "rnn-relu-4": {"name": "rnn", "hidden": 4, "nonlinearity": "relu"},
    "rnn-relu-60": {"name": "rnn", "hidden": 60, "nonlinearity": "relu"},
    "rnn-relu-6x60": {"name": "rnn", "hidden": 60, "layers": 6, "nonlinearity": "relu"},
    "gru-64": {"name": "gru", "hidden": 64},
    "lstm-64": {"name": "lstm", "hidden": 64},
    "tcn-7x16": {"name": "tcn", "levels": 7, "kernel_size": 2, "channels": 16},  # receptive field 255
}
GATED = ("gru-64", "lstm-64")


def point(variant: str, echo_step: int, series_length: int, epochs: int, seed: int, lr: float) -> Point:
    chunk = max(20, 2 * echo_step)
    per_epoch = -(-series_length // chunk)
    config = make_config({
        "task": {"name": "echo-stream", "echo_step": echo_step, "series_length": series_length, "streams": 5,
                 "data_seed": seed},
        "model": VARIANTS[variant],
        "method": {"name": "tbptt", "chunk_length": chunk},
        "train": {"optimizer": "rmsprop", "lr": lr, "batch_size": 5, "epochs": epochs,
                  "eval_every": max(1, per_epoch // 2), "stop_at": 0.995, "seed": seed},
    })
    return Point(f"{variant},echo_step={echo_step},seed={seed}", config, {"variant": variant})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds: 2000-step streams, echo_step 3 and 10")
    parser.add_argument("--echo-steps", default="3,10,20,50,100")
    parser.add_argument("--models", default=",".join(VARIANTS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--gated-long-epochs", type=int, default=10,
                        help="epochs of the gated models from echo_step 20 on")
    parser.add_argument("--series-length", type=int, default=20000)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--lr", type=float, default=1e-3, help="RMSprop learning rate (the notebook's 1e-3)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="runs/echo_stream", help="folder of the sweep's run directories")
    parser.add_argument("--out", default=None, help="default benchmarks/results/echo_stream[-quick].jsonl")
    args = parser.parse_args(argv)
    steps, variants = [int(s) for s in args.echo_steps.split(",")], args.models.split(",")
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"--models: unknown {v!r}; choose from {', '.join(VARIANTS)}")
    length, seeds = args.series_length, [int(s) for s in args.seeds.split(",")]
    if args.quick:
        steps, variants, length = [3, 10], ["rnn-relu-4", "gru-64"], 2000
    points = []
    for e in steps:
        for v in variants:
            epochs = 2 if args.quick else args.gated_long_epochs if v in GATED and e >= 20 else args.epochs
            points += [point(v, e, length, epochs, seed, args.lr) for seed in seeds]
    runs = Path(args.runs + ("-quick" if args.quick else ""))
    entries = run_sweep(points, runs, ProcessPool(args.workers), progress=False)
    records = sweep_records(entries)
    lines = [{"benchmark": "echo_stream", **r, "series_length": length, "lr": args.lr}
             for r in summarize(records, ["variant", "task.echo_step"],
                                {"recall_accuracy": "fraction", "steps": "steps", "train_seconds": "s",
                                 "baseline.recall_accuracy": "fraction"})]
    out = Path(args.out or Path(__file__).parent / "results" / f"echo_stream{'-quick' if args.quick else ''}.jsonl")
    for line in lines:
        print(json.dumps(line), flush=True)
    write_jsonl(out, lines)
    print(pivot(records, "task.echo_step", "variant", "recall_accuracy", bold_above=0.99), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
