"""seqmem: measure how well sequence models remember."""

from seqmem.config import Config, build, make_config
from seqmem.errors import ConfigError
from seqmem.experiment import load, run_experiment
from seqmem.models import make_model
from seqmem.tasks import make_task
from seqmem.train import Result, TrainConfig, make_method, train

__version__ = "0.1.0"

__all__ = ["Config", "ConfigError", "Result", "TrainConfig", "build", "load", "make_config", "make_method", "make_model",
           "make_task", "run_experiment", "train"]
