"""Training settings: everything the loop needs besides the task, the model and the method's own options."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from seqmem.config.settings import check_int, coerce, settings_of
from seqmem.errors import ConfigError
from seqmem.training.schedule import SCHEDULES

DEVICES = ("cpu", "cuda", "cuda:N", "mps", "auto")
PRECISIONS = ("fp32", "bf16", "fp16")
CHOOSE = "use --device cpu, or --device auto to take a GPU where there is one"


def check_device(name) -> str:
    """A device's name as a setting (`cpu`, `cuda`, `cuda:N`, `mps`, `auto`); its availability is resolve's."""
    if not isinstance(name, str) or not re.fullmatch(r"cpu|cuda(:\d+)?|mps|auto", name):
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    return name


OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
LOGS = ("none", "tensorboard")
# Where a run computes and who watches it, not what it computes: a run resumes under other values of these
# (trained on a GPU, resumed on a CPU), so RunDir.check leaves them out when it compares configs.
EXECUTION = ("device", "log")


def setting(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """`steps` counts optimizer updates; `epochs` passes over a fixed training set (give one of them).

    Every evaluation scores the validation split and the test split; `stop_at` ends training once
    validation recall accuracy reaches it, and the test scores of that evaluation are the run's result.
    """

    steps: int | None = setting(None, "optimizer updates to make")
    epochs: int | None = setting(None, "passes over a fixed training set (instead of --steps)")
    batch_size: int = setting(32, "sequences a batch (default 32)")
    optimizer: str = setting("adam", "adam (default), adamw, rmsprop or sgd")
    lr: float = setting(1e-3, "learning rate (default 1e-3)")
    schedule: str = setting("constant", "learning-rate schedule: constant (default) or cosine (from lr to 0 over the updates)")
    clip: float = setting(0.0, "gradient-norm clip, applied after backward (0: off)")
    weight_decay: float = setting(0.0, "weight decay (default 0)")
    seed: int = setting(0, "seed of the weights, the batches and dropout (default 0)")
    eval_every: int | None = setting(None, "updates between evaluations (default: an epoch, or a tenth of the run)")
    eval_batch_size: int = setting(500, "sequences a batch when scoring (default 500)")
    stop_at: float | None = setting(None, "stop once validation recall accuracy reaches this (never read on test)")
    max_seconds: float | None = setting(None, "stop once training has taken this many seconds (evaluation excluded)")
    device: str = setting("cpu", "cpu (default), cuda, cuda:N, mps, or auto (CUDA, else MPS, else the CPU)")
    precision: str = setting("fp32", "fp32 (default), bf16 (CPU or GPU) or fp16 (GPU, loss-scaled): autocast's type")
    log: str = setting("none", "none (default) or tensorboard: an event file beside metrics.jsonl")

    def __post_init__(self):
        for name, param in settings_of(TrainConfig).items():
            setattr(self, name, coerce(f"train.{name}", getattr(self, name), param.kind))
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        check_device(self.device)
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.log not in LOGS:
            raise ConfigError(f"log must be one of {', '.join(LOGS)}, got {self.log!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        for name in ("steps", "epochs", "batch_size", "eval_every", "eval_batch_size"):
            if getattr(self, name) is not None:
                check_int(name.replace("_", "-"), getattr(self, name))
        check_int("seed", self.seed, 0)
        if self.steps is not None and self.epochs is not None:
            raise ConfigError("give --steps or --epochs, not both")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr!r}")
        if self.clip < 0:
            raise ConfigError(f"clip must be >= 0 (0 turns clipping off), got {self.clip!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ConfigError(f"max_seconds must be > 0, got {self.max_seconds!r}")
        if self.stop_at is not None and not 0 < self.stop_at <= 1:
            raise ConfigError(f"stop_at must be in (0, 1] (a validation recall accuracy), got {self.stop_at!r}")
        if self.seed >= 2**63:
            raise ConfigError(f"seed must be below 2**63, got {self.seed}")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        names = settings_of(cls)
        for key in data:
            if key not in names:
                raise ConfigError(f"training has no setting {key!r}; its settings: {', '.join(sorted(names))}")
        return cls(**data)
