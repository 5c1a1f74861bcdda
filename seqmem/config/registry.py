"""Classes registered by name with a decorator (`@register_task("copy-memory")`) in a package's modules,
known without importing those modules.

The modules import PyTorch, which takes seconds to load; the command line lists the names, makes its
flags from the settings and refuses most mistakes without it. So the names, summaries and settings are
read from each module's source, and a module is imported only when one of its classes is used. What the
source does not say plainly (a default that is not a literal, a type other than int, float, str, bool or
None, a constructor inherited from another module) is read from the imported class instead.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property

from seqmem.config import user_code
from seqmem.config.settings import (
    UNREAD,
    ModuleClasses,
    Param,
    class_first_argument,
    first_argument,
    lineage,
    read_settings,
    settings_of,
    suggest,
)
from seqmem.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    """A registered class as its source declares it: None where only the class can tell."""

    module: str
    summary: str | None
    params: dict[str, Param] | None
    first: str | None = None  # the constructor's first argument after self, where the source says it


class Registry(Mapping):
    """Name -> class, importing the class's module on first use; `summary` and `params` need no import.

    A class declares its settings as keyword arguments of `__init__` after `skip` leading ones, or, with
    `options=True`, as the fields of its nested dataclass `Options`. Beside the package's own names: the
    names installed packages declare as entry points (group `seqmem.<kind>s`, e.g. `seqmem.models`), and
    any class by import path (`package.module:Class`, `file.py:Class`; see seqmem.config.user_code).
    """

    def __init__(self, package: str, decorator: str, kind: str, skip: int = 0, options: bool = False,
                 shared_help: dict[str, str] | None = None, also: tuple[str, ...] = ()):
        self.packages = (package, *also)  # the packages whose modules register classes
        self.package, self.decorator, self.kind, self.skip, self.options = package, decorator, kind, skip, options
        self.shared_help = shared_help or {}  # help for a setting several classes declare, written once
        self.classes: dict[str, type] = {}
        self.specs: dict[str, Entry] = {}  # classes by import path, read from source
        self.imported: dict[str, type] = {}  # classes by import path or entry point, once imported

    def register(self, name: str):
        """The class decorator that names a class and records it (run when its module is imported)."""

        def add(cls):
            cls.name = name
            self.classes[name] = cls
            return cls

        return add

    @cached_property
    def entries(self) -> dict[str, Entry]:
        entries = {}
        modules = [f"{package}.{info.name}" for package in self.packages
                   for info in pkgutil.iter_modules(importlib.import_module(package).__path__)]
        for module in modules:
            found = read_module(module, self.decorator, self.skip, self.options)
            if found is None:  # no source, or a registration the reader cannot follow
                importlib.import_module(module)
                found = {n: Entry(module, class_summary(c), None)
                         for n, c in self.classes.items() if c.__module__ == module}
            entries.update(found)
        for name, target in self.entry_points.items():
            entries.setdefault(name, self.read_spec(target))
        return entries

    @cached_property
    def entry_points(self) -> dict[str, str]:
        """Name -> `package.module:Class`, as installed packages declare them (`seqmem.models = {...}`)."""
        return {k: v for k, v in user_code.entry_points(f"seqmem.{self.kind}s").items() if user_code.is_import_path(v)}

    def read_spec(self, spec: str) -> Entry:
        """A class named by import path, as its source declares it (None where only the class can tell)."""
        found = user_code.read_source(spec)
        if found is None:
            return Entry(spec, None, None)
        node, classes = found
        summary = read_summary(node, classes)
        if summary is None and ast.get_docstring(node):  # a base of seqmem's (Task, say) sets no summary
            summary = ast.get_docstring(node, clean=False).split("\n")[0]
        lineage = settings_lineage(node, classes, self.options)
        return Entry(spec, summary, plainly(read_settings(lineage, self.skip, self.options)), first_argument(lineage))

    def known(self, name) -> str:
        """The name as config.json records it (a file by its absolute path), or a ConfigError that lists the names."""
        if isinstance(name, str) and (name in self.classes or name in self.entries):
            return name
        if user_code.is_import_path(name):
            return user_code.canonical(name)
        names = ", ".join(sorted(self))
        raise ConfigError(f"unknown {self.kind} {name!r}{suggest(name, self)}: choose one of {names} (see `seqmem {self.kind}s`), "
                          "or name your own class as package.module:Class or path/to/file.py:Class")

    def cls(self, name) -> type:
        """The class a name (a short name or an import path) stands for, imported."""
        return self[self.known(name)]

    def __getitem__(self, name: str) -> type:
        if name in self.imported:
            return self.imported[name]
        if name not in self.classes:
            target = self.entry_points.get(name, name)
            if user_code.is_import_path(target):
                cls = user_code.import_class(target)
                cls.name = name  # what config.json records, and what imports the class again
                self.imported[name] = cls
                return cls
            importlib.import_module(self.entries[name].module)
        return self.classes[name]

    def __iter__(self):
        return iter(n for n in {**self.entries, **self.classes} if not user_code.is_import_path(n))

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __contains__(self, name) -> bool:
        return name in self.classes or name in self.entries

    def entry(self, name: str) -> Entry | None:
        if name in self.entries:
            return self.entries[name]
        if user_code.is_import_path(name):
            if name not in self.specs:
                self.specs[name] = self.read_spec(name)
            return self.specs[name]
        return None

    def first_argument(self, name: str) -> str:
        """What the named class is built from: its constructor's first argument after self."""
        name = self.known(name)
        entry = self.entry(name)
        if entry is not None and entry.first is not None:
            return entry.first
        return class_first_argument(self[name])

    def summary(self, name: str) -> str:
        entry = self.entry(name)
        return entry.summary if entry is not None and entry.summary is not None else class_summary(self[name])

    def params(self, name: str) -> dict[str, Param]:
        """The settings `name` declares, typed, read from its source where that says them plainly (no import),
        else from the class; a setting without help of its own takes the registry's shared help."""
        name = self.known(name)
        entry = self.entry(name)
        if entry is not None and entry.params is not None:
            params = entry.params
        else:
            cls = self[name]
            params = settings_of(cls.Options) if self.options else settings_of(cls, skip=self.skip)
        return {k: p if p.help or k not in self.shared_help else replace(p, help=self.shared_help[k])
                for k, p in params.items()}


