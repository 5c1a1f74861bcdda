"""Refuse a run too large for this machine before allocating it, saying how much it would need.

The estimate is a floor, not a forecast: the task's fixed data, the model's weights with their gradient
and two optimizer moments, and one batch of inputs, one-hot features and logits, forward and backward.
Activations inside the model come on top, so a run refused here could never have fitted.
"""

from __future__ import annotations

import os

import torch

from seqmem.config.user_code import is_user_class
from seqmem.errors import ConfigError


def available_bytes() -> int:
    """Memory the system could give this process now (MemAvailable), or all of it where that is unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_fits(needed: int, what: str, fix: str) -> None:
    have = available_bytes()
    if needed > have:
        raise ConfigError(f"{what} would need at least {gib(needed)} of memory and {gib(have)} is available: {fix}")


def model_bytes(cls, task, params: dict) -> int:
    """The weights, their gradients and two optimizer moments, counted on the meta device (nothing allocated)."""
    try:
        with torch.device("meta"):
            model = cls(task, **params)
    except Exception as e:
        if is_user_class(cls) and not isinstance(e, ConfigError):
            return 0  # a user's constructor may not run on the meta device; built for real, it is refused by name
        if not isinstance(e, RuntimeError | OverflowError):
            raise
        # sizes whose count overflows 64 bits
        if "overflow" not in str(e).lower() and not isinstance(e, OverflowError):
            raise
        given = {**params, **(params.get("mixer_settings") or {})}  # a mixer's settings sit inside the backbone's
        sizes = {k: v for k, v in given.items() if isinstance(v, int) and not isinstance(v, bool)}
        largest = max(sizes, key=sizes.get, default=None)
        setting = f" ({largest}={sizes[largest]})" if largest else ""
        name = getattr(params.get("mixer"), "name", None) or getattr(cls, "name", cls.__name__)
        raise ConfigError(f"model {name} is too large to count{setting}: its size overflows; make "
                          f"{largest or 'its sizes'} smaller") from None
    return 16 * sum(p.numel() for p in model.parameters())


def batch_bytes(task, batch_size: int) -> int:
    """One batch of inputs, features and logits (float32), forward and backward."""
    features = (task.vocab_size or task.input_channels or 1) + (task.cond_size or 0)
    outputs = task.num_classes if task.per_step else 0
    return 2 * 4 * batch_size * task.span * (features + outputs + 3)
