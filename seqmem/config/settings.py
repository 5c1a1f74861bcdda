"""A setting: how it is declared, read, typed and described. The one place settings are declared and typed.

Tasks and models declare their settings as typed keyword arguments of their constructor, TrainConfig and
each method's `Options` as dataclass fields: a name, a plain type (int, float, str, bool, a union with
None) and a default. A setting's help line is optional and costs nothing to skip: a dataclass field's
`metadata={"help": ...}`, or the setting's entry in an `Args:` section (the Google style most Python code
already writes) of the class's docstring, its `__init__`'s, or a base class's in the same module:

    class Hold(SampledTask):
        '''hold the first symbol for `length` steps

        Args:
            length: steps to hold the symbol (the memory asked for)
        '''
        def __init__(self, length: int = 20): ...

Two readers give the same `Param`s: `parameters` from the class, `source_parameters` from its source
(ast, nothing imported: the command line lists settings and makes its flags without PyTorch). `coerce`
turns a flag's text or a Python value into the declared type or refuses it in a line naming the setting;
`suggest` names the nearest of the known names for a mistyped one.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import math
import re
import types
import typing
from dataclasses import dataclass

from seqmem.errors import ConfigError

REQUIRED = inspect.Parameter.empty
TYPES = {"int": int, "float": float, "str": str, "bool": bool, "None": None}


@dataclass(frozen=True)
class Param:
    name: str
    kind: object  # the annotation: int, float, str, bool, or a union with None
    default: object = REQUIRED
    help: str = ""

    def type_text(self) -> str:
        return " | ".join("none" if k is type(None) else getattr(k, "__name__", str(k)) for k in allowed(self.kind))

    def default_text(self) -> str:
        if self.default is REQUIRED:
            return "required"
        return "none" if self.default is None else str(self.default).lower() if isinstance(self.default, bool) \
            else str(self.default)

    def described(self) -> str:
        """Its help with its default, e.g. `steps between evaluations (default 100)`; a default the help already
        states is not repeated."""
        if re.search(r"\(default|default:|required", self.help):
            return self.help
        shown = "required" if self.default is REQUIRED else f"default {self.default_text()}"
        return f"{self.help} ({shown})" if self.help else shown


def parameters(target, skip: int = 0) -> dict[str, Param]:
    """The typed settings of a dataclass (its fields) or of a class's constructor (after `skip` leading
    ones), each with its help line."""
    if dataclasses.is_dataclass(target):
        hints = typing.get_type_hints(target)
        helps = docstring_help(target.__dict__.get("__doc__"))
        return {
            f.name: Param(f.name, hints[f.name], f.default if f.default is not dataclasses.MISSING else REQUIRED,
                          f.metadata.get("help", "") or helps.get(f.name, ""))
            for f in dataclasses.fields(target) if f.init
        }
    signature = inspect.signature(target.__init__, eval_str=True)
    helps: dict[str, str] = {}
    for cls in inspect.getmro(target):  # the class and its bases from the same module, as the source reader sees
        if cls.__module__ != target.__module__:
            break
        own_init = cls.__dict__.get("__init__")
        for doc in (cls.__dict__.get("__doc__"), getattr(own_init, "__doc__", None)):
            helps = {**docstring_help(doc), **helps}
    return {name: Param(name, p.annotation, p.default, helps.get(name, ""))
            for name, p in list(signature.parameters.items())[skip + 1:]}


def parameter_defaults(target, skip: int = 0) -> dict:
    return {name: p.default for name, p in parameters(target, skip).items()}


SECTION = re.compile(r"(Args|Arguments|Parameters|Settings|Options):")
ENTRY = re.compile(r"(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)")


def docstring_help(doc: str | None) -> dict[str, str]:
    """Setting -> help line from a docstring's `Args:` section (`name: text` or `name (type): text`, a
    continuation indented further); the section ends at a line indented no more than its heading."""
    helps: dict[str, str] = {}
    if not isinstance(doc, str):
        return helps
    heading = entry = name = None
    for line in inspect.cleandoc(doc).splitlines():
        depth, text = len(line) - len(line.lstrip()), line.strip()
        if not text:
            continue
        if heading is not None and depth <= heading:
            heading = None
        if heading is None:
            if SECTION.fullmatch(text):
                heading, entry, name = depth, None, None
            continue
        entry = depth if entry is None else entry
        found = ENTRY.fullmatch(text)
        if depth == entry and found:
            name = found[1]
            helps[name] = found[2]
        elif name is not None and depth > entry:
            helps[name] = f"{helps[name]} {text}".strip()
    return helps


def source_parameters(lineage: list[ast.ClassDef | None], skip: int = 0,
                      options: bool = False) -> dict[str, Param] | None:
    """The settings a class declares, read from its source: `lineage` is the class and its bases as far as
    its module defines them (None marks a base from elsewhere). None where the source cannot say plainly
    (a default that is not a literal, a type that is not plain, a constructor defined elsewhere)."""
    if options:
        node = member(lineage, "Options", ast.ClassDef)
        if node is None or node.bases or [getattr(d, "id", None) for d in node.decorator_list] != ["dataclass"]:
            return None
        return read_fields(node)
    init = member(lineage, "__init__", ast.FunctionDef)
    if init is None:
        return None
    helps: dict[str, str] = {}
    for cls in lineage:  # help from the class and its bases in the same module, the class's own first
        if cls is None:
            break
        own_init = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
        for doc in (ast.get_docstring(cls), ast.get_docstring(own_init) if own_init else None):
            helps = {**docstring_help(doc), **helps}
    return read_init(init, skip, helps)


def member(lineage: list[ast.ClassDef | None], name: str, kind: type):
    """The first definition of `name` along a class's lineage, or None where it may come from elsewhere."""
    for cls in lineage:
        if cls is None:
            return None
        for stmt in cls.body:
            if isinstance(stmt, kind) and stmt.name == name:
                return stmt
    return None


