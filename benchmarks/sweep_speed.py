"""Sweep throughput: the same 12-point sweep on 2 workers against 1 worker, points a minute, in one run.

The points are echo-letters runs (rnn, gru and lstm of 64 units, delays 4 and 8, seeds 0 and 1), each a
few seconds on one thread; each side trains them into a fresh folder, worker start-up included, so the
ratio is what a user gets from `seqmem sweep --workers 2` on this machine.

    python benchmarks/sweep_speed.py            # 12 points, the figure docs/performance.md quotes
    python benchmarks/sweep_speed.py --quick    # 4 tiny points, for tests
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from harness import Lines, arguments, main

from seqmem.sweeps.sweep import ProcessPool, grid, name_points, run_sweep


def points(quick: bool):
    base = {"task": {"name": "echo-letters", "seq_length": 20, "test_size": 500, "validation_size": 500},
            "model": {"name": "gru"}, "train": {"steps": 30 if quick else 3000, "eval_every": 1000}}
    over = {"model.name": ["rnn", "gru"] if quick else ["rnn", "gru", "lstm"], "task.delay": [4, 8]}
    return name_points(grid(base, over, [0] if quick else [0, 1], [("model.hidden", 16 if quick else 64, "")]))


def timed(sweep, workers: int) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        entries = run_sweep(sweep, Path(tmp), ProcessPool(workers), progress=False)
        return time.perf_counter() - tic, entries


def run(argv=None) -> int:
    args = arguments(__doc__, "sweep_speed", quick="4 tiny points, for tests; writes nothing").parse_args(argv)
    sweep = points(args.quick)
    rate, scores = {}, {}
    for workers in (1, 2):
        seconds, entries = timed(sweep, workers)
        if any(e["status"] != "done" for e in entries):
            raise SystemExit(f"a point failed: {[e for e in entries if e['status'] != 'done'][0]}")
        rate[workers] = len(sweep) / seconds * 60
        scores[workers] = {e["name"]: e["summary"]["recall_accuracy"] for e in entries}
    lines = Lines("sweep_speed", points=len(sweep), quick=args.quick)
    for w in (1, 2):
        lines.add("points_per_minute", round(rate[w], 2), "points/min", workers=w)
    lines.add("throughput_ratio", round(rate[2] / rate[1], 3), "ratio", numerator="2 workers", denominator="1 worker",
              same_scores=scores[1] == scores[2])
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
