"""The flags that make a config, generated from the settings' declarations and grouped by owner, and what
the parsed flags say back: the names given and the settings `(key, text, label)` that seqmem.config.compose
puts into a config in one call.

Task, model and method settings are flags of their own (`--blank 1000 --levels 8 --chunk-length 20`),
shown in `--help` under the task, model or method that owns them, with their help and default; `--set
key=value` sets anything (`task.blank=1000`, `train.lr=1e-3`, `levels=8`). The classes the command line
names by import path are found before parsing (`named_in`), so their settings are flags too.
"""

from __future__ import annotations

import argparse

from seqmem.cli.parser import Parser, flag, set_item
from seqmem.config.compose import REGISTRIES, section_params
from seqmem.config.settings import Param
from seqmem.config.user_code import is_import_path, label
from seqmem.errors import ConfigError

SECTIONS = ("method", "task", "model")  # the order of their flag groups in --help, after training


def owned_settings(named: dict[str, list[str]], only: dict[str, list[str]] | None = None) -> dict[str, list]:
    """Setting -> `[(section, owner, Param), ...]` for every registered task, model and method and the classes
    `named` by import path, or with `only` just the ones it names (a section it leaves empty keeps all);
    training's own settings are left to the training group."""
    skip = {*section_params("train"), "allow_short_receptive_field", "task"}
    owned: dict[str, list] = {}
    for section in SECTIONS:
        names = (only or {}).get(section) or [*REGISTRIES[section], *named.get(section, [])]
        for name in dict.fromkeys(names):
            try:
                params = section_params(section, name)
            except ConfigError:
                continue  # a class that cannot be read is refused, with its reason, when the config is made
            for key, param in params.items():
                if key not in skip:
                    owned.setdefault(key, []).append((section, label(name), param))
    return owned


def owners_title(owners: tuple) -> str:
    """`model gru, lstm, rnn`, `every task`, or `task a; model b` for a setting of several kinds."""
    parts = []
    for section in SECTIONS:
        names = sorted({n for s, n in owners if s == section})
        if names:
            every = len(names) > 2 and set(names) >= set(REGISTRIES[section])
            parts.append(f"every {section}" if every else f"{section} {', '.join(names)}")
    return "; ".join(parts)


def shared_help(entries: list) -> str:
    """One help line for a setting several owners declare: their help and default once where they agree,
    otherwise each owner's."""
    by_help: dict[str, list] = {}
    for _, name, param in entries:
        by_help.setdefault(param.help, []).append((name, param))
    lines = []
    for help, owned in by_help.items():
        defaults: dict[str, list[str]] = {}
        for name, param in owned:
            defaults.setdefault(param.default_text(), []).append(name)
        if len(defaults) == 1:
            text = owned[0][1].described()
        else:
            text = f"{help} (default " + "; ".join(f"{d} for {', '.join(n)}" for d, n in defaults.items()) + ")"
        lines.append(text if len(by_help) == 1 else f"{', '.join(n for n, _ in owned)}: {text}")
    return "; ".join(lines)


def metavar(param: Param) -> str:
    return "|".join(k.upper() for k in param.type_text().split(" | "))


def add_config_flags(parser: Parser, named: dict[str, list[str]], shown: dict | None = None) -> None:
    """The flags that make a config: a recipe, the method, training settings, each task's, model's and
    method's settings in a group named by its owners, --set. With `shown` (the names --help narrows to),
    the settings of other owners are still accepted but not listed."""
    parser.add_argument("--recipe", help="start from a recipe's settings (a name from `seqmem recipes`, or a .toml "
                                         "file of your own); flags override them")
    parser.add_argument("--method", help="bptt (default), tbptt (with --chunk-length) or target-prop")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any setting, e.g. task.blank=100 or method.noise=0.05")
    parser.add_argument("--allow-short-receptive-field", action="store_true", default=None,
                        help="train a model that cannot see the whole span anyway")
    group = parser.add_argument_group("training", "every run's settings (seqmem.TrainConfig)")
    for name, param in section_params("train").items():
        group.add_argument(flag(name), dest="train." + name, metavar=metavar(param), default=None,
                           help=param.described())
    every = owned_settings(named)
    listed = owned_settings(named, shown) if shown else every
    groups: dict[tuple, list[str]] = {}
    for name, entries in listed.items():
        groups.setdefault(tuple(sorted({(s, n) for s, n, _ in entries})), []).append(name)
    order = sorted(groups, key=lambda o: (SECTIONS.index(o[0][0]), -len(o), o))
    titled = {owners: parser.add_argument_group(owners_title(owners)) for owners in order}
    for name in [*listed, *(n for n in every if n not in listed)]:
        if flag(name) in parser.flags:
            continue  # a user's class whose setting is named like a flag of seqmem's: --set it
        if name in listed:
            owners = tuple(sorted({(s, n) for s, n, _ in listed[name]}))
            titled[owners].add_argument(flag(name), dest="param." + name, metavar=metavar(listed[name][0][2]),
                                        default=None, help=shared_help(listed[name]))
        else:
            parser.add_argument(flag(name), dest="param." + name, default=None, help=argparse.SUPPRESS)


def named_in(argv: list[str]) -> dict[str, list[str]]:
    """The tasks, models and methods the command line names, by section: the values of --model(s),
    --method(s) and `--over model.name=...`, and any other word that is a task's name or an import path (a
    task, unless a flag said otherwise). The classes named by import path get flags of their own; `--help`
    shows only the settings of the ones named."""
    named: dict[str, list[str]] = {"task": [], "model": [], "method": []}
    for i, token in enumerate(argv):
        option, eq, value = token.partition("=") if token.startswith("--") else ("", "", token)
        if option and not eq:
            continue
        before = option or (argv[i - 1] if i else "")
        section = {"--model": "model", "--models": "model", "--method": "method", "--methods": "method"}.get(before)
        if before == "--over":
            section, _, value = value.partition("=")
            section = section.split(".")[0] if section.endswith(".name") else None
        elif before.startswith("-") and section is None:
            continue  # another flag's value
        for part in value.split(","):
            if is_import_path(part) or part in REGISTRIES[section or "task"]:
                named[section or "task"].append(part)
    return named


def given_names(args, task: str | None) -> dict:
    """The task, model and method the flags name (None where they name none)."""
    return {"task": task, "model": getattr(args, "model", None), "method": args.method}


def given_settings(args) -> list[tuple[str, str, str]]:
    """Every setting the flags give, `(key, text, label)`, in order: training's flags, the task's, model's and
    method's own flags, then each --set; and --allow-short-receptive-field."""
    given = {k: v for k, v in vars(args).items() if v is not None and k.startswith(("train.", "param."))}
    settings = [(k, v, flag(k.split(".", 1)[1])) for k, v in given.items() if k.startswith("train.")]
    settings += [(k.split(".", 1)[1], v, flag(k.split(".", 1)[1])) for k, v in given.items() if k.startswith("param.")]
    settings += [(key, text, f"--set {key}") for key, text in map(set_item, args.set)]
    if args.allow_short_receptive_field:
        settings.append(("allow_short_receptive_field", True, "--allow-short-receptive-field"))
    return settings
