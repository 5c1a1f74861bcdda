"""A config built into the run's pieces: the task, the model (its weights drawn on the CPU from the training
seed), the training settings and the method, each made once, and everything that cannot run refused before
a run directory is touched. seqmem.run.experiment trains what this builds; `seqmem.load` rebuilds a run with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from seqmem.config import user_code
from seqmem.config.compose import Config, make_config, without_name
from seqmem.config.settings import check_int, coerce
from seqmem.config.user_code import construct, is_user_class
from seqmem.errors import ConfigError
from seqmem.models import MODELS, backbone_settings
from seqmem.models.backbone import Backbone
from seqmem.run.contract import model_checks, refuse, task_checks
from seqmem.run.resources import batch_bytes, check_fits, model_bytes
from seqmem.run.user_exit import named_exits
from seqmem.tasks import TASKS
from seqmem.training.loop import check_method_precision, check_where, total_steps
from seqmem.training.methods import make_method
from seqmem.training.train_config import TrainConfig


class ReceptiveFieldError(ConfigError):
    """The model cannot see as far back as the task needs."""


@dataclass
class Experiment:
    """A config built: the task, the model (weights drawn from the training seed), the training settings, the
    method and the device they train on, each made once and checked. `config` records the task as built
    (`task.params()`)."""

    config: Config
    task: object
    model: object
    train: TrainConfig
    method: object
    device: torch.device | None


def build(config, check_device: bool = True) -> Experiment:
    """Turn a config (a Config, or a dict checked here) into task, model and method, refusing before anything
    is written what cannot run: a device this machine lacks too, unless `check_device` is False (`load` reads
    a GPU-trained run on any device). A class of the user's that exits the process while being built and
    checked is named in one line. The training loop trusts what this gives it."""
    with named_exits():
        return built(config, check_device)


def built(config, check_device: bool) -> Experiment:
    config = make_config(config)
    task_params, model_params = without_name(config.task), without_name(config.model)
    task_cls, model_cls = TASKS.cls(config.task["name"]), MODELS.cls(config.model["name"])
    check_fits(task_cls.data_bytes(task_params), f"task {task_cls.name}'s fixed data",
               "make its sizes (sequence length, set sizes) smaller")
    task = make_task(config.task["name"], **task_params)
    train = TrainConfig(**config.train)
    try:
        built_cls, built_params = model_class_and_settings(config.model["name"], model_params)
        weights = model_bytes(built_cls, task, built_params)
    except ConfigError:
        weights = 0  # the model's own check refuses it below, with its own message
    check_fits(task_cls.data_bytes(task_params) + weights + batch_bytes(task, max(train.batch_size, train.eval_batch_size)),
               f"this run ({model_cls.name} on {task.name}, span {task.span})",
               "make the model, the sequences or the batches smaller")
    if is_user_class(task_cls):
        refuse(f"task {task_cls.name}", task_checks(task))
    model = make_model(config.model["name"], task, seed=train.seed,
                       allow_short_receptive_field=config.allow_short_receptive_field, **model_params)
    method = make_method(model, task, train, **config.method)
    if is_user_class(type(method)) and not (isinstance(getattr(method, "optimizers", None), list)
                                            and callable(getattr(method, "update", None))):
        raise ConfigError(f"method {method.name}: it needs update(batch, state) and optimizers, a list (what a "
                          "learning-rate schedule scales); see docs/extending.md")
    total_steps(task, train, method)  # a missing --steps is refused here, not after config.json is written
    check_method_precision(method, train)
    device = check_where(train) if check_device else None  # an absent device, or the package --log needs
    return Experiment(replace(config, task={"name": task.name, **task.params()}), task, model, train, method, device)


def make_task(name: str, **params):
    """Build a registered task (or one by import path); unknown names and settings are refused with the
    list of valid ones."""
    cls = TASKS.cls(name)
    return construct(f"task {name}", cls, **checked_settings(f"task {name}", TASKS.params(name), params))


def make_model(name: str, task, seed: int = 0, allow_short_receptive_field: bool = False, **params):
    """Build a registered model (or one by import path, or a sequence mixer in the backbone) for `task`, its
    weights drawn from `seed`.

    A model whose receptive field is shorter than the task's span cannot answer it; that is refused with
    the smallest fix, unless `allow_short_receptive_field` asks for it anyway.
    """
    model = construct_model(name, task, seed, **params)
    if is_user_class(MODELS.cls(name)):  # a mixer's contract in full (causal, chunks equal the whole) but backward
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            refuse(f"model {user_code.label(name)}", model_checks(model, task, full=MODELS.is_mixer(name), backward=False))
    if not allow_short_receptive_field:
        check_receptive_field(model, task)
    return model


def construct_model(name: str, task, seed: int = 0, **params):
    """The model built, its settings checked and its size checked against this machine, nothing more: a
    mixer (a class built from `d_model` or `dim`) is built once a layer in the backbone."""
    params = checked_settings(f"model {name}", MODELS.params(name), params)
    if not hasattr(task, "span") or not hasattr(task, "num_classes"):
        raise ConfigError(f"make_model needs a task made by make_task, got {type(task).__name__}")
    check_int("seed", seed, 0)
    cls, params = model_class_and_settings(name, params)
    check_fits(model_bytes(cls, task, params), f"model {name}", "make it smaller")  # before allocating it
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = construct(f"model {name}", cls, task, **params)
    if cls is Backbone:
        model.name = name  # what config.json records, and what builds it again
    return model


def model_class_and_settings(name: str, params: dict) -> tuple[type, dict]:
    """The class a model's name builds and its settings: for a mixer, the backbone with the mixer in it."""
    cls = MODELS.cls(name)
    if not MODELS.is_mixer(name):
        return cls, params
    frame = backbone_settings()
    backbone = {k: v for k, v in params.items() if k in frame}
    return Backbone, {"mixer": cls, "mixer_settings": {k: v for k, v in params.items() if k not in frame}, **backbone}


def check_receptive_field(model, task) -> None:
    if model.receptive_field < task.span:
        fix = model.fix_receptive_field(task.span) if hasattr(model, "fix_receptive_field") else ""
        raise ReceptiveFieldError(
            f"receptive field {model.receptive_field} < {task.span} steps{': use ' + fix if fix else ''}"
            " (or --allow-short-receptive-field to run it anyway)"
        )


def checked_settings(what: str, declared: dict, params: dict) -> dict:
    """The settings, each `declared` (a class's, as the registry reads them), typed, or a ConfigError naming it."""
    for key in params:
        if key not in declared:
            raise ConfigError(f"{what} has no parameter {key!r}; its parameters: {', '.join(declared)}")
    return {k: coerce(f"{what.split()[0]}.{k}", v, declared[k].kind) for k, v in params.items()}