def read_init(init: ast.FunctionDef, skip: int, helps: dict[str, str]) -> dict[str, Param] | None:
    args = init.args
    if args.posonlyargs or args.vararg or args.kwarg or args.kwonlyargs:
        return None
    defaults = [REQUIRED] * (len(args.args) - len(args.defaults)) + args.defaults
    params = {}
    try:
        for arg, default in list(zip(args.args, defaults, strict=True))[skip + 1:]:
            value = REQUIRED if default is REQUIRED else ast.literal_eval(default)
            params[arg.arg] = Param(arg.arg, kind_of(arg.annotation), value, helps.get(arg.arg, ""))
    except (ValueError, TypeError):
        return None
    return params


def read_fields(node: ast.ClassDef) -> dict[str, Param] | None:
    """The fields of a `@dataclass` (`x: int = 1` or `x: int = field(default=..., metadata={"help": ...})`)."""
    helps = docstring_help(ast.get_docstring(node))
    params = {}
    try:
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign):
                name, (default, help) = stmt.target.id, field_default(stmt.value)
                params[name] = Param(name, kind_of(stmt.annotation), default, help or helps.get(name, ""))
    except (ValueError, TypeError, AttributeError):
        return None
    return params


def field_default(value: ast.expr | None) -> tuple[object, str]:
    """A dataclass field's default and help text; ValueError for anything but a literal or `field(default=
    literal or REQUIRED, metadata={"help": text})`."""
    if value is None:
        return REQUIRED, ""
    if not (isinstance(value, ast.Call) and getattr(value.func, "id", None) == "field"):
        return ast.literal_eval(value), ""
    keywords = {k.arg: k.value for k in value.keywords}
    if value.args or not keywords.keys() <= {"default", "metadata"}:
        raise ValueError
    default = keywords.get("default")
    if default is None or getattr(default, "id", None) == "REQUIRED":
        default = REQUIRED
    else:
        default = ast.literal_eval(default)
    metadata = ast.literal_eval(keywords["metadata"]) if "metadata" in keywords else {}
    return default, metadata.get("help", "")


def kind_of(node: ast.expr | None):
    """An annotation of plain types (`int`, `float | None`) as the object it evaluates to; ValueError otherwise."""
    if isinstance(node, ast.Name) and node.id in TYPES:
        return TYPES[node.id]
    if isinstance(node, ast.Constant) and node.value is None:
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return kind_of(node.left) | kind_of(node.right)
    raise ValueError("not a plain type")


def suggest(name, known) -> str:
    """` (did you mean X?)` for the known name nearest a mistyped one, or nothing when none is near."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


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
