"""Classes named by import path: `package.module:Class` or `path/to/file.py:Class`, beside the short names.

A user's model, task or method is named where a built-in one is (flags, recipes, sweep files, the Python
API). A file is named by its absolute path in config.json, with the SHA-256 of its contents, so a worker,
a resumed run or `seqmem.load` imports the same code again and can tell when the file has changed. A
dotted name must be importable wherever it runs (installed, or on `sys.path`; the current folder is tried
last, as `python -m` would).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import importlib.util
import os
import stat
import sys
from pathlib import Path

from seqmem.config.settings import ModuleClasses
from seqmem.errors import ConfigError


class ExitCalled(ConfigError):
    """A user's class called exit() (SystemExit) where seqmem called it: named in one line, never taken as a
    failed check or a silent success."""


def is_import_path(name) -> bool:
    return isinstance(name, str) and ":" in name


def split(spec: str) -> tuple[str, str]:
    """`(module or file, class)`, refusing a spec with either part empty."""
    where, _, cls = spec.rpartition(":")
    if not where or not cls.isidentifier():
        raise ConfigError(f"{spec!r} is not an import path: write package.module:Class or path/to/file.py:Class")
    return where, cls


def is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def label(name: str) -> str:
    """A short name for tables and folder names: the class's name for an import path."""
    return split(name)[1] if is_import_path(name) else name


def canonical(spec: str) -> str:
    """The spec as config.json records it: a file by its absolute path (so any worker finds it)."""
    where, cls = split(spec)
    if not is_file(where):
        return spec
    path = Path(where).expanduser()
    if not path.is_file():
        raise ConfigError(f"{spec}: no file {where} (give the path of a .py file, then :Class)")
    return f"{path.resolve()}:{cls}"


def source_file(spec: str) -> Path | None:
    where, _ = split(spec)
    return Path(where) if is_file(where) else None


def digest(path: Path) -> str:
    """The SHA-256 of a source file, read in blocks; a FIFO or device is refused rather than read forever."""
    found = hashlib.sha256()
    try:
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK)) as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ConfigError(f"{path} is not a regular file: name a .py file")
            for block in iter(lambda: f.read(2**20), b""):
                found.update(block)
    except OSError as e:
        raise ConfigError(f"{path} cannot be read ({e.strerror}): restore it, or name another file") from None
    return found.hexdigest()


def local_imports(path: Path) -> list[Path]:
    """The files of `path`'s folder that it imports, and those they import, read from source (nothing run): a
    researcher's `from mixers import Attention` beside the named file. Recorded with the named file, so an
    edited sibling is caught on resume and checked before a received run imports anything."""
    folder, found, todo = path.parent, [], [path]
    while todo:
        try:
            tree = ast.parse(todo.pop().read_text())
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                base = folder.joinpath(*name.split("."))
                for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                    if candidate.is_file() and candidate.resolve() != path.resolve() and candidate not in found:
                        found.append(candidate)
                        todo.append(candidate)
    return found


def changed_sources(recorded: dict, now: dict) -> list[str]:
    """The files (path -> SHA-256) whose contents now differ from what a config recorded."""
    return [path for path, sha in recorded.items() if now.get(path, sha) != sha]


def module_name(path: Path) -> str:
    """A module name of the file's own, stable for its path, so two files called model.py do not collide."""
    return f"seqmem_user.{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"


@contextlib.contextmanager
def process_settings_kept():
    """PyTorch's thread count and default dtype as they were, whatever a module sets when imported: a
    user's `torch.set_num_threads(8)` or `set_default_dtype(torch.float64)` at the top of a file would
    otherwise change them for the Python caller that loaded a run (seqmem.run.threads keeps the rest)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if torch.get_default_dtype() != dtype:
            torch.set_default_dtype(dtype)


def import_module(spec: str):
    """The module a spec names, imported (a file under a name of its own); any error it raises in one line."""
    with process_settings_kept():
        return imported(spec)


def imported(spec: str):
    where, _ = split(spec)
    try:
        if is_file(where):
            path = Path(where)
            name = module_name(path)
            if name in sys.modules:
                return sys.modules[name]
            if str(path.parent) not in sys.path:  # as a script would, so a sibling file imports by its name
                sys.path.insert(0, str(path.parent))
            loader_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module  # before running it: a dataclass in the file looks its module up
            try:
                loader_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            return module
        try:
            return importlib.import_module(where)
        except ModuleNotFoundError as e:
            if e.name != where.split(".")[0] or os.getcwd() in sys.path:
                raise
            sys.path.append(os.getcwd())
            return importlib.import_module(where)
    except ConfigError:
        raise
    except (Exception, SystemExit) as e:  # the user's code: whatever it raises is named in one line
        text = " ".join(str(e).split())
        raise ConfigError(f"{spec}: {where} does not import ({type(e).__name__}: {text})") from None


def import_class(spec: str) -> type:
    module = import_module(spec)
    where, name = split(spec)
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__)
        raise ConfigError(f"{spec}: {where} has no {name}" + (f"; its classes: {', '.join(found)}" if found else ""))
    cls = getattr(module, name)
    if not isinstance(cls, type):
        raise ConfigError(f"{spec}: {name} is a {type(cls).__name__}, not a class")
    return cls


def entry_points(group: str) -> dict[str, str]:
    """Name -> value of the entry points installed packages declare in `group`, read from the
    `entry_points.txt` of each `*.dist-info` / `*.egg-info` on `sys.path` (first found wins, as for imports).

    `importlib.metadata` reads the same files, but importing it and building every distribution takes
    about 33 ms, a quarter of the command line's start-up; this takes about 1 ms."""
    found: dict[str, str] = {}
    for folder in sys.path:
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                text = Path(folder or ".", name, "entry_points.txt").read_text()
            except OSError:
                continue
            section = None
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("[") and line.endswith("]"):
                    section = line[1:-1].strip()
                elif section == group and "=" in line and not line.startswith(("#", ";")):
                    key, _, value = line.partition("=")
                    found.setdefault(key.strip(), value.split("[")[0].strip())
    return found


def read_source(spec: str) -> tuple[ast.ClassDef, dict] | None:
    """The class's definition and its module's classes, parsed from source without importing anything
    heavy; None where the source cannot be found or the class is not defined at its top level."""
    where, name = split(spec)
    try:
        if is_file(where):
            source = Path(where).read_text()
        else:
            found = importlib.util.find_spec(where)
            source = found.loader.get_source(where) if found and found.loader else None
        tree = ast.parse(source) if source is not None else None
    except (Exception, SystemExit):
        return None
    if tree is None:
        return None
    classes = ModuleClasses(tree)
    return (classes[name], classes) if name in classes else None


def is_user_class(cls: type) -> bool:
    """A class from outside seqmem (by import path, an entry point, or registered in user code)."""
    return not cls.__module__.startswith("seqmem.")


def construct(what: str, cls: type, *args, **params):
    """`cls(*args, **params)`; a user's class that raises is refused in one line naming it."""
    if not is_user_class(cls):
        return cls(*args, **params)
    try:
        return cls(*args, **params)
    except ConfigError as e:
        raise ConfigError(f"{what}: {e}") from None
    except Exception as e:
        raise ConfigError(f"{what}: its constructor raised {type(e).__name__}: {' '.join(str(e).split())}") from None
    except SystemExit as e:  # exit() in a constructor would end the command as a silent success
        raise ExitCalled(f"{what}: its constructor ({cls.__name__}.__init__) called exit({e.code!r}): a class must "
                          "raise an exception, not exit the process") from None
