"""A constructor's parameters, and values checked against their types: the one place settings are typed.

Tasks, models, training and methods declare their settings as typed keyword arguments (or dataclass
fields); `parameters` reads them, `coerce` turns a flag's text or a Python value into the declared type
or refuses it with a line that names the setting.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from dataclasses import dataclass

from seqmem.errors import ConfigError

REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Param:
    name: str
    kind: object  # the annotation: int, float, str, bool, or a union with None
    default: object = REQUIRED
    help: str = ""


def parameters(target, skip: int = 0) -> dict[str, Param]:
    """The typed settings of a dataclass (its fields) or of a class's constructor (after `skip` leading ones)."""
    if dataclasses.is_dataclass(target):
        hints = typing.get_type_hints(target)
        return {
            f.name: Param(f.name, hints[f.name],
                          f.default if f.default is not dataclasses.MISSING else REQUIRED, f.metadata.get("help", ""))
            for f in dataclasses.fields(target) if f.init
        }
    signature = inspect.signature(target.__init__, eval_str=True)
    return {name: Param(name, p.annotation, p.default) for name, p in list(signature.parameters.items())[skip + 1:]}


def parameter_defaults(target, skip: int = 0) -> dict:
    return {name: p.default for name, p in parameters(target, skip).items()}


def allowed(kind) -> tuple:
    """The plain types a setting accepts, None included where the annotation allows it."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        return tuple(type(None) if k is type(None) else k for k in typing.get_args(kind))
    return (kind,)


def describe(kinds: tuple) -> str:
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "none"}
    return " or ".join(words.get(k, getattr(k, "__name__", str(k))) for k in kinds)


def parse_text(text: str, kinds: tuple):
    """A flag's text as the first type of `kinds` that reads it."""
    if type(None) in kinds and text.lower() in ("none", "null"):
        return None
    for kind in kinds:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
        elif kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                continue
        elif kind is str:
            return text
    raise ValueError


def coerce(label: str, value, kind):
    """`value` (a flag's text when `kind` is not str, or a Python value) as `kind`, or a ConfigError naming `label`."""
    kinds = allowed(kind)
    if not all(k in (int, float, bool, str, type(None)) for k in kinds):
        return value  # a setting typed otherwise is the constructor's own to check
    if isinstance(value, str) and str not in kinds:
        try:
            value = parse_text(value, kinds)
        except ValueError:
            raise ConfigError(f"{label}: expected {describe(kinds)}, got {value!r}") from None
    if value is None and type(None) in kinds:
        return None
    if isinstance(value, bool):
        ok = bool in kinds
    elif isinstance(value, int):
        ok = int in kinds or float in kinds
    elif isinstance(value, float):
        ok = float in kinds or (int in kinds and value.is_integer())
    else:
        ok = isinstance(value, str) and str in kinds
    if not ok:
        raise ConfigError(f"{label}: expected {describe(kinds)}, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and int not in kinds:
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(f"{label}: {value} is out of range") from None
    elif isinstance(value, float) and float not in kinds:
        value = int(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{label}: expected a finite number, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) < value < 2**63:
        raise ConfigError(f"{label}: {value} is out of range (a 64-bit integer)")
    return value


def check_int(name: str, value, minimum: int = 1) -> int:
    """Refuse a non-integer or an integer below `minimum`, naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
