"""Training: the loop, its settings, and the update methods (each module may register one)."""

import importlib
import pkgutil

from seqmem.training.config import TrainConfig
from seqmem.training.loop import Result, train
from seqmem.training.methods import make_method

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Result", "TrainConfig", "make_method", "train"]
