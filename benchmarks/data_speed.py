"""Data generation against training: the time to make each update's batch, as a fraction of the update.

For each recipe, built as `seqmem train --recipe` builds it (one thread), the updates run as the training
loop runs them: the next chunk from `training_chunks` (for BPTT a whole batch from `task.batches("train",
...)`; for truncated BPTT a chunk of one, the batch made once for all its chunks), then `method.update`
(forward, backward, optimizer step). Both are timed, interleaved, in the same process, after `--warmup`
updates not counted; `data_fraction` is the data's total time over the updates'.

    python benchmarks/data_speed.py            # every recipe below, the figures docs/performance.md quotes
    python benchmarks/data_speed.py --quick    # a few updates of each but the images, for tests

A recipe that cannot be built here (the Fashion-MNIST files missing) is a `skipped` line with the reason.
"""

from __future__ import annotations

import time

import torch
from harness import Lines, arguments, main

from seqmem.config.compose import make_config, recipe_config
from seqmem.errors import ConfigError
from seqmem.run.build import build
from seqmem.training.loop import chunks_per_batch, training_chunks

RECIPES = ("copy-tcn-1000", "seed-echo-letters", "seed-echo-variable", "seed-echo-stream", "seed-sfmnist-tcn")
QUICK = RECIPES[:4]  # sequential Fashion-MNIST reads 47 MB and takes seconds an update


def measure(recipe: str, updates: int, warmup: int, max_seconds: float) -> dict:
    """Mean seconds of data and of update per update, over `updates` (at least one whole batch of chunks)."""
    experiment = build(make_config(recipe_config(recipe)))
    task, model, method, train = experiment.task, experiment.model, experiment.method, experiment.train
    per_batch = chunks_per_batch(task, method)
    wanted = max(updates, per_batch)
    torch.manual_seed(train.seed)
    model.train()
    chunks, state = training_chunks(task, train, method, 0), None
    data = update = 0.0
    done = 0
    for i in range(warmup + wanted):
        tic = time.perf_counter()
        chunk, new_sequence = next(chunks)
        made = time.perf_counter()
        _, state = method.update(chunk, None if new_sequence else state)
        if i >= warmup:
            data, update, done = data + made - tic, update + time.perf_counter() - made, done + 1
            if update > max_seconds and done >= per_batch:
                break
    return {"recipe": recipe, "task": task.name, "model": model.name, "method": method.name,
            "optimizer": train.optimizer, "batch_size": train.batch_size, "chunks_per_batch": per_batch,
            "span": task.span, "updates": done, "data_seconds": data / done, "update_seconds": update / done}


def run(argv=None) -> int:
    parser = arguments(__doc__, "data_speed", quick="a few updates of each, for tests; writes nothing")
    parser.add_argument("--recipes", help=f"comma-separated (default {','.join(RECIPES)}; with --quick the first four)")
    parser.add_argument("--updates", type=int, default=1000, help="updates timed a recipe (at least one batch's chunks)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="stop a recipe after this much update time")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    updates, warmup = (3, 1) if args.quick else (args.updates, 5)
    max_seconds = 2.0 if args.quick else args.max_seconds
    lines = Lines("data_speed")
    recipes = args.recipes.split(",") if args.recipes else QUICK if args.quick else RECIPES
    for recipe in recipes:
        try:
            m = measure(recipe, updates, warmup, max_seconds)
        except ConfigError as e:  # e.g. the Fashion-MNIST files are not on this machine
            lines.add("skipped", None, None, recipe=recipe, reason=str(e))
            continue
        settings = {k: v for k, v in m.items() if k not in ("data_seconds", "update_seconds")}
        settings["quick"] = args.quick
        for metric in ("data_seconds", "update_seconds"):
            lines.add(metric, round(m[metric], 7), "s", **settings)
        lines.add("data_fraction", round(m["data_seconds"] / m["update_seconds"], 5), "ratio",
                  numerator="data seconds an update", denominator="update seconds", **settings)
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
