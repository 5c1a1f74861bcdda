"""A config built into the run's pieces: the task, the model (its weights drawn on the CPU from the training
seed), the training settings and the method, each made once, and everything that cannot run refused before
a run directory is touched. seqmem.run.experiment trains what this builds; `seqmem.load` rebuilds a run with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from seqmem.config.compose import Config, make_config, without_name
from seqmem.errors import ConfigError


@dataclass
class Experiment:
    """A config built: the task, the model (weights drawn from the training seed), the training settings and
    the method, each made once. `config` records the task as built (`task.params()`)."""

    config: Config
    task: object
    model: object
    train: object
    method: object


def build(config, check_device: bool = True) -> Experiment:
    """Turn a config into task, model and method, refusing before anything is written what cannot run: a device
    this machine lacks too, unless `check_device` is False (`load` reads a GPU-trained run on any device). A
    class of the user's that exits the process while being built and checked is named in one line."""
    from seqmem.run.user_exit import named_exits

    with named_exits():
        return built(config, check_device)


def built(config, check_device: bool) -> Experiment:
    from seqmem.config.user_code import is_user_class
    from seqmem.models import make_model, model_class
    from seqmem.run.contract import refuse, task_checks
    from seqmem.run.resources import batch_bytes, check_fits, model_bytes
    from seqmem.tasks import make_task, task_class
    from seqmem.training.loop import check_method_precision, check_where, total_steps
    from seqmem.training.methods import make_method
    from seqmem.training.train_config import TrainConfig

    config = make_config(config)
    task_params, model_params = without_name(config.task), without_name(config.model)
    task_cls, model_cls = task_class(config.task["name"]), model_class(config.model["name"])
    check_fits(task_cls.data_bytes(task_params), f"task {task_cls.name}'s fixed data",
               "make its sizes (sequence length, set sizes) smaller")
    task = make_task(config.task["name"], **task_params)
    train = TrainConfig(**config.train)
    try:
        weights = model_bytes(model_cls, task, model_params)
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
    if check_device:
        check_where(train)  # an absent device, or the package --log needs, refused here too
    return Experiment(replace(config, task={"name": task.name, **task.params()}), task, model, train, method)
