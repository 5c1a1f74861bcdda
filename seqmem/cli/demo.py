"""`seqmem demo`: a trained model's answer to one input (a string, for an echo-letters run)."""

from __future__ import annotations

import sys

from seqmem.cli.parser import Parser, add_verb, is_dir, use_threads
from seqmem.errors import ConfigError


def add(parser: Parser, verbs) -> None:
    demo = add_verb(
        parser, verbs, "demo", help="show a trained model's answer to one input",
        description="With TEXT (an echo-letters run): the model's output for that string, blanks as spaces. "
                    "Without: one test sample's input in the task's symbols, its target at the steps that ask for "
                    "an answer, each run's answers there (! after a wrong one) and how many are right.")
    demo.add_argument("args", nargs="+", metavar="RUN [RUN ...] [TEXT]",
                      help="run directories, then optionally the text (the last argument, if it is not a directory)")
    demo.add_argument("--delay", type=int, help="the delay to echo with, for a variable-delay echo-letters run")
    demo.add_argument("--index", type=int, default=0, help="which test sequence to show (default 0)")
    demo.add_argument("--seed", type=int, help="show a fresh sample drawn from this seed instead of a test sequence")
    demo.add_argument("--trust", action="store_true", help="load a run's own code (a model, task or method by import "
                      "path) even if this user's run did not write it: only for code you trust (docs/usage.md)")
    demo.set_defaults(run=run)


def run(args) -> None:
    paths, text = args.args, None
    if len(paths) > 1 and not is_dir(paths[-1]):  # a text of 256+ letters is no path, not an error
        paths, text = paths[:-1], paths[-1]
    if len(paths) == 1 and not is_dir(paths[0]):
        raise ConfigError(f"{paths[0]} is not a run directory: give seqmem demo RUN [RUN ...] [TEXT]")
    if args.seed is not None and text is not None:
        raise ConfigError("--seed picks a sample; with TEXT the input is the text: drop one of them")
    use_threads(args.threads)
    from seqmem.run.demo import demo_lines  # these import PyTorch: only once the arguments are sound
    from seqmem.run.experiment import load

    def warn(line: str) -> None:
        print(f"seqmem: warning: {line}", file=sys.stderr)

    print("\n".join(demo_lines([load(p, warn, trust=args.trust) for p in paths], text, args.delay, args.index, args.seed)))
