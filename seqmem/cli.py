"""The `seqmem` command: list what exists, train, run suites, report.

Task and model parameters are flags of their own (`--blank 1000 --levels 8`), routed by name to the
task or the model; `--set key=value` sets anything (`task.blank=1000`, `train.lr=1e-3`, `levels=8`).
Every mistake ends with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from seqmem.errors import ConfigError

TRAIN_FLAGS = {
    "method": str, "steps": int, "epochs": int, "batch_size": int, "optimizer": str, "lr": float, "clip": float,
    "weight_decay": float, "chunk_length": int, "seed": int, "eval_every": int, "eval_batch_size": int,
    "stop_at": float,
}


TRAIN_HELP = {
    "method": "bptt (default), tbptt (with --chunk-length) or target-prop",
    "steps": "optimizer updates to make", "epochs": "passes over a fixed training set (instead of --steps)",
    "batch_size": "sequences a batch (default 32)", "optimizer": "adam (default), adamw, rmsprop or sgd",
    "lr": "learning rate (default 1e-3)", "clip": "gradient-norm clip, applied after backward (0: off)",
    "weight_decay": "weight decay (default 0)", "chunk_length": "steps a truncated-BPTT chunk",
    "seed": "seed of the weights, the batches and dropout (default 0)",
    "eval_every": "updates between evaluations (default: an epoch, or a tenth of the run)",
    "eval_batch_size": "sequences a batch when scoring (default 500)",
    "stop_at": "stop once recall accuracy on the scored split reaches this",
}


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # --lev must not quietly mean --levels
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="seqmem", description="Measure how well sequence models remember.")
    parser.add_argument("--threads", type=int, default=1,
                        help="PyTorch CPU threads (default 1: the small models here run several times faster on "
                             "one thread than on two that compete with other work; 0 keeps PyTorch's default)")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=Parser)
    verbs.add_parser("tasks", help="list the tasks")
    verbs.add_parser("models", help="list the models")
    verbs.add_parser("recipes", help="list the recipes (named experiments)")
    train = verbs.add_parser(
        "train", help="train a model on a task",
        description="Train a model on a task. Task and model parameters are flags too (e.g. --blank 1000 "
                    "--levels 8); see `seqmem tasks` and `seqmem models` for their names.")
    train.add_argument("task", nargs="?", help="task name (or take it from --recipe)")
    train.add_argument("--model", help="model name")
    train.add_argument("--recipe", help="start from a recipe's settings; flags override them")
    for name, kind in TRAIN_FLAGS.items():
        train.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None, help=TRAIN_HELP[name])
    params = train.add_argument_group("task and model parameters", "routed by name to the chosen task or model")
    for name in sorted(component_parameters()):
        params.add_argument("--" + name.replace("_", "-"), dest="param_" + name, metavar="VALUE", default=None)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any setting, e.g. task.blank=100")
    train.add_argument("--out", help="run directory (default runs/<task>-<model>-<time>); an unfinished one resumes")
    train.add_argument("--allow-short-receptive-field", action="store_true", default=None,
                       help="train a model that cannot see the whole span anyway")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    suite = verbs.add_parser("suite", help="run every recipe of a suite and print the table")
    suite.add_argument("name", nargs="?", default="quick")
    suite.add_argument("--out", default="runs", help="folder of the suite's runs (default runs/)")
    suite.add_argument("--quiet", action="store_true")
    demo = verbs.add_parser(
        "demo", help="show a trained model's answer to one input",
        description="With TEXT (an echo-letters run): the model's output for that string, blanks as spaces. "
                    "Without: input, target and each run's prediction for one test sample.")
    demo.add_argument("args", nargs="+", metavar="RUN [RUN ...] [TEXT]",
                      help="run directories, then optionally the text (the last argument, if it is not a directory)")
    demo.add_argument("--delay", type=int, help="the delay to echo with, for a variable-delay echo-letters run")
    demo.add_argument("--index", type=int, default=0, help="which test sequence to show (default 0)")
    demo.add_argument("--seed", type=int, help="show a fresh sample drawn from this seed instead of a test sequence")
    report = verbs.add_parser("report", help="table of finished runs")
    report.add_argument("runs", nargs="*", default=["runs"], help="run directories or folders of runs")
    return parser


def component_parameters() -> set[str]:
    """Every keyword parameter of every registered task and model that is not also a training flag."""
    from seqmem.models import MODELS
    from seqmem.tasks import TASKS

    names = set()
    for registry, skip in ((TASKS, 1), (MODELS, 2)):
        for cls in registry.values():
            names |= set(signature_defaults(cls, skip))
    return names - set(TRAIN_FLAGS) - {"allow_short_receptive_field"}


def convert(text: str, default):
    """A flag's text as the type of the parameter's default (int, float, bool or str)."""
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if default is None:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
    return text


def signature_defaults(cls, skip: int) -> dict:
    return {k: p.default for k, p in list(inspect.signature(cls.__init__).parameters.items())[skip:]}


def apply_setting(config: dict, key: str, text: str) -> None:
    """Put `key=text` into the task, model or train section of the config, typed by the default."""
    from seqmem.models import model_class
    from seqmem.tasks import task_class
    from seqmem.train import TrainConfig

    sections = {
        "task": signature_defaults(task_class(config["task"]["name"]), 1),
        "model": signature_defaults(model_class(config["model"]["name"]), 2),
        "train": signature_defaults(TrainConfig, 1),
    }
    section, _, name = key.rpartition(".")
    name = name.replace("-", "_")
    if section:
        if section not in sections:
            raise ConfigError(f"--set {key}: the section must be task, model or train")
        candidates = [section] if name in sections[section] else []
    else:
        candidates = [s for s in sections if name in sections[s]]
    if not candidates:
        where = f"{section} " if section else "task, model or train "
        raise ConfigError(f"{where}has no setting {name!r} (task {config['task']['name']}: "
                          f"{', '.join(sections['task'])}; model {config['model']['name']}: {', '.join(sections['model'])})")
    if len(candidates) > 1:
        raise ConfigError(f"{name!r} is a setting of both {' and '.join(candidates)}: write --set {candidates[0]}.{name}=...")
    default = sections[candidates[0]][name]
    try:
        config[candidates[0]][name] = convert(text, default)
    except ValueError as e:
        raise ConfigError(f"--{name.replace('_', '-')}: {e}") from None


def train_config_from_args(args) -> dict:
    from seqmem.recipes import load_recipe, recipe_config

    config = recipe_config(load_recipe(args.recipe)) if args.recipe else {}
    config = {"task": dict(config.get("task", {})), "model": dict(config.get("model", {})),
              "train": dict(config.get("train", {})),
              "allow_short_receptive_field": config.get("allow_short_receptive_field", False)}
    if args.task:
        if args.task != config["task"].get("name"):
            config["task"] = {"name": args.task}
    if args.model:
        if args.model != config["model"].get("name"):
            config["model"] = {"name": args.model}
    if "name" not in config["task"]:
        raise ConfigError("name a task (seqmem train copy-memory ...) or a --recipe; `seqmem tasks` lists them")
    if "name" not in config["model"]:
        raise ConfigError("name a model with --model (e.g. --model tcn); `seqmem models` lists them")
    for name in TRAIN_FLAGS:
        if getattr(args, name) is not None:
            config["train"][name] = getattr(args, name)
    for given, other in (("steps", "epochs"), ("epochs", "steps")):  # a flag replaces the recipe's length
        if getattr(args, given) is not None and getattr(args, other) is None:
            config["train"].pop(other, None)
    if args.allow_short_receptive_field:
        config["allow_short_receptive_field"] = True
    for key, value in vars(args).items():
        if key.startswith("param_") and value is not None:
            apply_setting(config, key[len("param_"):], value)
    for item in args.set:
        if "=" not in item:
            raise ConfigError(f"--set needs KEY=VALUE, got {item!r}")
        apply_setting(config, *item.split("=", 1))
    return config


def listing(registry: dict) -> str:
    return "\n".join(f"{name:<28} {getattr(cls, 'summary', '')}" for name, cls in sorted(registry.items()))


def main(argv: list[str] | None = None) -> int:
    try:
        return dispatch(argv)
    except ConfigError as e:
        print(f"seqmem: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqmem: interrupted; run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130


def dispatch(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads < 0:
        raise ConfigError(f"--threads must be >= 0 (0 keeps PyTorch's default), got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.verb == "tasks":
        from seqmem.tasks import TASKS

        print(listing(TASKS))
    elif args.verb == "models":
        from seqmem.models import MODELS

        print(listing(MODELS))
    elif args.verb == "recipes":
        from seqmem.recipes import load_recipe, recipe_names

        print("\n".join(f"{n:<28} {load_recipe(n).get('description', '')}" for n in recipe_names()))
    elif args.verb == "train":
        from seqmem.experiment import run_experiment
        from seqmem.report import table

        summary = run_experiment(train_config_from_args(args), args.out, progress=not args.quiet)
        print(table([summary]))
    elif args.verb == "suite":
        run_suite(args.name, Path(args.out), progress=not args.quiet)
    elif args.verb == "demo":
        run_demo(args)
    elif args.verb == "report":
        from seqmem.report import find_summaries, table

        summaries = find_summaries(args.runs)
        if not summaries:
            raise ConfigError(f"no finished runs (summary.json) under {' '.join(args.runs)}")
        print(table(summaries))
    return 0


def run_demo(args) -> None:
    from seqmem.demo import demo_lines
    from seqmem.experiment import load

    paths, text = args.args, None
    if len(paths) > 1 and not Path(paths[-1]).is_dir():
        paths, text = paths[:-1], paths[-1]
    if len(paths) == 1 and not Path(paths[0]).is_dir():
        raise ConfigError(f"{paths[0]} is not a run directory: give seqmem demo RUN [RUN ...] [TEXT]")
    if args.seed is not None and text is not None:
        raise ConfigError("--seed picks a sample; with TEXT the input is the text: drop one of them")
    print("\n".join(demo_lines([load(p) for p in paths], text, args.delay, args.index, args.seed)))


def run_suite(name: str, out: Path, progress: bool) -> None:
    """Every recipe of the suite into `out/<suite>/<recipe>` (finished ones are reused), then one table."""
    from seqmem.experiment import run_experiment
    from seqmem.recipes import load_recipe, recipe_config, suite_recipes
    from seqmem.report import table

    summaries = []
    for recipe in suite_recipes(name):
        summary = run_experiment(recipe_config(load_recipe(recipe)), out / name / recipe, progress=progress)
        summaries.append({**summary, "run": recipe})
    print(table(summaries))


if __name__ == "__main__":
    sys.exit(main())
