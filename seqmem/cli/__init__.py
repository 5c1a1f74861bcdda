"""The `seqmem` command: list what exists, train, sweep, run suites, demo, report.

The command line only parses and prints: every setting goes through seqmem.config.compose, which knows each
task's, model's, method's and training's settings from their declarations (seqmem.config.settings). Task, model
and method settings are flags of their own (`--blank 1000 --levels 8 --chunk-length 20`), shown in
`--help` under the task, model or method that owns them, with their help and default; `--set key=value`
sets anything (`task.blank=1000`, `train.lr=1e-3`, `levels=8`). Each verb is a `run_*` function that
its subparser names (`set_defaults(run=...)`). Every mistake ends with one line on stderr and exit status 2,
with the nearest name where a flag, a verb or a name is mistyped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

from seqmem.config.settings import Param, suggest
from seqmem.errors import ConfigError, brief

SECTIONS = ("method", "task", "model")  # the order of their flag groups in --help, after training
VERBS = ("tasks", "models", "methods", "recipes", "train", "sweep", "horizon", "check", "suite", "bench", "demo",
         "report")


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # --lev must not quietly mean --levels
        super().__init__(*args, **kwargs)

    def error(self, message):
        choice = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)", message)
        if choice:  # a mistyped verb
            message += suggest(choice[1], re.findall(r"'(.*?)'", choice[2]))
        raise ConfigError(message)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def unrecognized(parser: argparse.ArgumentParser, extra: list[str]) -> ConfigError:
    """The refusal of arguments no flag takes, with the nearest flag of the verb for a mistyped one."""
    options = [o for o in parser._option_string_actions if o.startswith("--")]
    near = next((suggest(t.partition("=")[0], options) for t in extra if t.startswith("--")), "")
    return ConfigError(f"unrecognized arguments: {' '.join(extra)}{near}")


# -- the settings' flags: generated from the declarations, grouped by owner ---------------------------------

def train_settings() -> dict[str, Param]:
    from seqmem.config.compose import section_params

    return section_params("train")


def owned_settings(named: dict[str, list[str]], only: dict[str, list[str]] | None = None) -> dict[str, list]:
    """Setting -> `[(section, owner, Param), ...]` for every registered task, model and method and the classes
    `named` by import path, or with `only` just the ones it names (a section it leaves empty keeps all);
    training's own settings are left to the training group."""
    from seqmem.config.compose import registries, section_params
    from seqmem.config.user_code import label

    skip = {*train_settings(), "allow_short_receptive_field", "task"}
    owned: dict[str, list] = {}
    for section in SECTIONS:
        names = (only or {}).get(section) or [*registries()[section], *named.get(section, [])]
        for name in dict.fromkeys(names):
            try:
                params = section_params(section, name)
            except ConfigError:
                continue  # a class that cannot be read is refused, with its reason, when the config is made
            for key, param in params.items():
                if key not in skip:
                    owned.setdefault(key, []).append((section, label(name), param))
    return owned


def component_settings(named: dict[str, list[str]] | None = None) -> set[str]:
    """Every setting of every registered task, model and method, and of the classes `named` by import path."""
    return set(owned_settings(named or {}))


def owners_title(owners: tuple) -> str:
    """`model gru, lstm, rnn`, `every task`, or `task a; model b` for a setting of several kinds."""
    from seqmem.config.compose import registries

    parts = []
    for section in SECTIONS:
        names = sorted({n for s, n in owners if s == section})
        if names:
            every = len(names) > 2 and set(names) >= set(registries()[section])
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


def add_config_flags(parser: argparse.ArgumentParser, named: dict[str, list[str]], shown: dict | None = None) -> None:
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
    for name, param in train_settings().items():
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
        if flag(name) in parser._option_string_actions:
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
    from seqmem.config.compose import registries
    from seqmem.config.user_code import is_import_path

    known = registries()
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
            if is_import_path(part) or part in known[section or "task"]:
                named[section or "task"].append(part)
    return named


# -- the parser, a small function a verb ---------------------------------------------------------------------

