"""Sweep throughput: the same 12-point sweep on 2 workers against 1 worker, points a minute, in one run.

The points are echo-letters runs (rnn, gru and lstm of 64 units, delays 4 and 8, seeds 0 and 1), each a
few seconds on one thread; each side trains them into a fresh folder, worker start-up included, so the
ratio is what a user gets from `seqmem sweep --workers 2` on this machine.

    python benchmarks/sweep_speed.py            # 12 points, the figure the README quotes
    python benchmarks/sweep_speed.py --quick    # 4 tiny points, for tests
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from seqmem.runs import write_jsonl
from seqmem.sweep import ProcessPool, grid, name_points, run_sweep


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 tiny points, for tests")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sweep_speed.jsonl"))
    args = parser.parse_args(argv)
    sweep = points(args.quick)
    rate, scores = {}, {}
    for workers in (1, 2):
        seconds, entries = timed(sweep, workers)
        if any(e["status"] != "done" for e in entries):
            raise SystemExit(f"a point failed: {[e for e in entries if e['status'] != 'done'][0]}")
        rate[workers] = len(sweep) / seconds * 60
        scores[workers] = {e["name"]: e["summary"]["recall_accuracy"] for e in entries}
    settings = {"points": len(sweep), "quick": args.quick}
    lines = [{"benchmark": "sweep_speed", "metric": "points_per_minute", "value": round(rate[w], 2), "unit": "points/min",
              "workers": w, **settings} for w in (1, 2)]
    lines.append({"benchmark": "sweep_speed", "metric": "throughput_ratio", "value": round(rate[2] / rate[1], 3),
                  "unit": "ratio", "numerator": "2 workers", "denominator": "1 worker",
                  "same_scores": scores[1] == scores[2], **settings})
    for line in lines:
        print(json.dumps(line), flush=True)
    if not args.quick:
        write_jsonl(Path(args.out), lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