def class_summary(cls: type) -> str:
    return getattr(cls, "summary", "") or (cls.__doc__ or "").split("\n")[0]


def read_module(module: str, decorator: str, skip: int, options: bool) -> dict[str, Entry] | None:
    """The classes a module registers with `decorator`, read from its source; None if it cannot be read."""
    spec = importlib.util.find_spec(module)
    source = spec.loader.get_source(module) if spec and spec.loader else None
    if source is None:
        return None
    tree = ast.parse(source)
    classes = ModuleClasses(tree)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == decorator]
    entries = {}
    for node in classes.values():
        for call in node.decorator_list:
            if call in calls and len(call.args) == 1 and isinstance(call.args[0], ast.Constant):
                lineage = settings_lineage(node, classes, options)
                entries[call.args[0].value] = Entry(module, read_summary(node, classes),
                                                    plainly(read_settings(lineage, skip, options)), first_argument(lineage))
    return entries if len(entries) == len(calls) else None


def settings_lineage(node: ast.ClassDef, classes: dict, options: bool) -> list[ast.ClassDef | None]:
    """Where a class's settings are declared: its own lineage, or its nested `Options` dataclass's."""
    if not options:
        return lineage(node, classes)
    found = next((s for s in node.body if isinstance(s, ast.ClassDef) and s.name == "Options"), None)
    return [found] if found is not None and not found.bases else [None]


def plainly(params: dict[str, Param] | None) -> dict[str, Param] | None:
    """What the source declares, or None where only the imported class can say (a value left UNREAD)."""
    if params is None or any(UNREAD in (p.kind, p.default) for p in params.values()):
        return None
    return params


def read_summary(node: ast.ClassDef, classes: dict) -> str | None:
    """Its `summary` (a string, maybe a base's), else its docstring's first line; None where a base from
    another module may set it, or it is not a plain string."""
    for cls in lineage(node, classes):
        if cls is None:
            return None
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and [getattr(t, "id", None) for t in stmt.targets] == ["summary"]:
                if not (isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)):
                    return None
                if stmt.value.value:
                    return stmt.value.value
    return (ast.get_docstring(node, clean=False) or "").split("\n")[0]
