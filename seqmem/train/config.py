"""Training settings: everything the loop needs besides the task and the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from seqmem.errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")


@dataclass
class TrainConfig:
    """`steps` counts optimizer updates; `epochs` passes over a fixed training set (give one of them).

    `method` is `bptt`, `tbptt` (chunks of `chunk_length` steps, state carried and detached between
    them) or `target-prop`. `eval_every` defaults to once an epoch, or ten times a run on fresh samples.
    `stop_at` ends training once test recall accuracy reaches it.
    """

    method: str = "bptt"
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    clip: float = 0.0
    weight_decay: float = 0.0
    chunk_length: int | None = None
    seed: int = 0
    eval_every: int | None = None
    eval_batch_size: int = 500
    stop_at: float | None = None
    # target-prop only (see docs/target-prop.md); `lr` and `optimizer` train the forward weights and the head
    tp_inverse_lr: float = 1e-3  # learning rate of the learned inverse g (its own optimizer, same kind)
    tp_target_lr: float = 1.0  # step size of the gradient-step targets h - tp_target_lr * dL/dh
    tp_noise: float = 0.1  # std of the Gaussian noise on h when g learns to reconstruct it
    tp_warmup_steps: int = 0  # first updates in which only g learns

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        for name in ("steps", "epochs", "batch_size", "chunk_length", "eval_every", "eval_batch_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name.replace('_', '-')} must be an integer >= 1, got {value!r}")
        if self.steps is not None and self.epochs is not None:
            raise ConfigError("give --steps or --epochs, not both")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr!r}")
        if self.clip < 0:
            raise ConfigError(f"clip must be >= 0 (0 turns clipping off), got {self.clip!r}")
        for name in ("tp_inverse_lr", "tp_target_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not self.tp_noise >= 0:
            raise ConfigError(f"tp_noise must be >= 0 (0 turns the noise off), got {self.tp_noise!r}")
        if isinstance(self.tp_warmup_steps, bool) or not isinstance(self.tp_warmup_steps, int) or self.tp_warmup_steps < 0:
            raise ConfigError(f"tp_warmup_steps must be an integer >= 0, got {self.tp_warmup_steps!r}")
        if self.method == "tbptt" and self.chunk_length is None:
            raise ConfigError("method tbptt needs --chunk-length (steps per truncated chunk)")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        for key in data:
            if key not in names:
                raise ConfigError(f"training has no setting {key!r}; its settings: {', '.join(sorted(names))}")
        return cls(**data)
