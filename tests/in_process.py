"""Running here what would otherwise start a process: `seqmem ARGS` by `main` (giving back what a subprocess
would: exit code, stdout, stderr), a sweep's points one after another (`InProcess`), and a run stopped as
Ctrl-C would stop it (`interrupted`). The tests that only need the command's logic, or what a sweep writes,
start no interpreter of their own; `seqmem_process` is for those whose subject is the process (the command
line's own exit path is pinned in test_cli, the process pool in test_sweep)."""

import contextlib
import io
import subprocess
import sys
import types

import pytest

from seqmem.cli import main
from seqmem.run import signals
from seqmem.run.experiment import run_experiment


def seqmem_main(*args, cwd=None) -> types.SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or "."), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def seqmem_process(*args, cwd=None, env=None, timeout=None) -> subprocess.CompletedProcess:
    """`seqmem ARGS` as a process of its own, for the tests whose subject is the process: its exit path, an
    import path or entry point seen from a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "seqmem.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


class InProcess:
    """A sweep backend that runs the points here, one after another: no worker to start (each would import
    PyTorch afresh), for tests about what a sweep writes, reports or refuses rather than about the pool."""

    def run(self, fn, jobs):
        for job in jobs:
            yield fn(job)


def interrupted(config: dict, out, monkeypatch, checks: int) -> None:
    """Run `config` into `out` until a stop is asked for at its `checks`-th look (as Ctrl-C would ask), then
    let runs go on again: the run left behind is what a resume starts from."""
    looks = []
    monkeypatch.setattr(signals, "requested", lambda: looks.append(1) or len(looks) == checks)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, out, progress=False, say=lambda *_: None)
    monkeypatch.setattr(signals, "requested", lambda: False)
