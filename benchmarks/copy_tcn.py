"""Copy memory T=1000 with the TCN paper's setting (recipe copy-tcn-1000): steps and seconds to recall >= 0.99.

Evaluates on the fixed 1000-sequence test set every `--eval-every` updates and stops at the target; the
seconds are training time only (evaluation excluded). Two initialisations side by side (`--init`): PyTorch's
default (seqmem's default, and what locuslab's TCN effectively trains with, since its weight norm undoes
its N(0, 0.01) init) and N(0, 0.01) applied before weight norm, so that it holds.

    python benchmarks/copy_tcn.py            # the full run the README quotes
    python benchmarks/copy_tcn.py --quick    # seconds: T=20, a small TCN
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seqmem import TrainConfig, make_model, make_task, train
from seqmem.recipes import load_recipe
from seqmem.runs import write_jsonl


def measure(task_params: dict, model_params: dict, train_params: dict, label: str) -> list[dict]:
    task = make_task(**task_params)
    model = make_model(model_params["name"], task, seed=train_params["seed"],
                       **{k: v for k, v in model_params.items() if k != "name"})
    result = train(model, task, TrainConfig(**train_params), progress=False)
    reached = next((h for h in result.history if h["recall_accuracy"] >= train_params["stop_at"]), None)
    settings = {"variant": label, "blank": task.blank, "batch_size": train_params["batch_size"],
                "optimizer": train_params["optimizer"], "lr": train_params["lr"],
                "levels": model.levels, "kernel_size": model.kernel_size, "target": train_params["stop_at"]}
    base = task.baseline()
    rows = [
        ("steps_to_target", reached["step"] if reached else None, "steps"),
        ("train_seconds_to_target", reached["train_seconds"] if reached else None, "s"),
        ("recall_accuracy", result.recall_accuracy, "fraction"),
        ("accuracy", result.accuracy, "fraction"),
        ("memoryless_recall_accuracy", base.recall_accuracy, "fraction"),
        ("memoryless_accuracy", base.accuracy, "fraction"),
        ("steps_run", result.steps, "steps"),
        ("seconds_per_step", result.train_seconds / max(result.steps, 1), "s"),
    ]
    return [{"benchmark": "copy_tcn", "metric": m, "value": v, "unit": u, **settings} for m, v, u in rows]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long run (T=20) for tests")
    parser.add_argument("--max-steps", type=int, default=6000)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--init", default="default,paper", help="which inits to run: default, paper or both")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "copy_tcn.jsonl"))
    args = parser.parse_args(argv)
    recipe = load_recipe("copy-tcn-1000")
    task_params = {**recipe["task"]}
    model_params = {**recipe["model"]}
    train_params = {**recipe["train"], "epochs": None, "steps": args.max_steps, "eval_every": args.eval_every,
                    "stop_at": 0.99}
    if args.quick:
        task_params.update(blank=20, train_size=2000, test_size=200)
        model_params.update(levels=4, kernel_size=4)
        train_params.update(steps=60, eval_every=20, lr=5e-3)
    records = []
    inits = {"default": ("pytorch default init", 0.0), "paper": ("paper init N(0,0.01) before weight norm", 0.01)}
    for label, init_std in (inits[name] for name in args.init.split(",")):
        for record in measure(task_params, {**model_params, "init_std": init_std}, train_params, label):
            print(json.dumps(record), flush=True)
            records.append(record)
    first = {r["metric"]: r["value"] for r in records if r["variant"].startswith("paper")}
    second = {r["metric"]: r["value"] for r in records if r["variant"].startswith("pytorch")}
    if first.get("steps_to_target") and second.get("steps_to_target"):
        ratio = {"benchmark": "copy_tcn", "metric": "steps_ratio_default_over_paper_init",
                 "value": second["steps_to_target"] / first["steps_to_target"], "unit": "ratio",
                 "numerator": "pytorch default init", "denominator": "paper init N(0,0.01) before weight norm"}
        print(json.dumps(ratio), flush=True)
        records.append(ratio)
    if not args.quick:
        write_jsonl(Path(args.out), records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
