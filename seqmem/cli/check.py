"""`seqmem check`: the contract of docs/extending.md run on a class, one line a check."""

from __future__ import annotations

from seqmem.cli.parser import Parser, add_verb, set_item, use_threads


def add(parser: Parser, verbs) -> None:
    check = add_verb(
        parser, verbs, "check", help="run the model, task or method contract on a class (yours, by import path)",
        description="Check a class against the contract of docs/extending.md, one line a check: a model is built "
                    "for --task and run forward and backward, for causality and, where it carries state, for "
                    "chunks; a task's splits, batches and baseline; a method's update on a small GRU. Exit 0 if "
                    "every check passes, 1 if one fails.")
    check.add_argument("names", nargs="+", metavar="CLASS", help="an import path (my_model.py:Net, pkg.mod:Net) or a name")
    check.add_argument("--task", default="echo-letters", help="the task a model or method is checked on "
                                                               "(default echo-letters)")
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a setting of the task, model or method, e.g. task.blank=20 or model.hidden=32")
    check.set_defaults(run=run)


def run(args) -> int:
    settings = dict(map(set_item, args.set))
    use_threads(args.threads)
    from seqmem.run.check import check  # imports PyTorch: only once the arguments are sound

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
