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

One reader, `read_settings`, reads them from the class's definition (its source, parsed: nothing is imported,
so the command line lists settings and makes its flags without PyTorch); `settings_of` reads an imported
class the same way and takes from the class only what its definition does not state plainly (a computed
default). `coerce` turns a flag's text or a Python value into the declared type or refuses it in a line
naming the setting; `suggest` names the nearest of the known names for a mistyped one.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import importlib.util
import inspect
import math
import re
import types
import typing
from dataclasses import dataclass, replace

from seqmem.errors import ConfigError

REQUIRED = inspect.Parameter.empty
UNREAD = type("Unread", (), {"__repr__": lambda self: "UNREAD"})()  # not stated plainly: the class's own value
TYPES = {"int": int, "float": float, "str": str, "bool": bool, "None": None}


@dataclass(frozen=True)
class Param:
    name: str
    kind: object  # the annotation: int, float, str, bool, or a union with None
    default: object = REQUIRED
    help: str = ""

    def evaluated(self, kind, default) -> Param:
        """This setting with what its definition left UNREAD taken from the class's evaluated values."""
        return replace(self, kind=kind if self.kind is UNREAD else self.kind,
                       default=default if self.default is UNREAD else self.default)

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


def settings_of(cls, skip: int = 0) -> dict[str, Param]:
    return dict(read_class(cls, skip))


@functools.cache  # a class's settings do not change; TrainConfig reads its own on every instance
def read_class(cls, skip: int) -> dict[str, Param]:
    """The typed settings a class declares: a dataclass's fields, or its constructor's keyword arguments after
    `skip` leading ones. Read from its definition (`read_settings`), as a registry reads a class it has not
    imported; what the definition does not state plainly (a computed default, a type that is not plain)
    is the class's own value. A class with no source (made in `exec`, say) is read from its signature alone."""
    evaluated = evaluated_settings(cls, skip)
    definition = definition_of(cls)
    read = read_settings(definition, skip, dataclasses.is_dataclass(cls)) if definition else None
    if read is None or read.keys() != evaluated.keys():  # no source, or a constructor from elsewhere
        helps = {**docstring_help(cls.__doc__), **field_helps(cls)}
        read = {name: Param(name, UNREAD, UNREAD, helps.get(name, "")) for name in evaluated}
    return {name: param.evaluated(*evaluated[name]) for name, param in read.items()}


def parameter_defaults(cls, skip: int = 0) -> dict:
    return {name: p.default for name, p in settings_of(cls, skip).items()}


def evaluated_settings(cls, skip: int) -> dict[str, tuple]:
    """Setting -> (annotation, default) as Python evaluates them, for what the definition cannot say."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return {f.name: (hints[f.name], REQUIRED if f.default is dataclasses.MISSING else f.default)
                for f in dataclasses.fields(cls) if f.init}
    signature = inspect.signature(cls.__init__, eval_str=True)
    return {name: (p.annotation, p.default) for name, p in list(signature.parameters.items())[skip + 1:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def field_helps(cls) -> dict[str, str]:
    if not dataclasses.is_dataclass(cls):
        return {}
    return {f.name: f.metadata["help"] for f in dataclasses.fields(cls) if f.metadata.get("help")}


def definition_of(cls) -> list[ast.ClassDef | None] | None:
    """The class's definition and its bases' as far as its module defines them, parsed from its module's
    source; None where there is no source."""
    try:
        source = inspect.getsource(inspect.getmodule(cls))
    except (OSError, TypeError):
        return None
    classes = ModuleClasses(ast.parse(source))
    node = classes.get(cls.__qualname__)
    if node is None and "." in cls.__qualname__:  # a nested class (a method's Options): find it in its owner
        owner, _, name = cls.__qualname__.rpartition(".")
        outer = classes.get(owner.split(".")[0])
        node = next((n for n in ast.walk(outer) if isinstance(n, ast.ClassDef) and n.name == name), None) if outer else None
    return lineage(node, classes) if node is not None else None


class ModuleClasses(dict):
    """A module's top-level classes by name, parsed from its source; a base it imports from one of seqmem's own
    modules (`from seqmem.models.backbone import Backbone`) is read from that module's source when asked for,
    so a class inherits its base's help without anything being imported."""

    def __init__(self, tree: ast.Module):
        super().__init__((n.name, n) for n in tree.body if isinstance(n, ast.ClassDef))
        self.imported = {alias.asname or alias.name: (node.module, alias.name) for node in tree.body
                         if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("seqmem.")
                         for alias in node.names}

    def base(self, name: str) -> tuple[ast.ClassDef, ModuleClasses] | None:
        if name in self:
            return self[name], self
        if name not in self.imported:
            return None
        module, cls = self.imported[name]
        classes = module_classes(module)
        return classes.base(cls) if classes is not None else None


@functools.cache  # every task module's base (Task, SampledTask) is read once, not once a module
def module_classes(module: str) -> ModuleClasses | None:
    """One of seqmem's own modules' classes, parsed from its source (nothing imported but its packages)."""
    try:
        found = importlib.util.find_spec(module)
        source = found.loader.get_source(module) if found and found.loader else None
    except (ImportError, ValueError):
        return None
    return ModuleClasses(ast.parse(source)) if source else None


# Bases known to declare nothing a registry reads (no settings of a model's, no `summary`): a mixer is a plain
# torch.nn.Module, and its lineage ends there rather than at a base the reader cannot see into.
PLAIN_BASES = {"object", "Module", "nn.Module", "torch.nn.Module"}


