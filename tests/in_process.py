"""`seqmem ARGS` run by `main` in this process, from a folder, giving back what a subprocess would (exit code,
stdout, stderr): the tests that only need the command's logic start no interpreter of their own (the command
line's own exit path is pinned in test_cli)."""

import contextlib
import io
import types

from seqmem.cli import main


def seqmem_main(*args, cwd=None) -> types.SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or "."), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
