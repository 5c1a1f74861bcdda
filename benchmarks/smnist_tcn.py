"""Benchmark: the sequential-MNIST TCN (8 levels, kernel 7, 30 channels, dropout 0.05) on this machine.

Two figures: training throughput (images a second, forward + backward + Adam step, batch 128, 784 steps
an image) and the test accuracy sequential Fashion-MNIST reaches after a stated number of updates, with
its training time. Prints one JSON object a line and writes the same lines to benchmarks/results/.

    python benchmarks/smnist_tcn.py            # full: 10 timed batches, then 100 updates (12800 images)
    python benchmarks/smnist_tcn.py --steps 469  # a whole epoch (about 45 minutes on 2 shared cores)
    python benchmarks/smnist_tcn.py --quick --data-dir DIR  # seconds; what the tests run
"""

from __future__ import annotations

import os
import platform
import time

import torch
import torch.nn.functional as F
from harness import RESULTS, Lines, arguments, load, main

from seqmem.models import count_parameters
from seqmem.run.build import make_model, make_task
from seqmem.training import TrainConfig, train

NAME = "smnist_tcn"
TCN = {"levels": 8, "kernel_size": 7, "channels": 30, "dropout": 0.05}
TASK = "sequential-fashion-mnist"


def throughput(task, batch_size: int, warmup: int, timed: int, seed: int) -> dict:
    """Images a second through one training update of the TCN, timed over `timed` batches after `warmup`."""
    model = make_model("tcn", task, seed=seed, **TCN)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    batches = task.batches("train", batch_size, seed)
    model.train()
    seconds = []
    for i in range(warmup + timed):
        batch = next(batches)
        tic = time.perf_counter()
        optimizer.zero_grad()
        logits, _ = model(batch.x)
        F.cross_entropy(logits, batch.y).backward()
        optimizer.step()
        if i >= warmup:
            seconds.append(time.perf_counter() - tic)
    total = sum(seconds)
    return {"images_per_second": batch_size * timed / total, "seconds_per_batch": total / timed,
            "slowest_batch_seconds": max(seconds), "fastest_batch_seconds": min(seconds),
            "parameters": count_parameters(model)}


def accuracy_after(task, steps: int, batch_size: int, seed: int) -> dict:
    """Train the notebook's settings (Adam 2e-3, batch 128) for `steps` updates, then score the test set."""
    model = make_model("tcn", task, seed=seed, **TCN)
    config = TrainConfig(steps=steps, batch_size=batch_size, optimizer="adam", lr=2e-3, seed=seed, eval_every=steps)
    tic = time.perf_counter()
    result = train(model, task, config, progress=False)
    wall = time.perf_counter() - tic
    return {"accuracy": result.accuracy, "loss": result.loss, "train_seconds": result.train_seconds,
            "eval_seconds": wall - result.train_seconds, "baseline_accuracy": result.baseline["accuracy"],
            "baseline_loss": result.baseline["loss"]}


def run(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, NAME, quick="tiny settings, seconds (for tests)")
    parser.set_defaults(out=None)
    parser.add_argument("--data-dir", default="", help="folder of the Fashion-MNIST IDX files (default: search)")
    parser.add_argument("--steps", type=int, help="updates before scoring (default 100; quick 2)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    args = parser.parse_args(argv)
    quick = args.quick
    if args.threads:
        torch.set_num_threads(args.threads)
    batch_size, warmup, timed = (8, 1, 2) if quick else (128, 2, 10)
    steps = args.steps or (2 if quick else 100)
    seed = 1111
    task = make_task(TASK, data_dir=args.data_dir, normalize="data")
    common = {"quick": quick, "task": TASK, "model": "tcn", **TCN,
              "sequence_length": task.span, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "torch": torch.__version__,
              "machine": platform.machine()}
    lines = Lines(NAME)

    def emit(metric: str, value: float, unit: str, **settings) -> None:
        lines.add(metric, round(value, 4), unit, **common, **settings, load_average_1min=load())

    speed = throughput(task, batch_size, warmup, timed, seed)
    settings = {"batch_size": batch_size, "batches_timed": timed, "warmup_batches": warmup,
                "parameters": speed["parameters"]}
    emit("train_throughput", speed["images_per_second"], "images/s", **settings)
    emit("train_seconds_per_batch", speed["seconds_per_batch"], "s", **settings,
         fastest=round(speed["fastest_batch_seconds"], 3), slowest=round(speed["slowest_batch_seconds"], 3))
    n_train = task.size("train")
    scores = accuracy_after(task, steps, batch_size, seed)
    full, rest = divmod(steps, task.steps_per_epoch(batch_size))
    seen = full * n_train + min(rest * batch_size, n_train)
    emit("test_accuracy", scores["accuracy"], "fraction", steps=steps, batch_size=batch_size, images_seen=seen,
         epochs=round(seen / n_train, 4), test_images=task.size("test"), test_loss=round(scores["loss"], 4),
         train_seconds=round(scores["train_seconds"], 1), eval_seconds=round(scores["eval_seconds"], 1),
         memoryless_accuracy=scores["baseline_accuracy"], memoryless_loss=round(scores["baseline_loss"], 4),
         optimizer="adam", lr=2e-3, seed=seed)
    return lines.write(args.out or RESULTS / f"{NAME}{'-quick' if quick else ''}.jsonl")  # the quick run too


if __name__ == "__main__":
    main(run)
