"""BPTT against target propagation on copy memory (notebook 001's layout): recall accuracy by delay T.

Every run starts from recipe seed-copy-bp or seed-copy-tp with the delay and seed changed, so both methods
see the same number of training samples (steps x batch size) and are scored on the same fixed 1000 test
sequences. Runs go to `--runs` (a finished run is reused), so `seqmem demo` can show any two of them.

    python benchmarks/copy_tp.py            # T = 5, 10, 15, 20, 30 x {bptt, target-prop} x 3 seeds
    python benchmarks/copy_tp.py --quick    # seconds: T=3, a small RNN, 30 steps
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from seqmem.experiment import run_experiment
from seqmem.recipes import load_recipe, recipe_config
from seqmem.runs import RunDir, write_jsonl

RECIPES = {"bptt": "seed-copy-bp", "target-prop": "seed-copy-tp"}


def config_for(method: str, blank: int, seed: int, quick: bool) -> dict:
    config = recipe_config(load_recipe(RECIPES[method]))
    config["task"]["blank"] = blank
    config["train"].update(seed=seed, stop_at=0.99)  # a run that reaches 0.99 recall ends early
    if quick:
        config["task"].update(test_size=100)
        config["model"].update(hidden=16)
        config["train"].update(steps=30, eval_every=30, tp_warmup_steps=10)
    return config


def one_run(job: tuple) -> dict:
    """Train (or reuse) one run on one thread; return its summary."""
    method, blank, seed, quick, out = job
    torch.set_num_threads(1)
    reused = RunDir(out).finished()
    summary = run_experiment(config_for(method, blank, seed, quick), out, progress=False, say=lambda *_: None)
    best = max(m["recall_accuracy"] for m in RunDir(out).metrics())
    return {"method": method, "blank": blank, "seed": seed, "reused": reused, "best_recall_accuracy": best, **summary}


def records_for(results: list[dict], quick: bool) -> list[dict]:
    """One line per (method, T) and metric: mean, spread (min..max) and the per-seed values."""
    out = []
    for method in RECIPES:
        train = recipe_config(load_recipe(RECIPES[method]))["train"]
        for blank in sorted({r["blank"] for r in results}):
            rows = [r for r in results if r["method"] == method and r["blank"] == blank]
            if not rows:
                continue
            settings = {"method": method, "blank": blank, "seeds": [r["seed"] for r in rows],
                        "steps": rows[0]["steps"], "batch_size": train["batch_size"],
                        "samples": rows[0]["steps"] * train["batch_size"], "test_sequences": 100 if quick else 1000,
                        "model": "rnn tanh 1x16" if quick else "rnn tanh 1x128", "quick": quick}
            for metric, unit in (("recall_accuracy", "fraction"), ("best_recall_accuracy", "fraction"),
                                 ("sequence_accuracy", "fraction"),
                                 ("accuracy", "fraction"), ("train_seconds", "s")):
                values = [r[metric] for r in rows]
                out.append({"benchmark": "copy_tp", "metric": metric, "value": statistics.fmean(values),
                            "unit": unit, "min": min(values), "max": max(values), "values": values, **settings})
            out.append({"benchmark": "copy_tp", "metric": "memoryless_recall_accuracy",
                        "value": rows[0]["baseline"]["recall_accuracy"], "unit": "fraction", **settings})
    return out


def table(records: list[dict]) -> str:
    """Markdown: final recall accuracy mean (min..max) per method and T, the best evaluation of the target-prop
    runs, the memoryless baseline, training seconds per run."""
    get = {(r["method"], r["blank"], r["metric"]): r for r in records if "method" in r}
    blanks = sorted({r["blank"] for r in records if "blank" in r})
    lines = ["| T | BPTT recall | target-prop recall | target-prop best | memoryless | BPTT s | target-prop s |",
             "|---|---|---|---|---|---|---|"]
    for t in blanks:
        cells = [str(t)]
        for method in RECIPES:
            r = get.get((method, t, "recall_accuracy"))
            cells.append(f"{r['value']:.3f} ({r['min']:.3f}..{r['max']:.3f})" if r else "-")
        r = get.get(("target-prop", t, "best_recall_accuracy"))
        cells.append(f"{r['value']:.3f} ({r['min']:.3f}..{r['max']:.3f})" if r else "-")
        cells.append(f"{get[('bptt', t, 'memoryless_recall_accuracy')]['value']:.3f}")
        for method in RECIPES:
            r = get.get((method, t, "train_seconds"))
            cells.append(f"{r['value']:.0f}" if r else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long run (T=3, 16 hidden, 30 steps) for tests")
    parser.add_argument("--blanks", default="5,10,15,20,30", help="delays T, comma-separated")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="runs in parallel, one thread each")
    parser.add_argument("--runs", default="runs/copy_tp", help="folder of the run directories")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "copy_tp.jsonl"))
    args = parser.parse_args(argv)
    blanks = [3] if args.quick else [int(t) for t in args.blanks.split(",")]
    seeds = 1 if args.quick else args.seeds
    runs = Path(args.runs + ("-quick" if args.quick else ""))
    jobs = [(m, t, s, args.quick, runs / f"{m}-T{t}-seed{s}") for t in blanks for s in range(seeds) for m in RECIPES]
    tic = time.perf_counter()
    workers = 1 if args.quick else args.workers
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(one_run, jobs))
    else:
        results = [one_run(job) for job in jobs]
    records = records_for(results, args.quick)
    records.append({"benchmark": "copy_tp", "metric": "wall_seconds", "value": round(time.perf_counter() - tic, 1),
                    "unit": "s", "workers": workers, "runs": len(jobs),
                    "reused_runs": sum(r["reused"] for r in results), "quick": args.quick})
    for record in records:
        print(json.dumps(record), flush=True)
    print(table(records), file=sys.stderr)
    if not args.quick:
        write_jsonl(Path(args.out), records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
