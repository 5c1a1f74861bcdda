"""Method registry: how one update is made. Each module in this package may register a method by name
(`@register_method("bptt")`: bptt.py, target_prop.py); a method owns its options (a dataclass `Options`).
What methods share (the loss, the optimizer, detaching state) is in shared.py.

This module imports no PyTorch, so a config is checked (its method's options included) without it; the
methods are listed from their modules' source, as tasks and models are.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict

from seqmem.config.registry import Registry
from seqmem.config.settings import REQUIRED, coerce, settings_of
from seqmem.config.user_code import construct
from seqmem.errors import ConfigError
from seqmem.training.train_config import TrainConfig

METHODS = Registry(__name__, "register_method", "method", options=True)
register_method = METHODS.register


def method_options(name: str, options: dict):
    """A method's validated options: unknown ones refused, missing ones filled with defaults."""
    cls = METHODS.cls(name)
    if not dataclasses.is_dataclass(getattr(cls, "Options", None)):
        raise ConfigError(f"method {name} has no Options dataclass: give it one (`@dataclass class Options: ...`, "
                          "empty if it has no options; see docs/extending.md)")
    params = settings_of(cls.Options)
    for key in options:
        if key not in params:
            owned = f"its options: {', '.join(params)}" if params else "it has no options"
            raise ConfigError(f"method {name} has no option {key!r}; {owned}")
    for key, param in params.items():
        if key not in options and param.default is REQUIRED:
            raise ConfigError(f"method {name} needs --{key.replace('_', '-')} ({param.help})")
    return construct(f"method {name}'s Options", cls.Options,
                     **{k: coerce(f"method.{k}", v, params[k].kind) for k, v in options.items()})


def make_method(model, task, config: TrainConfig, name: str = "bptt", **options):
    """The named method, with its options checked, ready to update `model` on `task`."""
    return construct(f"method {name}", METHODS.cls(name), model, task, config, method_options(name, options))


def method_settings(method) -> dict:
    """A method's name and options, as config.json records them."""
    return {"name": method.name, **asdict(method.options)}
