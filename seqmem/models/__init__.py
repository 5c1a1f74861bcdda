"""Model registry: each module in this package registers its models by short name.

Every model is an `nn.Module` built as `cls(task, **hyperparameters)` whose `forward(x, state=None)`
returns `(logits, state)`: logits `(B, L, classes)` for per-step tasks or `(B, classes)` for sequence
classification, and a state to carry into the next chunk (None where the model keeps none). It has a
`receptive_field` (math.inf for recurrent models), and optionally a `state_size`: the numbers it carries, or
as zoology gives it, a method `state_size(sequence_length)`. As for tasks, the names and settings are read from the
modules' source, so only `make_model` imports a model's module, and PyTorch.
"""

from __future__ import annotations

from seqmem.config.registry import Registry
from seqmem.config.settings import check_int
from seqmem.config.user_code import construct, is_user_class
from seqmem.errors import ConfigError
from seqmem.tasks import check_params

MODELS = Registry(__name__, "register_model", "model", skip=1)  # after `task`


class ReceptiveFieldError(ConfigError):
    """The model cannot see as far back as the task needs."""


def register_model(name: str):
    return MODELS.register(name)


def model_class(name: str) -> type:
    return MODELS[known_model(name)]


def model_params(name: str) -> dict:
    """The named model's settings (after `task`), without importing its module."""
    return MODELS.params(known_model(name))


def known_model(name: str) -> str:
    """The name as config.json records it; a ConfigError listing the models for an unknown one."""
    return MODELS.known(name)


def make_model(name: str, task, seed: int = 0, allow_short_receptive_field: bool = False, **params):
    """Build a registered model for `task`, its weights drawn from `seed`.

    A model whose receptive field is shorter than the task's span cannot answer it; that is refused with
    the smallest fix, unless `allow_short_receptive_field` asks for it anyway.
    """
    import torch

    cls = model_class(name)
    params = check_params(f"model {name}", cls, params, skip=2)
    if not hasattr(task, "span") or not hasattr(task, "num_classes"):
        raise ConfigError(f"make_model needs a task made by make_task, got {type(task).__name__}")
    check_int("seed", seed, 0)
    from seqmem.run.resources import check_fits, model_bytes

    check_fits(model_bytes(cls, task, params), f"model {name}", "make it smaller")  # before allocating it
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = construct(f"model {name}", cls, task, **params)
    if is_user_class(cls):
        from seqmem.run.contract import model_checks, refuse

        with torch.random.fork_rng(devices=[]), torch.no_grad():
            refuse(f"model {cls.name}", model_checks(model, task, full=False))
    if model.receptive_field < task.span and not allow_short_receptive_field:
        fix = model.fix_receptive_field(task.span) if hasattr(model, "fix_receptive_field") else ""
        raise ReceptiveFieldError(
            f"receptive field {model.receptive_field} < {task.span} steps{': use ' + fix if fix else ''}"
            " (or --allow-short-receptive-field to run it anyway)"
        )
    return model


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def state_numbers(model, sequence_length: int):
    """The model's `state_size`: its number, or its method's count after `sequence_length` steps; None if it gives none."""
    size = getattr(model, "state_size", None)
    return size(sequence_length=sequence_length) if callable(size) else size
