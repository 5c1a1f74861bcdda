"""`seqmem tasks | models | methods [NAME]` and `seqmem recipes`: what exists, one line each, or one class's
settings: flag, type, default and help."""

from __future__ import annotations

import shutil
import textwrap

from seqmem.cli.parser import Parser, add_verb, flag
from seqmem.config.compose import REGISTRIES, section_params
from seqmem.recipes import load_recipe, recipe_names


def add(parser: Parser, verbs) -> None:
    for kind, section in (("tasks", "task"), ("models", "model"), ("methods", "method")):
        listing = add_verb(
            parser, verbs, kind, help=f"list the {kind}, or show one's settings",
            description=f"Without NAME, the {kind}, one line each. With NAME (a short name, or your own class as "
                        f"path/to/file.py:Class or package.module:Class), its settings: flag, type, default, help.")
        listing.add_argument("name", nargs="?", metavar="NAME", help=f"a {section}: show its settings")
        listing.set_defaults(run=run, section=section)
    add_verb(parser, verbs, "recipes", help="list the recipes (named experiments)").set_defaults(run=run_recipes)


def run(args) -> None:
    registry = REGISTRIES[args.section]
    if args.name is None:
        print("\n".join(f"{name:<28} {registry.summary(name)}" for name in sorted(registry)))
    else:
        print(settings_text(registry, args.section, args.name))


def settings_text(registry, section: str, name: str) -> str:
    """A class's settings, one a line: flag, type, default and help, wrapped to the terminal."""
    known = registry.known(name)  # an unknown name is refused with the nearest one
    params = section_params(section, known)
    lines = [f"{section} {name}: {registry.summary(known)}"]
    if not params:
        lines.append("  no settings of its own (the training settings apply: seqmem train --help)")
        return "\n".join(lines)
    rows = [(flag(p.name), p.type_text(), p.default_text(), p.help) for p in params.values()]
    widths = [max(len(r[i]) for r in rows + [("flag", "type", "default", "")]) for i in range(3)]
    indent = 2 + sum(widths) + 6
    width = max(shutil.get_terminal_size().columns, indent + 40)
    lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(("flag", "type", "default"), widths, strict=True)) + "  help")
    for row in rows:
        start = "  " + "  ".join(v.ljust(w) for v, w in zip(row[:3], widths, strict=True)) + "  "
        wrapped = textwrap.wrap(row[3], width - indent) or [""]
        lines += [start + wrapped[0]] + [" " * indent + w for w in wrapped[1:]]
    example = next(iter(params.values()))
    lines.append(f"set one with {flag(example.name)} VALUE or --set {section}.{example.name}=VALUE")
    return "\n".join(lines)


def run_recipes(args) -> None:
    print("\n".join(f"{n:<28} {load_recipe(n).get('description', '')}" for n in recipe_names()))
