"""`seqmem bench`: the memory profile, every model at one parameter count, tuned on validation, over a suite."""

from __future__ import annotations

from pathlib import Path

from seqmem.cli.parser import MAX_SEEDS, Parser, add_sweep_flags, add_verb, check_count, use_threads


def add(parser: Parser, verbs) -> None:
    bench = add_verb(
        parser, verbs, "bench", help="the memory profile: models at one parameter count, tuned on validation, over a suite",
        description="Size every model to one parameter count (its width found by search; or give every model the "
                    "suite's widths), train it on each task setting of the suite for every grid point and seed with "
                    "one budget in updates (or until solved, at most that), choose the grid point on validation "
                    "recall for each setting, and rank the models on their test recall above the memoryless recall, "
                    "beside the fraction of settings solved (validation recall >= 0.99), the learning-rate window "
                    "and the updates to solve. One resumable sweep; profile.json in --out. See docs/profile.md.")
    bench.add_argument("models", metavar="MODELS", nargs="?",
                       help="models, comma-separated: names, import paths or specs such as "
                            "'mamba2[negative_eigenvalues=true]' (default the suite's models)")
    bench.add_argument("--suite", default="quick",
                       help="quick (default), first (what make run runs), standard, zoology-figure2, mad (mad-lab's six "
                            "tasks), selective-copy (Mamba's Table 1), induction-heads (Mamba's Table 11), state-tracking "
                            "(parity and S5), or a .toml file of your own")
    bench.add_argument("--wide", action="store_true",
                       help="every column of the profile's cells: spreads over seeds, the window's rates, seconds")
    bench.add_argument("--params", help="the parameter count every model is sized to (e.g. 20k; default the suite's)")
    bench.add_argument("--budget", type=int, help="updates a run (default the suite's)")
    bench.add_argument("--grid", help="the tuning grid, e.g. lr=1e-3,3e-3,wd=0,0.1 (default the suite's)")
    bench.add_argument("--seeds", type=int, help="seeds 0..N-1 (default the suite's)")
    bench.add_argument("--against", help="reference: set the shipped profile of the built-in models beside yours, "
                                         "training only yours")
    bench.add_argument("--html", metavar="FILE", help="also write the profile's page (its tables and figure) to FILE, "
                                                      "as seqmem report --html does")
    add_sweep_flags(bench, out_help="the profile's folder (default runs/bench/<suite>)")
    bench.set_defaults(run=run)


def run(args) -> int:
    # the profile's machinery: only for a command that computes, not for every command's start
    from seqmem.report.profile import profile_text
    from seqmem.sweeps.bench import load_suite, parse_count, parse_grid, run_bench, split_models
    from seqmem.sweeps.sweep import make_backend

    suite = load_suite(args.suite)
    params = parse_count(args.params) if args.params is not None else None
    grid = parse_grid(args.grid) if args.grid is not None else None
    check_count("--budget", args.budget)
    check_count("--seeds", args.seeds, MAX_SEEDS)
    backend = make_backend(args.backend, args.workers, args.address)
    use_threads(args.threads)
    out = Path(args.out) if args.out else Path("runs") / "bench" / suite.name
    models = split_models(args.models) if args.models is not None else []
    result = run_bench(models, suite, out, backend, args.seeds, params, args.budget, grid, args.against,
                       progress=not args.quiet)
    print(profile_text(result, args.wide))
    print(f"runs and profile.json in {out}")
    if args.html:
        from seqmem.report.collect import collect  # the page's machinery: only when a page is asked for
        from seqmem.report.page import write_page

        section = collect(out)
        if section is not None:
            print(f"report written to {write_page(args.html, [section])}")
    if result["failed"]:
        print(f"{len(result['failed'])} runs failed: {', '.join(result['failed'][:3])}")
    return 1 if result["failed"] else 0
