"""The `seqmem` command (seqmem.cli.command): a module a verb, each with `add` (its subparser) and `run` (its work:
one call into the package, then printing); the settings' flags in config_flags, the shared parser in parser.

`main`, `build_parser` and `VERBS` load from seqmem.cli.command on first use, so that the verbs' modules,
which import this package's parser, never import a half-made package.
"""

import importlib

__all__ = ["VERBS", "build_parser", "main"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'seqmem.cli' has no attribute {name!r}")
    return getattr(importlib.import_module("seqmem.cli.command"), name)
