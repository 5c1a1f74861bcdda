"""`seqmem check`: the contract (seqmem.run.contract) run on a class named by a short name or an import path,
built the way a run would build it."""

from __future__ import annotations

import torch

from seqmem.config.compose import REGISTRIES, SECTIONS, set_value
from seqmem.config.settings import class_first_argument
from seqmem.config.user_code import ExitCalled, import_class, is_import_path
from seqmem.errors import ConfigError
from seqmem.models import MIXER_FIRST, MODELS
from seqmem.run.build import check_receptive_field, construct_model, make_task
from seqmem.run.contract import Check, method_checks, model_checks, task_checks
from seqmem.run.user_exit import named_exits
from seqmem.training.methods import make_method
from seqmem.training.train_config import TrainConfig


def kind_of(cls: type) -> str:
    """Which contract a class is meant to keep: a model is a Module, a method has `update`, else a task."""
    if issubclass(cls, torch.nn.Module):
        return "model" if class_first_argument(cls) not in MIXER_FIRST else "mixer"
    return "method" if callable(getattr(cls, "update", None)) else "task"


def check(name: str, task: str = "echo-letters", settings: dict | None = None) -> tuple[str, list[Check]]:
    """Run the contract on the class `name` (a short name or an import path): a model is built for `task`,
    a mixer in the backbone, a method trains a small GRU on it. `settings` are `task.x` / `model.x` /
    `method.x` values. Returns the kind and each check's `(passed, line)`; a class that exits the process is
    a ConfigError naming the call."""
    with named_exits():
        return checked(name, task, settings)


def checked(name: str, task: str, settings: dict | None) -> tuple[str, list[Check]]:
    cls = import_class(name) if is_import_path(name) else None
    if cls is None:
        found = [s for s, r in REGISTRIES.items() if name in r]
        if not found:
            raise ConfigError(f"{name!r} is neither a known task, model or method nor an import path "
                              "(package.module:Class or path/to/file.py:Class)")
        kind = "mixer" if found[0] == "model" and MODELS.is_mixer(name) else found[0]
    else:
        kind = kind_of(cls)
    data = {"task": {"name": name if kind == "task" else task},
            "model": {"name": name if kind in ("model", "mixer") else "gru"}, "method": {"name": name if kind == "method" else "bptt"}}
    if kind == "method":
        data["model"]["hidden"] = 16
    for key, value in (settings or {}).items():
        if key.split(".")[0] not in SECTIONS:
            raise ConfigError(f"--set {key}: write task.KEY, model.KEY or method.KEY")
        set_value(data, key, value)
    results: list[Check] = []
    torch.manual_seed(0)
    try:
        built = make_task(data["task"]["name"], **{k: v for k, v in data["task"].items() if k != "name"})
    except ExitCalled:
        raise
    except ConfigError as e:
        return kind, [(False, f"task {data['task']['name']} does not build: {e}")]
    if kind == "task":
        return kind, list(task_checks(built))
    try:  # built here rather than by make_model, whose quick check would stop at the first failure
        model = construct_model(data["model"]["name"], built, **{k: v for k, v in data["model"].items() if k != "name"})
    except ExitCalled:
        raise
    except ConfigError as e:
        return kind, [(False, f"does not build for {built.name}: {e}")]
    results.append((True, f"builds for {built.name} ({sum(p.numel() for p in model.parameters())} parameters)"
                          + (" in the backbone" if kind == "mixer" else "")))
    if kind in ("model", "mixer"):
        checks = list(model_checks(model, built))
        if all(passed for passed, _ in checks):  # what train on this task would refuse, check refuses too
            try:
                check_receptive_field(model, built)
            except ConfigError as e:
                checks.append((False, f"{built.name}: {e}"))
        return kind, results + checks
    try:
        method = make_method(model, built, TrainConfig(steps=2, batch_size=4), **data["method"])
    except ExitCalled:
        raise
    except ConfigError as e:
        return kind, [(False, f"does not build: {e}")]
    return kind, [(True, f"builds, training a GRU of 16 on {built.name}"), *method_checks(method, model, built)]
