"""Signal to exit: how long a sweep takes to end after Ctrl-C (once, or twice 1.5 s apart, to its process
group) or SIGTERM (to its process alone), with two points training on two workers and one queued.

Each case runs `--repeats` times; printed are the median seconds from the (first) signal to the sweep's
exit and to the last process of its group gone, the exit codes, and the load average beside them. The
issue that asked for this measured 35-65 s for one Ctrl-C with the executor pool this replaced.

    python benchmarks/signal_exit.py            # 3 rounds, the figures docs/reliability.md quotes
    python benchmarks/signal_exit.py --quick    # 1 round
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Lines, arguments, load, main

CASES = {"ctrl-c once": (signal.SIGINT, False), "ctrl-c twice": (signal.SIGINT, True), "sigterm": (signal.SIGTERM, False)}


def sweep_args(out: Path) -> list[str]:
    return [sys.executable, "-m", "seqmem.cli", "sweep", "copy-memory", "--model", "rnn", "--hidden", "8",
            "--recall-length", "2", "--set", "test_size=20", "--set", "validation_size=20", "--quiet", "--steps",
            "1000000", "--eval-every", "5", "--over", "blank=3,4,5", "--workers", "2", "--out", str(out)]


def once(out: Path, signum: int, twice: bool) -> tuple[float, float, int]:
    process = subprocess.Popen(sweep_args(out), start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len([c for c in out.glob("*/checkpoint.pt") if (c.parent / ".lock").exists()]) < 2:
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("the sweep did not start two points")
        time.sleep(0.05)
    tic = time.monotonic()
    os.killpg(process.pid, signum) if signum == signal.SIGINT else process.send_signal(signum)
    if twice:
        time.sleep(1.5)
        os.killpg(process.pid, signum)
    _, stderr = process.communicate(timeout=300)
    exited = time.monotonic() - tic
    while True:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    if stderr.count("\n") != 1:
        raise SystemExit(f"expected one line on stderr, got: {stderr}")
    return exited, time.monotonic() - tic, process.returncode


def run(argv=None) -> int:
    parser = arguments(__doc__, "signal_exit", quick="1 round; writes nothing")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    lines = Lines("signal_exit")
    for name, (signum, twice) in CASES.items():
        exits, gones, codes = [], [], set()
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                exited, gone, code = once(Path(tmp) / "sweep", signum, twice)
            exits.append(exited)
            gones.append(gone)
            codes.add(code)
        for metric, values in (("seconds_to_exit", exits), ("seconds_to_nothing_running", gones)):
            lines.add(metric, round(statistics.median(values), 2), "s", case=name,
                      values=[round(v, 2) for v in values], exit_codes=sorted(codes), load_average_1min=load(),
                      repeats=repeats)
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
