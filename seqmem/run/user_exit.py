"""User code that exits: `exit()`, `sys.exit(n)` or any SystemExit from a model, task or method seqmem calls
is named in one line (the class and the call) as a ConfigError, instead of ending the command as a silent
success (`sys.exit(0)`) or with a bare status. `os._exit` and signals end the process as before.
"""

from __future__ import annotations

import contextlib
import os
import sysconfig

from seqmem.config.user_code import ExitCalled, is_user_class

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def caller(error: SystemExit) -> str:
    """`Class.call` of the innermost user object on the exit's traceback (a frame whose `self` is an instance
    of a class from outside seqmem), else the innermost function outside seqmem and Python's own library."""
    library = sysconfig.get_paths()["stdlib"]
    frames, tb = [], error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        this = frame.f_locals.get("self")
        if this is not None and is_user_class(type(this)) and not type(this).__module__.startswith(("torch", "_site")):
            return f"{type(this).__name__}.{frame.f_code.co_name}"
    for frame in reversed(frames):
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith((PACKAGE, library)):
            return f"{frame.f_code.co_name} ({os.path.basename(path)})"
    return "user code"


def exit_line(error: SystemExit, what: str | None = None) -> str:
    code = error.code
    where = what or caller(error)
    return (f"{where} called exit({code!r}): a model, task or method must raise an exception, not exit the process; "
            "nothing after it ran (a run keeps its last checkpoint)")


@contextlib.contextmanager
def named_exits(what: str | None = None):
    """A SystemExit raised inside as a ConfigError naming the class and call (or `what`)."""
    try:
        yield
    except SystemExit as e:
        raise ExitCalled(exit_line(e, what)) from None
