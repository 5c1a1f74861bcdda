"""What the timing benchmarks share: their command line (`--quick`, `--out`), the order that interleaves the
contenders, the median of per-round ratios, one thread's matmul rate, and the JSON lines they print and write.

A timing script measures something a sweep cannot (a step of two nets on the same weights, a process's start,
a signal's way out). The benchmarks that train and score runs are sweep files instead (`configs`, run by
`seqmem sweep benchmarks/<name>.py`, read by `seqmem report --format jsonl`); their options come from the
environment (`option`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def arguments(doc: str, name: str, quick: str = "seconds, for tests; writes nothing") -> argparse.ArgumentParser:
    """A parser with `--quick` and `--out` (default benchmarks/results/<name>.jsonl); add the script's own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--out", default=str(RESULTS / f"{name}.jsonl"), help="JSON lines file of the full run")
    return parser


class Lines:
    """The benchmark's JSON lines: each printed as it is made, all written to one file at the end."""

    def __init__(self, benchmark: str, **common):
        self.benchmark, self.common, self.lines = benchmark, common, []

    def add(self, metric: str, value, unit: str | None, **settings) -> dict:
        return self.extend([{"metric": metric, "value": value, "unit": unit, **settings}])[0]

    def extend(self, records: list[dict]) -> list[dict]:
        records = [{"benchmark": self.benchmark, **r, **self.common} for r in records]
        for record in records:
            print(json.dumps(record), flush=True)
        self.lines += records
        return records

    def write(self, path) -> int:
        """All the lines to `path` (None: nowhere, as for --quick, whose figures mean nothing); exit status 0."""
        if path is not None:
            from seqmem.run.atomic import write_jsonl

            write_jsonl(Path(path), self.lines)
        return 0


def rotated(names: list[str], rounds: int):
    """`(round, name)` for every name in every round, the order rotated a round, so no contender always runs
    first (or just after another): load on the machine then slows each alike."""
    for i in range(rounds):
        for name in names[i % len(names):] + names[: i % len(names)]:
            yield i, name


def interleaved(runs: dict, rounds: int, warmup: int = 0) -> dict[str, list]:
    """Each `runs[name]()` (which returns its own measurement, seconds say) called in `rotated` order; the first
    `warmup` rounds are not kept."""
    kept = {name: [] for name in runs}
    for i, name in rotated(list(runs), warmup + rounds):
        value = runs[name]()
        if i >= warmup:
            kept[name].append(value)
    return kept


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of per-round ratios: what slows both sides of a round cancels."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


def seconds(fn) -> float:
    tic = time.perf_counter()
    fn()
    return time.perf_counter() - tic


def matmul_gflops(size: int = 1024, repeats: int = 10) -> float:
    """This machine's float32 matmul rate on the current threads, `size` x `size` @ `size` x `size`."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    return 2 * size**3 / statistics.median(seconds(lambda: a @ b) for _ in range(repeats)) / 1e9


def resident(field: str) -> int:
    """VmRSS (resident now) or VmHWM (its peak) of this process, in bytes, from /proc/self/status (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field}")


def reset_peak() -> int:
    """Reset this process's peak resident size to what it holds now (Linux: `5` written to /proc/self/clear_refs),
    so that an earlier peak (PyTorch's import, a build) does not hide the next one; returns the bytes held now."""
    Path("/proc/self/clear_refs").write_text("5")
    return resident("VmRSS")


def load() -> float:
    """The one-minute load average: other work on the machine when measured."""
    return round(os.getloadavg()[0], 2)


def option(name: str, default):
    """A sweep file's option from the environment, `BENCH_<NAME>` (e.g. `BENCH_SEEDS=0,1,2 seqmem sweep ...`),
    typed as its default: a list from comma-separated values, a bool from 1/0."""
    text = os.environ.get(f"BENCH_{name.upper()}")
    if text is None:
        return default
    if isinstance(default, bool):
        return text not in ("", "0", "false")
    if isinstance(default, list | tuple):
        kind = type(default[0]) if default else str
        return [kind(v) for v in text.split(",")]
    return type(default)(text)


def main(run) -> None:
    """`sys.exit(run())`, a mistake (ConfigError) in one line with exit 2."""
    from seqmem.errors import ConfigError

    try:
        sys.exit(run())
    except ConfigError as e:
        print(f"{Path(sys.argv[0]).stem}: error: {e}", file=sys.stderr)
        sys.exit(2)
