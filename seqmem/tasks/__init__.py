"""Task registry: each module in this package registers its tasks by short name."""

from __future__ import annotations

import importlib
import inspect
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
    check_params(f"task {name}", cls, params)
    return cls(**params)


def task_class(name: str) -> type:
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}: choose one of {', '.join(sorted(TASKS))} (see `seqmem tasks`)")
    return TASKS[name]


def check_params(what: str, cls: type, params: dict, skip: int = 1) -> None:
    names = list(inspect.signature(cls.__init__).parameters)[skip:]
    for key in params:
        if key not in names:
            raise ConfigError(f"{what} has no parameter {key!r}; its parameters: {', '.join(names)}")


for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
