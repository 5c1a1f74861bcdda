"""Task registry: each module in this package registers its tasks by short name.

The names, summaries and settings are read from the modules' source (seqmem.config.registry), so listing tasks or
checking a config imports no task module, nor PyTorch; `make_task` imports the one it builds.
"""

from __future__ import annotations

from seqmem.config.registry import Registry
from seqmem.errors import ConfigError

TASKS = Registry(__name__, "register_task", "task")


def register_task(name: str):
    return TASKS.register(name)


def make_task(name: str, **params):
    """Build a registered task; unknown names and parameters are refused with the list of valid ones."""
    from seqmem.config.user_code import construct

    cls = task_class(name)
    return construct(f"task {name}", cls, **check_params(f"task {name}", cls, params))


def task_class(name: str) -> type:
    return TASKS[known_task(name)]


def task_params(name: str) -> dict:
    """The named task's settings, without importing its module."""
    return TASKS.params(known_task(name))


def known_task(name: str) -> str:
    """The name as config.json records it; a ConfigError listing the tasks for an unknown one."""
    return TASKS.known(name)


def check_params(what: str, cls: type, params: dict, skip: int = 1) -> dict:
    """The parameters, each known to the class and of its declared type, or a ConfigError naming it."""
    from seqmem.config.settings import coerce, parameters

    declared = parameters(cls, skip=skip - 1)
    for key in params:
        if key not in declared:
            raise ConfigError(f"{what} has no parameter {key!r}; its parameters: {', '.join(declared)}")
    return {k: coerce(f"{what.split()[0]}.{k}", v, declared[k].kind) for k, v in params.items()}
