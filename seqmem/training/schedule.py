"""Learning-rate schedules: the factor on every optimizer's own learning rate at each update.

A pure function of the update's index and the run's length, so a resumed run follows the same schedule
with nothing of its own to save; `constant` leaves the optimizers untouched.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine")


def lr_factor(schedule: str, step: int, steps: int) -> float:
    """`cosine`: half a cosine from 1 at the first update to 0 after the last (Loshchilov & Hutter 2017,
    without restarts), so the last updates are small and the weights settle where they are."""
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * step / steps))
    return 1.0


def set_lr_factor(optimizers, factor: float) -> None:
    """Every parameter group's learning rate to `factor` times its first (kept as `initial_lr`, as PyTorch's
    own schedulers keep it, so it is saved and restored with the optimizer's state)."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor
