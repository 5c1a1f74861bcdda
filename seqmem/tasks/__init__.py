"""Task registry: each module in this package registers its tasks by short name."""

from __future__ import annotations

import importlib
import pkgutil

from seqmem.errors import ConfigError

TASKS: dict[str, type] = {}


def register_task(name: str):
    def add(cls):
        cls.name = name
        TASKS[name] = cls
        return cls

    return add


def make_task(name: str, **params):
    """Build a registered task; unknown names and parameters are refused with the list of valid ones."""
    cls = task_class(name)
    return cls(**check_params(f"task {name}", cls, params))


def task_class(name: str) -> type:
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}: choose one of {', '.join(sorted(TASKS))} (see `seqmem tasks`)")
    return TASKS[name]


def check_params(what: str, cls: type, params: dict, skip: int = 1) -> dict:
    """The parameters, each known to the class and of its declared type, or a ConfigError naming it."""
    from seqmem.params import coerce, parameters

    declared = parameters(cls, skip=skip - 1)
    for key in params:
        if key not in declared:
            raise ConfigError(f"{what} has no parameter {key!r}; its parameters: {', '.join(declared)}")
    return {k: coerce(f"{what.split()[0]}.{k}", v, declared[k].kind) for k, v in params.items()}


for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
