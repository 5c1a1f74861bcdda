"""What every method shares: the loss a batch is scored by, the optimizer with its weight-decay exemptions, and
cutting the graph behind a carried state."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqmem.tasks.base import Batch
from seqmem.training.train_config import TrainConfig

# The state-space models' dynamics: step sizes, eigenvalues and the LRU's normalization (as named in
# models/s4d.py, lru.py and mamba.py), kept in log form. Weight decay would pull them to 0 (a step size of 1,
# Re A = -1, the LRU's |lambda| = 1/e) and so shorten how long the model remembers, which no loss asked for.
NO_DECAY = frozenset({"log_dt", "log_neg_A_real", "A_imag", "nu_log", "theta_log", "gamma_log", "A_log"})


def decays(name: str, param) -> bool:
    """Weight decay for weights only (as nanoGPT, and s4's example.py for the dynamics): never the dynamics
    above, a parameter marked `_no_weight_decay` (Mamba's convention), a vector or scalar (biases, norms'
    gains, skips), or a weight norm's gain (`parametrizations.weight.original0`, the TCN's)."""
    if param.dim() < 2 or getattr(param, "_no_weight_decay", False) or name.endswith("weight.original0"):
        return False
    return name.rsplit(".", 1)[-1] not in NO_DECAY


def make_optimizer(model, config: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    """The configured optimizer over `model`'s parameters (a module, or an iterable of parameters); with weight
    decay, a module's parameters that `decays` refuses go in a group of their own without it."""
    lr = config.lr if lr is None else lr
    name, wd = config.optimizer, config.weight_decay
    if wd > 0 and isinstance(model, torch.nn.Module):
        named = list(model.named_parameters())
        groups = [{"params": [p for n, p in named if decays(n, p)], "weight_decay": wd},
                  {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0}]
        params = [g for g in groups if g["params"]]
    else:
        params = model.parameters() if isinstance(model, torch.nn.Module) else model
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=0.9)


def detach_state(state):
    """Cut the graph behind a carried state: a tensor, a tuple or list of states, or anything else (None, a
    mixer's step count) kept as it is."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(detach_state(s) for s in state)
    return state


def task_loss(logits: torch.Tensor, batch: Batch, where: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy over every target (per step, or per sequence), or, with `where`, over the targets it
    marks, `logits` being those positions' alone (seqmem/training/scored.py); mean squared error for a regression
    target (a float `y`, one output)."""
    if batch.y.is_floating_point():
        return F.mse_loss(logits.reshape(batch.y.shape), batch.y)
    y = batch.y if where is None else batch.y[where]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
