"""seqmem: measure how well sequence models remember.

The names below load on first use, so `import seqmem` (and the command line's --help) does not wait for
PyTorch.
"""

import importlib

from seqmem.errors import ConfigError

__version__ = "0.1.0"

EXPORTS = {
    "Config": "seqmem.config.compose", "build": "seqmem.run.build", "make_config": "seqmem.config.compose", "recipe_config": "seqmem.config.compose",
    "load": "seqmem.run.experiment", "run_experiment": "seqmem.run.experiment",
    "make_model": "seqmem.models", "make_task": "seqmem.tasks",
    "Result": "seqmem.training", "TrainConfig": "seqmem.training", "make_method": "seqmem.training", "train": "seqmem.training",
    # what a task, model or method of your own builds on (docs/extending.md)
    "Task": "seqmem.tasks.base", "SampledTask": "seqmem.tasks.base", "Batch": "seqmem.tasks.base",
    "Baseline": "seqmem.tasks.base", "task_loss": "seqmem.training.methods", "make_optimizer": "seqmem.training.methods",
    "detach_state": "seqmem.training.methods", "register_task": "seqmem.tasks", "register_model": "seqmem.models",
    "register_method": "seqmem.training.methods", "check": "seqmem.run.contract", "set_threads": "seqmem.run.threads",
    "results": "seqmem.report.frames", "history": "seqmem.report.frames",
}

__all__ = ["ConfigError", *EXPORTS]


def __getattr__(name: str):
    if name not in EXPORTS:
        raise AttributeError(f"module 'seqmem' has no attribute {name!r}")
    return getattr(importlib.import_module(EXPORTS[name]), name)