def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; the settings of classes that `argv` names by import path become flags of their own, and
    with --help, only the settings of the task, model and method it names are listed."""
    argv = sys.argv[1:] if argv is None else argv
    verb = next((t for t in argv if t in VERBS), None)
    named = named_in(argv) if verb in ("train", "sweep", "horizon") else {}  # `seqmem models my.py:Net` names no task
    shown = named if {"-h", "--help"} & set(argv) and any(named.values()) else None
    parser = Parser(prog="seqmem", description="Measure how well sequence models remember.")
    parser.add_argument("--threads", type=int, default=1,
                        help="PyTorch CPU threads (default 1: the small models here run several times faster on "
                             "one thread than on two that compete with other work; 0 keeps PyTorch's default)")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=Parser)
    add_listings(verbs)
    add_train(verbs, named, shown)
    add_sweep(verbs, named, shown)
    add_horizon(verbs, named, shown)
    add_check(verbs)
    add_suite(verbs)
    add_bench(verbs)
    add_demo(verbs)
    add_report(verbs)
    return parser


def add_listings(verbs) -> None:
    for kind, section in (("tasks", "task"), ("models", "model"), ("methods", "method")):
        listing = verbs.add_parser(
            kind, help=f"list the {kind}, or show one's settings",
            description=f"Without NAME, the {kind}, one line each. With NAME (a short name, or your own class as "
                        f"path/to/file.py:Class or package.module:Class), its settings: flag, type, default, help.")
        listing.add_argument("name", nargs="?", metavar="NAME", help=f"a {section}: show its settings")
        listing.set_defaults(run=run_listing, section=section)
    verbs.add_parser("recipes", help="list the recipes (named experiments)").set_defaults(run=run_recipes)


def add_train(verbs, named, shown) -> None:
    train = verbs.add_parser(
        "train", help="train a model on a task", usage="seqmem train TASK --model MODEL [settings]",
        description="Train a model on a task. Task, model and method settings are flags too (e.g. --blank 1000 "
                    "--levels 8), listed below under their owner; with a task or --model given, --help lists only "
                    "theirs. `seqmem models NAME` shows one model's settings.")
    train.add_argument("task", nargs="?", help="task name (or take it from --recipe)")
    train.add_argument("--model", help="model name")
    train.add_argument("--out", help="run directory (default runs/<task>-<model>-<time>); an unfinished one resumes")
    train.add_argument("--quiet", action="store_true",
                       help="no progress bar (the evaluations are printed, one line each, when training ends)")
    add_config_flags(train, named, shown)
    train.set_defaults(run=run_train)


def add_sweep(verbs, named, shown) -> None:
    sweep = verbs.add_parser(
        "sweep", help="train a grid of configs (or a sweep file's list) on a process pool or Ray",
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
    sweep.set_defaults(run=run_sweep_command)


def add_horizon(verbs, named, shown) -> None:
    horizon = verbs.add_parser(
        "horizon", help="each model's memory horizon: the largest delay it solves within a budget",
        usage="seqmem horizon TASK --models A,B [--seeds N] [settings]",
        description="For each model and seed, the largest delay (copy-memory blank, echo-stream echo_step, "
                    "echo-letters delay, or --key) at which validation recall reaches --target within the "
                    "budget (--steps or --epochs, and --max-seconds), found by doubling from --start and then "
                    "bisection. Every probe is a point of one sweep in --out: a rerun skips finished probes.")
    horizon.add_argument("task", metavar="TASK", nargs="?", help="task name (or take it from --recipe)")
    horizon.add_argument("--models", help="models to compare, comma-separated (e.g. gru,lstm,tcn)")
    horizon.add_argument("--methods", help="training methods to compare on each model, comma-separated "
                                          "(e.g. bptt,target-prop; default: the recipe's or bptt)")
    horizon.add_argument("--key", help="the delay setting to search (default: the task's delay)")
    horizon.add_argument("--start", type=int, default=1, help="the first delay tried (default 1)")
    horizon.add_argument("--limit", type=int, default=1024, help="the largest delay tried (default 1024)")
    horizon.add_argument("--seeds", type=int, default=1, help="search with seeds 0..N-1 (default 1)")
    horizon.add_argument("--target", type=float, default=0.99,
                         help="the validation recall that counts as solved (default 0.99); a probe stops there")
    horizon.add_argument("--resolution", type=float, default=0.25,
                         help="stop bisecting once the failing delay is within this fraction of the solved one")
    horizon.add_argument("--model", help=argparse.SUPPRESS)
    add_sweep_flags(horizon, out_help="the search's folder (default runs/horizons/<task>)")
    add_config_flags(horizon, named, shown)
    horizon.set_defaults(run=run_horizon)


def add_check(verbs) -> None:
    check = verbs.add_parser(
        "check", help="run the model, task or method contract on a class (yours, by import path)",
        description="Check a class against the contract of docs/extending.md, one line a check: a model is built "
                    "for --task and run forward and backward, for causality and, where it carries state, for "
                    "chunks; a task's splits, batches and baseline; a method's update on a small GRU. Exit 0 if "
                    "every check passes, 1 if one fails.")
    check.add_argument("names", nargs="+", metavar="CLASS", help="an import path (my_model.py:Net, pkg.mod:Net) or a name")
    check.add_argument("--task", default="echo-letters", help="the task a model or method is checked on "
                                                               "(default echo-letters)")
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a setting of the task, model or method, e.g. task.blank=20 or model.hidden=32")
    check.set_defaults(run=run_check)


def add_suite(verbs) -> None:
    suite = verbs.add_parser("suite", help="run every recipe of a suite as a sweep, print the table, write the page")
    suite.add_argument("name", nargs="?", default="quick", help="the suite (default quick; `seqmem recipes` shows "
                                                                "which recipes belong to which)")
    add_sweep_flags(suite, out_help="folder of the suites (default runs/); the runs go to OUT/<suite>/<recipe>, the "
                                    "page to OUT/<suite>/report.html")
    suite.set_defaults(run=run_suite)


def add_demo(verbs) -> None:
    demo = verbs.add_parser(
        "demo", help="show a trained model's answer to one input",
        description="With TEXT (an echo-letters run): the model's output for that string, blanks as spaces. "
                    "Without: input, target and each run's prediction for one test sample.")
    demo.add_argument("args", nargs="+", metavar="RUN [RUN ...] [TEXT]",
                      help="run directories, then optionally the text (the last argument, if it is not a directory)")
    demo.add_argument("--delay", type=int, help="the delay to echo with, for a variable-delay echo-letters run")
    demo.add_argument("--index", type=int, default=0, help="which test sequence to show (default 0)")
    demo.add_argument("--seed", type=int, help="show a fresh sample drawn from this seed instead of a test sequence")
    demo.add_argument("--trust", action="store_true", help="load a run's own code (a model, task or method by import "
                      "path) even if this user's run did not write it: only for code you trust (docs/usage.md)")
    demo.set_defaults(run=run_demo)


def add_report(verbs) -> None:
    report = verbs.add_parser(
        "report", help="tables of finished runs (a sweep's grouped by its axes), and an HTML page with plots",
        description="Print each folder's table: a sweep's points grouped by its axes less the seed (mean and "
                    "min..max over seeds), loose runs one a row; the memoryless baseline beside every score.")
    report.add_argument("runs", nargs="*", default=["runs"], help="run directories, sweep folders or folders of runs")
    report.add_argument("--format", default="text", choices=("text", "markdown", "csv", "json", "jsonl"),
                        help="the tables as text (default), Markdown, or a row a line of numbers: csv, json (one "
                             "list), jsonl (one object a line) with each row's settings, tags, seeds, mean, min, max")
    report.add_argument("--output", metavar="FILE", help="write the tables to FILE instead of standard output")
    report.add_argument("--markdown", action="store_const", const="markdown", dest="format",
                        help="the same as --format markdown")
    report.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with the tables and "
                                                         "plots (learning curves, recall by delay, recall by time)")
    report.add_argument("--csv", metavar="FILE", help="also write the (first) table as CSV, numbers unformatted")
    report.add_argument("--figures", metavar="DIR", help="also write each figure as a PNG file into DIR")
    report.add_argument("--choose", metavar="KEY", help="a tuning axis (e.g. train.lr): also show, for each group of "
                        "the other axes, only its value with the best mean validation recall")
    report.set_defaults(run=run_report)


def add_bench(verbs) -> None:
    bench = verbs.add_parser(
        "bench", help="the memory profile: models at one parameter count, tuned on validation, over a suite",
        description="Size every model to one parameter count (its width found by search), train it on each task "
                    "setting of the suite for every grid point and seed with one budget in updates, choose the "
                    "grid point on validation recall, and score each task by the fraction of its settings solved "
                    "(validation recall >= 0.99) beside the test recall and the memoryless recall. One resumable "
                    "sweep; profile.json in --out. See docs/profile.md.")
    bench.add_argument("models", metavar="MODELS", help="models, comma-separated: names or import paths")
    bench.add_argument("--suite", default="quick", help="quick (default), standard, or a .toml file of your own")
    bench.add_argument("--params", help="the parameter count every model is sized to (e.g. 20k; default the suite's)")
    bench.add_argument("--budget", type=int, help="updates a run (default the suite's)")
    bench.add_argument("--grid", help="the tuning grid, e.g. lr=1e-3,3e-3,wd=0,0.1 (default the suite's)")
    bench.add_argument("--seeds", type=int, help="seeds 0..N-1 (default the suite's)")
    bench.add_argument("--against", help="reference: set the shipped profile of the built-in models beside yours, "
                                         "training only yours")
    add_sweep_flags(bench, out_help="the profile's folder (default runs/bench/<suite>)")
    bench.set_defaults(run=run_bench)


def add_sweep_flags(parser: argparse.ArgumentParser, out_help: str) -> None:
    parser.add_argument("--workers", type=int, default=2, help="points run at once, one thread each (default 2)")
    parser.add_argument("--backend", default="process", help="process (a local process pool, default) or ray")
    parser.add_argument("--address", help="with --backend ray: a running cluster to join (default: a local Ray)")
    parser.add_argument("--out", help=out_help)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


# -- running a verb --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Mistakes: one line, exit 2. Divergence: one line, exit 1. Ctrl-C or SIGTERM: checkpoint, one line, 130/143."""
    from seqmem.run import signals

    signals.install()  # SIGTERM as Ctrl-C, from the first moment (torch is not imported yet)
    try:
        return dispatch(argv)
    except ConfigError as e:
        print(f"seqmem: error: {brief(str(e))}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"seqmem: diverged: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        signals.ignore()
        print("seqmem: interrupted; run the same command again to resume from the last checkpoint", file=sys.stderr)
        return signals.exit_code()
    except BrokenPipeError:  # `seqmem report runs | head`: the reader has what it wanted
        quiet_stdout()
        return 141  # what a shell reports for a process ended by SIGPIPE


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so Python's flush of the closed pipe at exit prints nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def dispatch(argv: list[str] | None) -> int:
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        raise unrecognized(verb_parser(parser, args.verb), extra)
    cores = os.cpu_count() or 1
    if not 0 <= args.threads <= cores:
        raise ConfigError(f"--threads must be in 0..{cores} (this machine's cores; 0 keeps PyTorch's default), "
                          f"got {args.threads}")
    return args.run(args) or 0


def verb_parser(parser: argparse.ArgumentParser, verb: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._subparsers._group_actions if a.dest == "verb")
    return action.choices[verb]


def listing(registry) -> str:
    return "\n".join(f"{name:<28} {registry.summary(name)}" for name in sorted(registry))


def run_listing(args) -> None:
    """`seqmem models`: one line a model; `seqmem models NAME`: its settings."""
    from seqmem.config.compose import registries

    registry = registries()[args.section]
    print(listing(registry) if args.name is None else settings_text(registry, args.section, args.name))


def settings_text(registry, section: str, name: str) -> str:
    """A class's settings, one a line: flag, type, default and help, wrapped to the terminal."""
    from seqmem.config.compose import section_params

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
    from seqmem.recipes import load_recipe, recipe_names

    print("\n".join(f"{n:<28} {load_recipe(n).get('description', '')}" for n in recipe_names()))


def run_train(args) -> None:
    from seqmem.config.compose import make_config

    config = make_config(apply(*config_from_args(args, args.task)))  # a mistake is refused before PyTorch loads
    use_threads(args.threads)
    from seqmem.report.tables import table
    from seqmem.run.experiment import run_experiment

    summary = run_experiment(config, args.out, progress=not args.quiet)
    if args.quiet:  # the bar printed these as they came; without it, they are still the run's curve
        from seqmem.run.rundir import RunDir
        from seqmem.training.loop import progress_line

        for record in RunDir(summary["run"]).metrics():
            print(progress_line(record))
    print(table([summary]))


def config_from_args(args, task: str | None, need_model: bool = True) -> tuple[dict, list]:
    """The config dict that a recipe and the names make, and the flags' settings `(key, text, label)` to put
    into it, in order (not yet validated; `apply` puts them in)."""
    from seqmem.config.compose import recipe_config, set_value

    data = recipe_config(args.recipe) if args.recipe else {}
    for section, name in (("task", task), ("model", args.model), ("method", args.method)):
        if name:
            set_value(data, f"{section}.name", name)
    if "name" not in data.get("task", {}):
        raise ConfigError("name a task (seqmem train copy-memory ...) or a --recipe; `seqmem tasks` lists them")
    if need_model and "name" not in data.get("model", {}):
        raise ConfigError("name a model with --model (e.g. --model tcn); `seqmem models` lists them")
    given = {k: v for k, v in vars(args).items() if v is not None and k.startswith(("train.", "param."))}
    for given_key, other in (("train.steps", "epochs"), ("train.epochs", "steps")):  # a flag replaces the recipe's length
        if given_key in given and f"train.{other}" not in given:
            data.get("train", {}).pop(other, None)
    settings = [(k, v, flag(k.split(".", 1)[1])) for k, v in given.items() if k.startswith("train.")]
    settings += [(k.split(".", 1)[1], v, flag(k.split(".", 1)[1])) for k, v in given.items() if k.startswith("param.")]
    settings += [(key, text, f"--set {key}") for key, text in map(set_item, args.set)]
    if args.allow_short_receptive_field:
        data["allow_short_receptive_field"] = True
    return data, settings


def set_item(item: str) -> tuple[str, str]:
    """One `--set KEY=VALUE` as `(key, text)`."""
    key, eq, text = item.partition("=")
    if not eq:
        raise ConfigError(f"--set needs KEY=VALUE, got {item!r}")
    return key, text


def apply(data: dict, settings: list) -> dict:
    from seqmem.config.compose import set_value

    for key, text, label in settings:
        set_value(data, key, text, label=label)
    return data


def use_threads(threads: int) -> None:
    """PyTorch's CPU threads (0 keeps its default), set by the commands that compute, once their arguments are
    checked: setting them imports PyTorch, which listings, help and refused commands do without."""
    from seqmem.run.threads import set_threads

    set_threads(threads)  # what training runs on (seqmem.run.threads)
    if threads:
        import torch

        torch.set_num_threads(threads)


def sweep_points(args) -> tuple[list, str]:
    """The points of `seqmem sweep`, and the name of its default folder."""
    from seqmem.sweeps.sweep import grid, load_sweep_file, name_points

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
    data, settings = config_from_args(args, target, need_model=not args.models)
    over = {}
    if args.models:
        over["model.name"] = split_values("--models", args.models)
    for item in args.over:
        key, eq, text = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--over needs KEY=V1,V2,..., got {item!r}")
        if key in over:
            raise ConfigError(f"--over {key} is given twice: list all its values once")
        over[key] = split_values(f"--over {key}", text)
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds must be an integer >= 1, got {args.seeds}")
    seeds = list(range(args.seeds)) if args.seeds is not None else None
    return name_points(grid(data, over, seeds, settings)), data["task"]["name"]


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


def split_values(what: str, text: str) -> list[str]:
    values = [v.strip() for v in text.split(",")]
    if not text.strip() or any(not v for v in values):
        raise ConfigError(f"{what}: give one or more comma-separated values, got {text!r}")
    return values


def run_sweep_command(args) -> int:
    from seqmem.sweeps.sweep import make_backend

    backend = make_backend(args.backend, args.workers, args.address)
    points, name = sweep_points(args)
    use_threads(args.threads)
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / name
    return finish_sweep(points, out, backend, args.quiet)


def finish_sweep(points, out: Path, backend, quiet: bool, by_run: bool = False) -> int:
    """Run a sweep, print its table, and say where it is and what failed (exit 1 if anything did)."""
    from seqmem.report.tables import sweep_records, sweep_table, table
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
    """Every recipe of the suite as one sweep into `OUT/<suite>/<recipe>`, then one table."""
    from seqmem.config.compose import make_config, recipe_config
    from seqmem.recipes import suite_recipes
    from seqmem.report.page import write_page
    from seqmem.report.tables import collect
    from seqmem.sweeps.sweep import Point, make_backend

    backend = make_backend(args.backend, args.workers, args.address)
    points = [Point(recipe, make_config(recipe_config(recipe))) for recipe in suite_recipes(args.name)]
    use_threads(args.threads)
    out = Path(args.out or "runs") / args.name
    code = finish_sweep(points, out, backend, args.quiet, by_run=True)
    section = collect(out)
    if section is not None:
        print(f"report written to {write_page(out / 'report.html', [section])}")
    return code


def run_bench(args) -> int:
    from seqmem.sweeps.bench import load_suite, parse_count, parse_grid, profile_text, run_bench
    from seqmem.sweeps.sweep import make_backend

    suite = load_suite(args.suite)
    params = parse_count(args.params) if args.params is not None else None
    grid = parse_grid(args.grid) if args.grid is not None else None
    for name, value in (("--budget", args.budget), ("--seeds", args.seeds)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value}")
    backend = make_backend(args.backend, args.workers, args.address)
    use_threads(args.threads)
    out = Path(args.out) if args.out else Path("runs") / "bench" / suite.name
    result = run_bench(split_values("MODELS", args.models), suite, out, backend, args.seeds, params, args.budget,
                       grid, args.against, progress=not args.quiet)
    print(profile_text(result))
    print(f"runs and profile.json in {out}")
    if result["failed"]:
        print(f"{len(result['failed'])} runs failed: {', '.join(result['failed'][:3])}")
    return 1 if result["failed"] else 0


def run_report(args) -> None:
    from seqmem.report.command import report

    report(args.runs, args.format, args.output, args.html, args.csv, args.figures, args.choose, say=print,
           err=lambda line: print(line, file=sys.stderr))


def run_horizon(args) -> int:
    from seqmem.sweeps.horizon import search
    from seqmem.sweeps.sweep import make_backend

    backend = make_backend(args.backend, args.workers, args.address)
    if not args.models:
        raise ConfigError("name the models to compare with --models (e.g. --models gru,lstm,tcn)")
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be an integer >= 1, got {args.seeds}")
    data, settings = config_from_args(args, args.task, need_model=False)
    settings = [("train.stop_at", args.target, "--target"), *settings]
    models = split_values("--models", args.models)
    if args.methods:
        models = [{"name": m, "method": method} for m in models for method in split_values("--methods", args.methods)]
    use_threads(args.threads)
    out = Path(args.out) if args.out else Path("runs") / "horizons" / data["task"]["name"]
    result = search(data, models, list(range(args.seeds)), out, backend, key=args.key, start=args.start,
                    limit=args.limit, target=args.target, tolerance=args.resolution, settings=settings,
                    progress=not args.quiet)
    from seqmem.report.tables import horizon_text

    print(horizon_text(result))
    print(f"probes and horizon.json in {out}; `seqmem report {out} --html report.html` draws them")
    return 0


def run_check(args) -> int:
    settings = dict(map(set_item, args.set))
    use_threads(args.threads)
    from seqmem.run.contract import check

    failed = 0
    for name in args.names:
        kind, results = check(name, args.task, settings)
        print(f"{name} ({kind}):")
        for passed, line in results:
            print(f"  {'pass' if passed else 'FAIL'}  {line}")
        failed += not all(passed for passed, _ in results)
    if len(args.names) > 1:
        print(f"{len(args.names) - failed} of {len(args.names)} pass")
    return 1 if failed else 0


def run_demo(args) -> None:
    from seqmem.run.demo import demo_lines
    from seqmem.run.experiment import load

    paths, text = args.args, None
    if len(paths) > 1 and not is_dir(paths[-1]):  # a text of 256+ letters is no path, not an error
        paths, text = paths[:-1], paths[-1]
    if len(paths) == 1 and not is_dir(paths[0]):
        raise ConfigError(f"{paths[0]} is not a run directory: give seqmem demo RUN [RUN ...] [TEXT]")
    if args.seed is not None and text is not None:
        raise ConfigError("--seed picks a sample; with TEXT the input is the text: drop one of them")
    use_threads(args.threads)
    def warn(text: str) -> None:
        print(f"seqmem: warning: {text}", file=sys.stderr)

    print("\n".join(demo_lines([load(p, warn, trust=args.trust) for p in paths], text, args.delay, args.index, args.seed)))


