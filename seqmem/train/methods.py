"""How one update is made. BPTT and truncated BPTT share one update; they differ only in chunking."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqmem.errors import ConfigError
from seqmem.tasks.base import Batch
from seqmem.train.config import TrainConfig

METHODS: dict[str, type] = {}


def register_method(name: str):
    def add(cls):
        METHODS[name] = cls
        return cls

    return add


def make_optimizer(params, config: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    lr = config.lr if lr is None else lr
    name, wd = config.optimizer, config.weight_decay
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=0.9)


def detach_state(state):
    """Cut the graph behind a carried state (a tensor, a tuple of them, or None)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


def task_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy over every target (per step, or per sequence)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.y.reshape(-1))


@register_method("bptt")
class Backprop:
    """Backpropagation through the whole batch (through each chunk, for truncated BPTT)."""

    def __init__(self, model: torch.nn.Module, task, config: TrainConfig):
        self.model, self.config = model, config
        self.optimizer = make_optimizer(model.parameters(), config)

    def update(self, batch: Batch, state=None):
        self.optimizer.zero_grad(set_to_none=True)
        logits, state = self.model(batch.x, state, cond=batch.cond)
        loss = task_loss(logits, batch)
        loss.backward()
        if self.config.clip > 0:  # after backward(): before it there is no gradient to clip
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        return loss.item(), detach_state(state)

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])


register_method("tbptt")(Backprop)


def make_method(model, task, config: TrainConfig):
    if config.method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(sorted(METHODS))}, got {config.method!r}")
    return METHODS[config.method](model, task, config)
