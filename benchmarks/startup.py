"""Start-up: how long the command line takes to answer, against an empty Python and against importing PyTorch.

Each command runs `--repeats` times as a fresh process, the commands interleaved (their order rotated
each round, after one round not counted), so a busy core slows every side alike; the median of each and
its ratio to `python -c pass` are printed from the same run. The refused commands must exit 2.
`seqmem models` also runs with a package installed (on PYTHONPATH) that declares a model and a task as
entry points, the examples' MinGRU and Hold: its ratio to the plain listing is what entry points cost.

    python benchmarks/startup.py            # 15 rounds, the figures docs/performance.md quotes
    python benchmarks/startup.py --quick    # 1 round, for tests
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Lines, arguments, main, rotated

PLUGIN = "seqmem models (an entry-point package installed)"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def entry_point_package(folder: Path) -> Path:
    """A package on `folder` that declares the examples' model and task as entry points, as an install would."""
    info = folder / "seqmem_examples-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seqmem-examples\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[seqmem.models]\nmin-gru = seqmem_examples_model:MinGRU\n"
                                           "[seqmem.tasks]\nhold = seqmem_examples_task:Hold\n")
    shutil.copy(EXAMPLES / "min_gru.py", folder / "seqmem_examples_model.py")
    shutil.copy(EXAMPLES / "hold_task.py", folder / "seqmem_examples_task.py")
    return folder


def commands() -> dict[str, tuple[list[str], int]]:
    """Name -> (argv, the exit status it must give). `seqmem` is the installed script beside this Python."""
    script = Path(sys.executable).parent / "seqmem"
    seqmem = [str(script)] if script.exists() else [shutil.which("seqmem") or "seqmem"]
    return {
        "python -c pass": ([sys.executable, "-c", "pass"], 0),
        "python -c 'import torch'": ([sys.executable, "-c", "import torch"], 0),
        "seqmem --help": ([*seqmem, "--help"], 0),
        "seqmem tasks": ([*seqmem, "tasks"], 0),
        "seqmem models": ([*seqmem, "models"], 0),
        PLUGIN: ([*seqmem, "models"], 0),
        "seqmem train --task nope": ([*seqmem, "train", "--task", "nope"], 2),
        "seqmem train copy-memory --model tcn --steps -1": ([*seqmem, "train", "copy-memory", "--model", "tcn",
                                                              "--steps", "-1"], 2),
    }


def run_once(argv: list[str], code: int, cwd: str, env: dict | None = None) -> float:
    tic = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env)
    seconds = time.perf_counter() - tic
    if done.returncode != code:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}, not {code}: {done.stderr.strip()}")
    if env is not None and "min-gru" not in done.stdout:
        raise SystemExit(f"{' '.join(argv)} did not list the entry point min-gru: {done.stdout.strip()}")
    return seconds


def run(argv=None) -> int:
    parser = arguments(__doc__, "startup", quick="1 round, for tests; writes nothing")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    todo = commands()
    names = list(todo)
    times = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as cwd, tempfile.TemporaryDirectory() as site:
        # cwd: where a command would write, and must not
        plugin_env = {**os.environ, "PYTHONPATH": str(entry_point_package(Path(site)))}
        for round_, name in rotated(names, repeats + 1):
            seconds = run_once(*todo[name], cwd, plugin_env if name == PLUGIN else None)
            if round_:  # the first round warms up
                times[name].append(seconds)
        if any(Path(cwd).iterdir()):
            raise SystemExit(f"a command wrote into its folder: {sorted(p.name for p in Path(cwd).iterdir())}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = "python -c pass"
    lines = Lines("startup", repeats=repeats, quick=args.quick)
    for n in names:
        lines.add("median_seconds", round(medians[n], 4), "s", command=n)
    for n in names[1:]:
        lines.add("ratio_to_python", round(medians[n] / medians[base], 2), "ratio", numerator=n, denominator=base)
    lines.add("entry_points_ratio", round(medians[PLUGIN] / medians["seqmem models"], 2), "ratio", numerator=PLUGIN,
              denominator="seqmem models")
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
