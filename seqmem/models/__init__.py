"""Model registry: each module in this package registers its models by short name.

Every model is an `nn.Module` built as `cls(task, **hyperparameters)` whose `forward(x, state=None)`
returns `(logits, state)`: logits `(B, L, classes)` for per-step tasks or `(B, classes)` for sequence
classification, and a state to carry into the next chunk (None where the model keeps none). It has a
`receptive_field` (math.inf for recurrent models).
"""

from __future__ import annotations

import importlib
import pkgutil

import torch

from seqmem.errors import ConfigError
from seqmem.params import check_int
from seqmem.tasks import check_params

MODELS: dict[str, type] = {}


class ReceptiveFieldError(ConfigError):
    """The model cannot see as far back as the task needs."""


def register_model(name: str):
    def add(cls):
        cls.name = name
        MODELS[name] = cls
        return cls

    return add


def model_class(name: str) -> type:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))} (see `seqmem models`)")
    return MODELS[name]


def make_model(name: str, task, seed: int = 0, allow_short_receptive_field: bool = False, **params):
    """Build a registered model for `task`, its weights drawn from `seed`.

    A model whose receptive field is shorter than the task's span cannot answer it; that is refused with
    the smallest fix, unless `allow_short_receptive_field` asks for it anyway.
    """
    cls = model_class(name)
    params = check_params(f"model {name}", cls, params, skip=2)
    if not hasattr(task, "span") or not hasattr(task, "num_classes"):
        raise ConfigError(f"make_model needs a task made by make_task, got {type(task).__name__}")
    check_int("seed", seed, 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(task, **params)
    if model.receptive_field < task.span and not allow_short_receptive_field:
        fix = model.fix_receptive_field(task.span) if hasattr(model, "fix_receptive_field") else ""
        raise ReceptiveFieldError(
            f"receptive field {model.receptive_field} < {task.span} steps{': use ' + fix if fix else ''}"
            " (or --allow-short-receptive-field to run it anyway)"
        )
    return model


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
