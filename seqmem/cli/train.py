"""`seqmem train`: one run, from a task and a model (or a recipe) and their settings as flags."""

from __future__ import annotations

from seqmem.cli.config_flags import add_config_flags, given_names, given_settings
from seqmem.cli.parser import Parser, add_verb, use_threads
from seqmem.config.compose import compose


def add(parser: Parser, verbs, named: dict, shown: dict | None) -> None:
    train = add_verb(
        parser, verbs, "train", help="train a model on a task", usage="seqmem train TASK --model MODEL [settings]",
        description="Train a model on a task. Task, model and method settings are flags too (e.g. --blank 1000 "
                    "--levels 8), listed below under their owner; with a task or --model given, --help lists only "
                    "theirs. `seqmem models NAME` shows one model's settings.")
    train.add_argument("task", nargs="?", help="task name (or take it from --recipe)")
    train.add_argument("--model", help="model name")
    train.add_argument("--out", help="run directory (default runs/<task>-<model>-<time>); an unfinished one resumes")
    train.add_argument("--quiet", action="store_true",
                       help="no progress bar (the evaluations are printed, one line each, when training ends)")
    add_config_flags(train, named, shown)
    train.set_defaults(run=run)


def run(args) -> None:
    # the config, composed and checked in one call: a mistake is refused before PyTorch loads
    config = compose(args.recipe, given_names(args, args.task), given_settings(args))
    use_threads(args.threads)
    from seqmem.report.tables import table  # these import PyTorch: only once the config is sound
    from seqmem.run.experiment import run_experiment
    from seqmem.run.rundir import RunDir
    from seqmem.training.loop import progress_line

    summary = run_experiment(config, args.out, progress=not args.quiet)
    if args.quiet:  # the bar printed these as they came; without it, they are still the run's curve
        for record in RunDir(summary["run"]).metrics():
            print(progress_line(record))
    print(table([summary]))
