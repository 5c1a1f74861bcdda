"""seqmem: measure how well sequence models remember.

The names below load on first use, so `import seqmem` (and the command line's --help) does not wait for
PyTorch.
"""

import importlib

from seqmem.errors import ConfigError

__version__ = "0.1.0"

EXPORTS = {
    # compose a config, build it, train it, load it back
    "Config": "seqmem.config.compose", "make_config": "seqmem.config.compose", "compose": "seqmem.config.compose",
    "recipe_config": "seqmem.config.compose", "build": "seqmem.run.build", "make_model": "seqmem.run.build",
    "make_task": "seqmem.run.build", "run_experiment": "seqmem.run.experiment", "load": "seqmem.run.experiment",
    "Result": "seqmem.training.loop", "train": "seqmem.training.loop", "TrainConfig": "seqmem.training.train_config",
    "make_method": "seqmem.training.methods", "set_threads": "seqmem.run.threads",
    # what a task, model or method of your own builds on (docs/extending.md)
    "Task": "seqmem.tasks.base", "SampledTask": "seqmem.tasks.base", "Batch": "seqmem.tasks.base",
    "Baseline": "seqmem.tasks.base", "task_loss": "seqmem.training.methods.shared", "make_optimizer": "seqmem.training.methods.shared",
    "detach_state": "seqmem.training.methods.shared", "register_task": "seqmem.tasks", "register_model": "seqmem.models",
    "register_method": "seqmem.training.methods", "check": "seqmem.run.check",
    # what run folders hold, as DataFrames
    "results": "seqmem.report.frames", "history": "seqmem.report.frames",
}

__all__ = ["ConfigError", *EXPORTS]


def __getattr__(name: str):
    if name not in EXPORTS:
        raise AttributeError(f"module 'seqmem' has no attribute {name!r}")
    return getattr(importlib.import_module(EXPORTS[name]), name)
