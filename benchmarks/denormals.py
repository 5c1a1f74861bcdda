"""Denormal floats on the CPU: a training update with them kept against flushed to zero, side by side.

A gradient carried back through hundreds of steps can decay into float32's denormal range, where x86
arithmetic runs many times slower; seqmem flushes them while it trains (seqmem/run/denormals.py). Each model
at its adding-600 recipe's size (lstm 130, gru 150, tcn 8 levels x kernel 8 x 24 channels) on the adding
problem at T=600, batch 32, Adam 2e-3, one thread: two copies of one model, one updated with denormals
kept and one flushed, their updates interleaved in rotating order after a warm-up; a ratio is the median of
the per-round ratios (kept over flushed). The first update's losses of the two are recorded: flushing
changes no value a model computes outside the denormal range.

    python benchmarks/denormals.py            # L = 600, 5 rounds
    python benchmarks/denormals.py --quick    # seconds: L = 50, one round; writes nothing
"""

from __future__ import annotations

import copy
import statistics

import torch
from harness import Lines, arguments, interleaved, main, median_ratio, seconds

NAME = "denormals"
SIZES = {"lstm": {"hidden": 130}, "gru": {"hidden": 150}, "tcn": {"levels": 8, "kernel_size": 8, "channels": 24}}


def update_with(flush: bool, method, data) -> tuple[float, float]:
    """One update with denormals flushed or kept: its seconds and its loss."""
    torch.set_flush_denormal(flush)
    try:
        loss = []
        return seconds(lambda: loss.append(method.update(data)[0])), loss[0]
    finally:
        torch.set_flush_denormal(False)


def compare(name: str, length: int, rounds: int) -> list[dict]:
    import seqmem
    from seqmem.training.methods import make_method

    task = seqmem.make_task("adding", length=length, marks="anywhere", test_size=32, validation_size=32)
    model = seqmem.make_model(name, task, seed=0, **SIZES[name])
    config = seqmem.TrainConfig(steps=1, batch_size=32, lr=2e-3)
    methods = {flush: make_method(copy.deepcopy(model).train(), task, config) for flush in (False, True)}
    data = task.get("test", torch.arange(32))
    first = {flush: update_with(flush, methods[flush], data)[1] for flush in methods}  # also the warm-up
    times = interleaved({"kept": lambda: update_with(False, methods[False], data)[0],
                         "flushed": lambda: update_with(True, methods[True], data)[0]}, rounds)
    common = {"model": name, "length": length, "batch": 32, "rounds": rounds, "threads": torch.get_num_threads()}
    return [
        {"metric": "first_loss", "value": first[False], "unit": "mse", "flushed_value": first[True], **common},
        {"metric": "step_seconds", "value": statistics.median(times["kept"]), "unit": "s",
         "flushed_value": statistics.median(times["flushed"]), **common},
        {"metric": "step_time_ratio", "value": median_ratio(times["kept"], times["flushed"]), "unit": "ratio",
         "numerator": "kept", "denominator": "flushed", **common},
    ]


def run(argv=None) -> int:
    parser = arguments(__doc__, NAME, quick="L = 50, one round; writes nothing")
    parser.add_argument("--models", default=",".join(SIZES))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lines = Lines(NAME)
    for name in args.models.split(","):
        lines.extend(compare(name, 50 if args.quick else 600, 1 if args.quick else args.rounds))
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
