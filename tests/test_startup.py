"""Start-up: listings, help and refused commands import no PyTorch, and the registries read from source agree
with the classes they name."""

import importlib
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seqmem.config.registry import Registry, class_summary
from seqmem.config.settings import settings_of
from seqmem.models import MODELS
from seqmem.tasks import TASKS
from seqmem.training.methods import METHODS

CHECK = """
import sys, seqmem.cli
try:
    code = seqmem.cli.main({args!r})
except SystemExit as e:
    code = e.code
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "numpy")))
assert not loaded, loaded
sys.exit(code)
"""


def run_without_torch(args, tmp_path):
    return subprocess.run([sys.executable, "-c", CHECK.format(args=args)], capture_output=True, text=True, cwd=tmp_path)


MIN_GRU = str(Path(__file__).resolve().parents[1] / "examples" / "min_gru.py") + ":MinGRU"


@pytest.mark.parametrize("args", [["--help"], ["tasks"], ["models"], ["methods"], ["recipes"], ["train", "--help"],
                                  ["models", "tcn"], ["models", MIN_GRU], ["train", "--model", MIN_GRU, "--help"]])
def test_listings_and_help_import_no_torch(args, tmp_path):
    done = run_without_torch(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout


@pytest.mark.parametrize("args,expected", [
    (["train", "--task", "nope"], "unrecognized arguments: --task"),
    (["train", "--steps", "-1"], "name a task"),
    (["train", "copy-memory", "--model", "tcn", "--steps", "-1"], "steps must be an integer >= 1, got -1"),
    (["train", "copy-memory", "--model", "tcn", "--levels", "x"], "--levels: expected an integer, got 'x'"),
    (["train", "copy-memory", "--model", "tcn", "--hidden", "3"], "no setting 'hidden'"),
    (["train", "nope", "--model", "tcn"], "unknown task 'nope'"),
    (["train", "copy-memory", "--model", "tcn", "--method", "tbptt"], "method tbptt needs --chunk-length"),
    (["--threads", "99", "tasks"], "--threads must be in 0.."),
    (["frobnicate"], "invalid choice"),
    (["suite", "nope"], "unknown suite 'nope': choose one of quick"),
    (["models", "tnc"], "did you mean tcn?"),
])
def test_a_refused_command_imports_no_torch_and_writes_nothing(args, expected, tmp_path):
    done = run_without_torch(args, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and expected in done.stderr
    assert not list(tmp_path.iterdir())


def test_the_public_api_loads_torch_only_for_what_needs_it():
    code = textwrap.dedent("""
        import sys, seqmem
        config = seqmem.make_config({"task": {"name": "copy-memory", "blank": 5}, "model": {"name": "tcn"},
                                     "train": {"steps": 3}})
        seqmem.TrainConfig(steps=2)
        assert "torch" not in sys.modules
        task = seqmem.make_task("copy-memory", blank=5)
        model = seqmem.make_model("tcn", task, levels=4, kernel_size=2)
        assert "torch" in sys.modules and model.name == "tcn" and callable(seqmem.train)
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("registry", [TASKS, MODELS, METHODS], ids=["tasks", "models", "methods"])
def test_what_the_source_declares_is_what_the_classes_say(registry):
    """Every registered class is read from its source alone (no fallback to importing it), and the names,
    summaries and settings read agree with the imported classes'."""
    declared = dict(registry.entries)
    for package in registry.packages:
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
            importlib.import_module(f"{package}.{info.name}")
    assert set(declared) == set(registry.classes)
    for name, cls in registry.classes.items():
        assert declared[name].params is not None, f"{name}: its settings are not plain literals and types"
        assert declared[name].params == (settings_of(cls.Options) if registry.options else settings_of(cls, skip=registry.skip))
        assert declared[name].summary is not None and declared[name].summary == class_summary(cls)


def test_what_the_source_does_not_say_plainly_is_read_from_the_class(tmp_path, monkeypatch):
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "__init__.py").write_text("from seqmem.config.registry import Registry\nTHINGS = Registry(__name__, 'register', 'thing')\n"
                                         "register = THINGS.register\n")
    (package / "things.py").write_text(textwrap.dedent('''
        import math
        from plugins import register

        @register("plain")
        class Plain:
            """A plain one."""
            def __init__(self, size: int = 3, rate: float | None = None):
                pass

        @register("computed")
        class Computed(dict):
            summary = "a default " + "computed at import"
            def __init__(self, angle: float = math.pi / 2):
                pass
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    things = importlib.import_module("plugins").THINGS
    assert sorted(things) == ["computed", "plain"] and "plugins.things" not in sys.modules
    assert things.summary("plain") == "A plain one." and list(things.params("plain")) == ["size", "rate"]
    assert things.params("plain")["rate"].kind == float | None
    assert "plugins.things" not in sys.modules
    assert things.params("computed")["angle"].default == pytest.approx(1.5707963)  # imported to read it
    assert things.summary("computed") == "a default computed at import"
    assert "plugins.things" in sys.modules and things["plain"].name == "plain"
    assert isinstance(things, Registry)
