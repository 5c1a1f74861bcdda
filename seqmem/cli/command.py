"""The `seqmem` command: list what exists, train, sweep, run suites, find horizons, bench, check, demo, report.

The command line only parses and prints. Each verb is a module of this package with `add` (its subparser)
and `run` (its work: one call into the package, then printing); seqmem.cli.config_flags makes the settings'
flags and reads them back for seqmem.config.compose, which makes the config in one call. Every mistake ends
with one line on stderr and exit status 2, with the nearest name where a flag, a verb or a name is mistyped.
"""

from __future__ import annotations

import os
import sys

from seqmem.cli import bench, check, demo, horizon, listing, report, sweep, train
from seqmem.cli.config_flags import named_in
from seqmem.cli.parser import Parser
from seqmem.errors import ConfigError, brief
from seqmem.run import signals

VERBS = ("tasks", "models", "methods", "recipes", "train", "sweep", "suite", "horizon", "check", "bench", "demo",
         "report")


def build_parser(argv: list[str] | None = None) -> Parser:
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
    listing.add(parser, verbs)
    train.add(parser, verbs, named, shown)
    sweep.add(parser, verbs, named, shown)
    horizon.add(parser, verbs, named, shown)
    check.add(parser, verbs)
    bench.add(parser, verbs)
    demo.add(parser, verbs)
    report.add(parser, verbs)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Mistakes: one line, exit 2. Divergence: one line, exit 1. Ctrl-C or SIGTERM: checkpoint, one line, 130/143."""
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


def dispatch(argv: list[str] | None) -> int:
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        raise parser.verbs[args.verb].unrecognized(extra)
    cores = os.cpu_count() or 1
    if not 0 <= args.threads <= cores:
        raise ConfigError(f"--threads must be in 0..{cores} (this machine's cores; 0 keeps PyTorch's default), "
                          f"got {args.threads}")
    return args.run(args) or 0


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so Python's flush of the closed pipe at exit prints nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
