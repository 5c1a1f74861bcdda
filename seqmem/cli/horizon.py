"""`seqmem horizon`: each model's memory horizon, the largest delay it solves within a budget."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqmem.cli.config_flags import add_config_flags, given_names, given_settings
from seqmem.cli.parser import MAX_SEEDS, Parser, add_sweep_flags, add_verb, check_count, split_values, use_threads
from seqmem.config.compose import draft
from seqmem.errors import ConfigError


def add(parser: Parser, verbs, named: dict, shown: dict | None) -> None:
    horizon = add_verb(
        parser, verbs, "horizon", help="each model's memory horizon: the largest delay it solves within a budget",
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
    horizon.set_defaults(run=run)


def run(args) -> int:
    from seqmem.sweeps.horizon import horizon_text, search  # the search machinery: only for a command that computes
    from seqmem.sweeps.sweep import make_backend

    backend = make_backend(args.backend, args.workers, args.address)
    if not args.models:
        raise ConfigError("name the models to compare with --models (e.g. --models gru,lstm,tcn)")
    check_count("--seeds", args.seeds, MAX_SEEDS)
    data = draft(args.recipe, given_names(args, args.task), need=("task",))
    settings = [("train.stop_at", args.target, "--target"), *given_settings(args)]
    models = split_values("--models", args.models)
    if args.methods:
        models = [{"name": m, "method": method} for m in models for method in split_values("--methods", args.methods)]
    use_threads(args.threads)
    out = Path(args.out) if args.out else Path("runs") / "horizons" / data["task"]["name"]
    result = search(data, models, list(range(args.seeds)), out, backend, key=args.key, start=args.start,
                    limit=args.limit, target=args.target, tolerance=args.resolution, settings=settings,
                    progress=not args.quiet)
    print(horizon_text(result))
    print(f"probes and horizon.json in {out}; `seqmem report {out} --html report.html` draws them")
    return 0
