"""`seqmem sweep` (a grid of configs, or a sweep file's list) and `seqmem suite` (every recipe of a suite), on
a process pool or Ray; each ends with its table and what failed."""

from __future__ import annotations

import copy
from pathlib import Path

from seqmem.cli.config_flags import add_config_flags, given_names, given_settings
from seqmem.cli.parser import (
    MAX_SEEDS,
    Parser,
    add_sweep_flags,
    add_verb,
    check_count,
    flag,
    is_file,
    split_values,
    use_threads,
)
from seqmem.config.compose import compose, draft, rename, renamed_line, stderr
from seqmem.errors import ConfigError
from seqmem.recipes import suite_recipes


def add(parser: Parser, verbs, named: dict, shown: dict | None) -> None:
    sweep = add_verb(
        parser, verbs, "sweep", help="train a grid of configs (or a sweep file's list) on a process pool or Ray",
        usage="seqmem sweep TARGET [--models A,B] [--over KEY=V1,V2] [--seeds N] [settings]",
        description="Train every point of a sweep into DIR/<point>, where the point is named by the settings that "
                    "vary. A rerun skips finished points and resumes unfinished ones. TARGET is a task name (a grid "
                    "from --models, --over and --seeds) or a Python file that defines `configs`, a list of configs.")
    sweep.add_argument("target", metavar="TARGET", nargs="?", help="task name, or a sweep file (.py)")
    sweep.add_argument("--models", help="models to compare, comma-separated (e.g. rnn,gru,lstm)")
    sweep.add_argument("--model", help="one model (as for train)")
    sweep.add_argument("--over", action="append", default=[], metavar="KEY=V1,V2",
                       help="a setting and its values, comma-separated (e.g. delay=4,8 or model.hidden=32,64); repeat "
                            "for a grid")
    sweep.add_argument("--seeds", type=int, help="train each point with seeds 0..N-1")
    add_sweep_flags(sweep, out_help="the sweep's folder (default runs/sweeps/<task or file name>)")
    add_config_flags(sweep, named, shown)
    sweep.set_defaults(run=run)

    suite = add_verb(parser, verbs, "suite",
                     help="run every recipe of a suite as a sweep, print the table, write the page")
    suite.add_argument("name", nargs="?", default="quick", help="the suite (default quick; `seqmem recipes` shows "
                                                                "which recipes belong to which)")
    add_sweep_flags(suite, out_help="folder of the suites (default runs/); the runs go to OUT/<suite>/<recipe>, the "
                                    "page to OUT/<suite>/report.html")
    suite.set_defaults(run=run_suite)


def run(args) -> int:
    from seqmem.sweeps.sweep import make_backend  # the sweep machinery: only for a command that computes

    backend = make_backend(args.backend, args.workers, args.address)
    points, name = sweep_points(args)
    use_threads(args.threads)
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / name
    return finish_sweep(points, out, backend, args.quiet)


def sweep_points(args) -> tuple[list, str]:
    """The points of `seqmem sweep`, and the name of its default folder."""
    from seqmem.sweeps.sweep import grid, load_sweep_file, name_points  # the sweep machinery: not for --help

    target = args.target
    if target and target.endswith(".py"):  # a file is run only when named as one: never a task name's namesake
        if not is_file(target):
            raise ConfigError(f"sweep file {target} does not exist")
        extra = [f for f in ("models", "model", "recipe", "method", "seeds") if getattr(args, f) is not None]
        extra += ["over"] * bool(args.over) + ["set"] * bool(args.set)
        extra += [k for k, v in vars(args).items() if v is not None and k.startswith(("train.", "param."))]
        if extra:
            raise ConfigError(f"a sweep file defines its own configs: drop {flag(extra[0].split('.')[-1])}")
        return load_sweep_file(target), Path(target).stem
    if args.models and args.model:
        raise ConfigError("give --models (a list) or --model (one), not both")
    data = draft(args.recipe, given_names(args, target), need=("task",) if args.models else ("task", "model"))
    over = {}
    if args.models:
        over["model.name"] = split_values("--models", args.models)
        say_renamed(data, over["model.name"])
    for item in args.over:
        key, eq, text = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--over needs KEY=V1,V2,..., got {item!r}")
        if key in over:
            raise ConfigError(f"--over {key} is given twice: list all its values once")
        over[key] = split_values(f"--over {key}", text)
    check_count("--seeds", args.seeds, MAX_SEEDS)
    seeds = list(range(args.seeds)) if args.seeds is not None else None
    return name_points(grid(data, over, seeds, given_settings(args))), data["task"]["name"]


def say_renamed(data: dict, models: list[str]) -> None:
    """One line a model of --models that replaces the recipe's: the recipe's settings it keeps and drops."""
    if not (data.get("model") or {}).get("name"):
        return
    for name in models:
        kept, dropped = rename(copy.deepcopy(data), "model", name)
        if kept or dropped:
            stderr(renamed_line("model", name, data["model"], kept, dropped, "--models"))


def finish_sweep(points, out: Path, backend, quiet: bool, by_run: bool = False) -> int:
    """Run a sweep, print its table, and say where it is and what failed (exit 1 if anything did)."""
    from seqmem.report.tables import sweep_records, sweep_table, table  # the report's machinery: not for --help
    from seqmem.sweeps.sweep import run_sweep, sweep_axes

    entries = run_sweep(points, out, backend, progress=not quiet, keys=[] if by_run else None)
    done = [e for e in entries if e["status"] == "done"]
    if done:
        print(table(sweep_records(entries)) if by_run else sweep_table(entries, sweep_axes([p.config for p in points])))
    failed = [e for e in entries if e["status"] == "failed"]
    print(f"{len(done)} of {len(entries)} points done in {out}" + (f"; {len(failed)} failed:" if failed else ""))
    for e in failed:
        print(f"  {e['name']}: {e['error']}")
    return 1 if failed else 0


def run_suite(args) -> int:
    """Every recipe of the suite as one sweep into `OUT/<suite>/<recipe>`, then one table and the page."""
    recipes = suite_recipes(args.name)  # an unknown suite is refused before PyTorch loads
    # the report's and the sweep's machinery: only for a command that computes, not for --help
    from seqmem.report.collect import collect
    from seqmem.report.page import write_page
    from seqmem.sweeps.sweep import Point, make_backend

    backend = make_backend(args.backend, args.workers, args.address)
    points = [Point(recipe, compose(recipe)) for recipe in recipes]
    use_threads(args.threads)
    out = Path(args.out or "runs") / args.name
    code = finish_sweep(points, out, backend, args.quiet, by_run=True)
    section = collect(out)
    if section is not None:
        print(f"report written to {write_page(out / 'report.html', [section])}")
    return code
