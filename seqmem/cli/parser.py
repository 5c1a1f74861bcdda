"""The parser every verb builds on, and the small helpers the verbs share: a mistake is a ConfigError (one
line, exit 2), never argparse's usage and exit; the flags a parser takes are recorded, for the nearest one
to a mistyped flag."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from seqmem.config.settings import suggest
from seqmem.errors import ConfigError
from seqmem.run.threads import set_threads


class Parser(argparse.ArgumentParser):
    """argparse's parser with mistakes raised as ConfigError, no abbreviations (--lev must not quietly mean
    --levels), and `flags`: every option string added to it or to its groups."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        self.flags: set[str] = set()  # before argparse's own constructor adds --help
        self.verbs: dict[str, Parser] = {}  # a verb's name -> its parser (see `add_verb`)
        super().__init__(*args, **kwargs)

    def add_argument(self, *names, **kwargs):
        self.flags.update(n for n in names if n.startswith("-"))
        return super().add_argument(*names, **kwargs)

    def add_argument_group(self, *args, **kwargs):
        group = super().add_argument_group(*args, **kwargs)
        add = group.add_argument

        def recorded(*names, **options):
            self.flags.update(n for n in names if n.startswith("-"))
            return add(*names, **options)

        group.add_argument = recorded
        return group

    def error(self, message):
        choice = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)", message)
        if choice:  # a mistyped verb
            message += suggest(choice[1], re.findall(r"'(.*?)'", choice[2]))
        raise ConfigError(message)

    def unrecognized(self, extra: list[str]) -> ConfigError:
        """The refusal of arguments no flag takes, with the nearest flag for a mistyped one."""
        options = [o for o in self.flags if o.startswith("--")]
        near = next((suggest(t.partition("=")[0], options) for t in extra if t.startswith("--")), "")
        return ConfigError(f"unrecognized arguments: {' '.join(extra)}{near}")


def add_verb(parser: Parser, verbs, name: str, **kwargs) -> Parser:
    """A verb's subparser, recorded in the root parser's `verbs`."""
    parser.verbs[name] = verbs.add_parser(name, **kwargs)
    return parser.verbs[name]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_sweep_flags(parser: argparse.ArgumentParser, out_help: str) -> None:
    parser.add_argument("--workers", type=int, default=2, help="points run at once, one thread each (default 2)")
    parser.add_argument("--backend", default="process", help="process (a local process pool, default) or ray")
    parser.add_argument("--address", help="with --backend ray: a running cluster to join (default: a local Ray)")
    parser.add_argument("--out", help=out_help)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def split_values(what: str, text: str) -> list[str]:
    values = [v.strip() for v in text.split(",")]
    if not text.strip() or any(not v for v in values):
        raise ConfigError(f"{what}: give one or more comma-separated values, got {text!r}")
    return values


def set_item(item: str) -> tuple[str, str]:
    """One `--set KEY=VALUE` as `(key, text)`."""
    key, eq, text = item.partition("=")
    if not eq:
        raise ConfigError(f"--set needs KEY=VALUE, got {item!r}")
    return key, text


MAX_SEEDS = 10_000  # a run a seed: more could never be trained, and a range of 10**30 cannot even be listed


def check_count(name: str, value: int | None, maximum: int | None = None) -> None:
    if value is not None and value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value}")
    if value is not None and maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")


def is_file(path: str) -> bool:
    """Whether `path` is a file; a name too long to be one is not."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def is_dir(path: str) -> bool:
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


def use_threads(threads: int) -> None:
    """PyTorch's CPU threads (0 keeps its default), set by the commands that compute, once their arguments are
    checked: setting them imports PyTorch, which listings, help and refused commands do without."""
    set_threads(threads)  # what training runs on (seqmem.run.threads)
    if threads:
        import torch  # here, not at the top: listings, help and refused commands run without PyTorch

        torch.set_num_threads(threads)
