"""seqmem: measure how well sequence models remember."""

from seqmem.errors import ConfigError
from seqmem.experiment import load, run_experiment
from seqmem.models import make_model
from seqmem.tasks import make_task
from seqmem.train import Result, TrainConfig, train

__version__ = "0.1.0"

__all__ = ["ConfigError", "Result", "TrainConfig", "load", "make_model", "make_task", "run_experiment", "train"]