def lineage(node: ast.ClassDef, classes: ModuleClasses) -> list[ast.ClassDef | None]:
    """The class and its bases in method resolution order as far as their source can be read (this module's
    classes, and seqmem's own a module imports); None marks a base from elsewhere, past which it cannot say."""
    out = [node]
    for base in node.bases:
        if ast.unparse(base) in PLAIN_BASES:
            continue
        found = classes.base(getattr(base, "id", None))
        out += lineage(*found) if found else [None]
    return out


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


def read_settings(lineage: list[ast.ClassDef | None], skip: int = 0,
                  fields: bool = False) -> dict[str, Param] | None:
    """The one reader of a class's settings: from its definition (`lineage`, the class and its bases as far as
    its module defines them, None marking a base from elsewhere), the fields of a dataclass (`fields`) or the
    keyword arguments of its constructor after `skip` leading ones, each with its help from an `Args:`
    section of the class's, its constructor's or a base's docstring. Nothing is imported, so listings and
    flags need no PyTorch. What is not stated plainly (a computed default, a type other than int, float, str,
    bool, None and their unions) is UNREAD, for the class itself to say (`settings_of`). None where the
    constructor is defined elsewhere."""
    helps: dict[str, str] = {}
    for cls in lineage:  # the class's own help first
        if cls is None:
            break
        own_init = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
        for doc in (ast.get_docstring(cls), ast.get_docstring(own_init) if own_init else None):
            helps = {**docstring_help(doc), **helps}
    if fields:
        return None if lineage[0] is None else read_fields(lineage[0], helps)
    init = member(lineage, "__init__", ast.FunctionDef)
    return None if init is None else read_arguments(init, skip, helps)


def first_argument(lineage: list[ast.ClassDef | None]) -> str | None:
    """The name of a constructor's first argument after `self` (what it is built from: a model's `task`, a
    mixer's `d_model` or `dim`), read from its definition; None where the definition does not say."""
    init = member(lineage, "__init__", ast.FunctionDef)
    if init is None:
        return None
    args = [*init.args.posonlyargs, *init.args.args][1:] or init.args.kwonlyargs
    return args[0].arg if args else ""


def class_first_argument(cls) -> str:
    """The same, of an imported class, from its signature."""
    params = [p for p in inspect.signature(cls.__init__).parameters.values()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)][1:]
    return params[0].name if params else ""


def member(lineage: list[ast.ClassDef | None], name: str, kind: type):
    """The first definition of `name` along a class's lineage, or None where it may come from elsewhere."""
    for cls in lineage:
        if cls is None:
            return None
        for stmt in cls.body:
            if isinstance(stmt, kind) and stmt.name == name:
                return stmt
    return None


def read_arguments(init: ast.FunctionDef, skip: int, helps: dict[str, str]) -> dict[str, Param]:
    """A constructor's keyword arguments after `self` and `skip` more; `*args` and `**kwargs` are no settings."""
    args = init.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + args.defaults
    named = list(zip(positional, defaults, strict=True))[len(args.posonlyargs):]
    named = named[max(skip + 1 - len(args.posonlyargs), 0):] + list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    return {arg.arg: Param(arg.arg, plain_kind(arg.annotation), plain_value(default), helps.get(arg.arg, ""))
            for arg, default in named}


def read_fields(node: ast.ClassDef, helps: dict[str, str]) -> dict[str, Param]:
    """A dataclass's fields: `x: int = 1`, or `x: int = field(default=..., metadata={"help": ...})` (or a helper
    called the same way, `setting(default, help)`), help from `metadata` or the docstring."""
    params = {}
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id
            default, help = field_default(stmt.value)
            params[name] = Param(name, plain_kind(stmt.annotation), default, help or helps.get(name, ""))
    return params


def field_default(value: ast.expr | None) -> tuple[object, str]:
    """A field's default and help text as written: a literal, `field(default=..., metadata={"help": ...})` or
    `setting(default, help)`; UNREAD for anything else."""
    if value is None:
        return REQUIRED, ""
    if not isinstance(value, ast.Call):
        return plain_value(value), ""
    keywords = {k.arg: k.value for k in value.keywords}
    if getattr(value.func, "id", None) == "setting" and len(value.args) == 2 and not keywords:
        return plain_value(value.args[0]), plain_value(value.args[1], "")
    if getattr(value.func, "id", None) != "field" or value.args:
        return UNREAD, ""
    default = keywords.get("default")
    if "default_factory" in keywords:
        return UNREAD, ""
    default = REQUIRED if default is None or getattr(default, "id", None) == "REQUIRED" else plain_value(default)
    metadata = plain_value(keywords["metadata"], {}) if "metadata" in keywords else {}
    return default, metadata.get("help", "") if isinstance(metadata, dict) else ""


def plain_value(node: ast.expr | None, otherwise=UNREAD):
    """A default written as a literal; REQUIRED where there is none; `otherwise` where it is computed."""
    if node is None:
        return REQUIRED
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return otherwise


def plain_kind(node: ast.expr | None):
    """An annotation of plain types (`int`, `float | None`) as the object it evaluates to; UNREAD otherwise."""
    try:
        return kind_of(node)
    except ValueError:
        return UNREAD


def kind_of(node: ast.expr | None):
    if isinstance(node, ast.Name) and node.id in TYPES:
        return TYPES[node.id]
    if isinstance(node, ast.Constant) and node.value is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation: "int | None"
        return kind_of(ast.parse(node.value, mode="eval").body)
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
