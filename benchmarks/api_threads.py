"""Training from Python against the command line: 200 updates of a GRU 64 on echo letters, each side a fresh
process, alternated, the training seconds each reports (evaluation excluded), median of `--repeats`.

    python benchmarks/api_threads.py             # 3 each, the figure docs/usage.md quotes
    python benchmarks/api_threads.py --quick     # 1 each, for tests
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import Lines, arguments, load, main

API = """
import seqmem
task = seqmem.make_task("echo-letters")
model = seqmem.make_model("gru", task, hidden=64)
print(seqmem.train(model, task, seqmem.TrainConfig(steps=200, eval_every=200), progress=False).train_seconds)
"""


def run(argv=None) -> int:
    parser = arguments(__doc__, "api_threads", quick="one run each, for tests; writes nothing")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    args.repeats = 1 if args.quick else args.repeats
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # PyTorch's own default, as in a notebook
    script = Path(sys.executable).parent / "seqmem"
    seconds = {"python": [], "command line": []}
    for _ in range(args.repeats):
        done = subprocess.run([sys.executable, "-c", API], capture_output=True, text=True, env=env, check=True)
        seconds["python"].append(float(done.stdout.split()[-1]))
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([str(script), "train", "echo-letters", "--model", "gru", "--hidden", "64", "--steps", "200",
                            "--eval-every", "200", "--out", f"{out}/run", "--quiet"], env=env, capture_output=True,
                           check=True)
            seconds["command line"].append(json.loads(Path(out, "run", "summary.json").read_text())["train_seconds"])
    medians = {k: statistics.median(v) for k, v in seconds.items()}
    lines = Lines("api_threads")
    lines.add("python_over_command_line", round(medians["python"] / medians["command line"], 2), "ratio",
              numerator="python", denominator="command line", seconds=medians, repeats=args.repeats, load=load())
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
