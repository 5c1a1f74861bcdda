"""Training: the loop, its settings, and the update methods (each module may register one).

The names load on first use, so reading `seqmem.training.train_config` or the method registry does not load the
loop, nor PyTorch.
"""

import importlib

EXPORTS = {"Result": "seqmem.training.loop", "train": "seqmem.training.loop",
           "TrainConfig": "seqmem.training.train_config", "make_method": "seqmem.training.methods"}

__all__ = list(EXPORTS)


def __getattr__(name: str):
    if name not in EXPORTS:
        raise AttributeError(f"module 'seqmem.training' has no attribute {name!r}")
    return getattr(importlib.import_module(EXPORTS[name]), name)
