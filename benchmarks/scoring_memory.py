"""The peak memory of scoring trained runs at other lengths than training's: each run at each of its
`eval_lengths`, in a fresh process, beside the state its model carries there.

A run scored at other lengths (a task's `eval_lengths`: summary.json's `by_length`) reads each test set 1024
steps a forward with its state carried from chunk to chunk (seqmem/training/metrics.py, `evaluate_streamed`).
What that costs in memory depends on the state: a recurrent model's (Mamba's scan and convolution inputs) is
the same at every length, attention's (the keys and values seen so far, a KV cache) grows with it, and so do
its scores against that cache. This measures it. For each run and length a child process loads the run (its
last weights), draws the test set at that length (the same sequences `by_length` was scored on) and holds
it, resets the peak resident size (`reset_peak`), scores it as the run's end did (one thread, denormals
flushed) and reads the peak (VmHWM): `value` is the peak less what the process held before (PyTorch, the
model, the test set), so it is the scoring's own. Its recall is set beside the run's own `by_length` recall
(`recorded_recall_accuracy`): the same weights on the same sequences, so they agree. `state_size` is the
model's count of the numbers a sequence carries after `length` steps; every row of a block is read at once.

    python benchmarks/scoring_memory.py runs/bench/induction-heads          # every run under it with by_length
    python benchmarks/scoring_memory.py RUN --lengths 512,16384 --out m.jsonl
    python benchmarks/scoring_memory.py --quick      # seconds: two tiny runs trained and measured, for tests
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Lines, arguments, main, reset_peak, resident

NAME = "scoring_memory"


def run_folders(paths: list[str]) -> list[Path]:
    """Each path that is a run (its config.json), else every run under it that was scored at other lengths."""
    from seqmem.errors import ConfigError

    runs = []
    for path in map(Path, paths):
        if (path / "config.json").is_file():
            runs.append(path)
            continue
        found = sorted(s.parent for s in path.glob("*/summary.json") if "by_length" in json.loads(s.read_text()))
        if not found:
            raise ConfigError(f"{path} is neither a run folder nor a folder of runs scored at other lengths "
                              f"(summary.json with by_length): give runs trained with eval_lengths")
        runs += found
    return runs


def measure(run: Path, length: int) -> dict:
    """The run's test set at `length` scored in this process; the scoring's peak resident bytes and its recall."""
    import torch

    from seqmem.models import state_numbers
    from seqmem.run.denormals import flushed_denormals
    from seqmem.run.experiment import load
    from seqmem.training.metrics import STREAM_CHUNK, evaluate_streamed

    torch.set_num_threads(1)
    loaded = load(run)
    task, model, config = loaded.task, loaded.model, loaded.config
    blocks = list(task.test_at(length))  # drawn and held before the peak is reset: the data is not the scoring
    before = reset_peak()
    tic = time.perf_counter()
    with flushed_denormals():
        scores = evaluate_streamed(model, blocks, getattr(task, "tolerance", None))
    seconds = time.perf_counter() - tic
    peak = resident("VmHWM")
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
    recorded = summary.get("by_length", {}).get(str(length), {}).get("recall_accuracy")
    return {"benchmark": NAME, "metric": "peak_scoring_bytes", "value": peak - before, "unit": "bytes",
            "peak_bytes": peak, "held_before_bytes": before, "run": run.name, "model": config["model"]["name"],
            "seed": config["train"]["seed"], "lr": config["train"]["lr"], "train_length": task.length,
            "length": length, "rows": sum(len(b) for b in blocks), "blocks": len(blocks), "chunk": STREAM_CHUNK,
            "state_size": state_numbers(model, length), "scoring_seconds": seconds,
            "recall_accuracy": scores.recall_accuracy, "recorded_recall_accuracy": recorded,
            "memoryless_recall_accuracy": task.baseline_at(length).recall_accuracy, "threads": 1,
            "load_average": list(os.getloadavg())}


def child(run: Path, length: int, memory_gib: int) -> dict:
    """`measure` in a fresh process capped at `memory_gib` of address space, so a length too large fails alone."""
    done = subprocess.run([sys.executable, __file__, "--measure", str(run), str(length), "--memory-gib",
                           str(memory_gib)], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return {"benchmark": NAME, "metric": "failed", "value": None, "unit": None, "run": run.name, "length": length,
                "error": lines[-1]}
    return json.loads(done.stdout.splitlines()[-1])


def quick_runs(folder: Path) -> list[Path]:
    """Two tiny runs of induction heads (attention and Mamba, 2 updates) scored at 64 and 128 steps."""
    import seqmem

    runs = []
    for model in ("attention", "mamba"):
        config = seqmem.make_config({"task": {"name": "induction-heads", "length": 32, "eval_lengths": "64,128",
                                              "test_size": 4, "validation_size": 4},
                                     "model": {"name": model, "d_model": 8, "layers": 1},
                                     "train": {"steps": 2, "batch_size": 4, "eval_every": 2}})
        seqmem.run_experiment(config, folder / model, progress=False, say=lambda *_: None)
        runs.append(folder / model)
    return runs


def run(argv=None) -> int:
    parser = arguments(__doc__, NAME, quick="two tiny runs trained in a temporary folder and measured; writes nothing")
    parser.add_argument("runs", nargs="*", help="run folders, or folders of runs (a bench's or a sweep's --out)")
    parser.add_argument("--lengths", default=None, help="comma-separated lengths (default: each run's eval_lengths)")
    parser.add_argument("--memory-gib", type=int, default=16, help="address space a measurement may use")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)  # run length, in a child
    args = parser.parse_args(argv)
    if args.measure:
        resource.setrlimit(resource.RLIMIT_AS, (args.memory_gib * 2**30, resource.RLIM_INFINITY))
        print(json.dumps(measure(Path(args.measure[0]), int(args.measure[1]))), flush=True)
        return 0
    from seqmem.errors import ConfigError

    if not args.quick and not args.runs:
        raise ConfigError("name the runs to measure (run folders, or a bench's --out), or give --quick")
    lines = Lines(NAME)
    with tempfile.TemporaryDirectory() as scratch:
        runs = quick_runs(Path(scratch)) if args.quick else run_folders(args.runs)
        for folder in runs:
            config = json.loads((folder / "config.json").read_text())
            text = args.lengths or config["task"].get("eval_lengths", "")
            lengths = [int(n) for n in text.split(",") if n.strip()]
            if not lengths:
                raise ConfigError(f"{folder} was scored at no other length: give --lengths")
            lines.extend([child(folder, length, args.memory_gib) for length in lengths])
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
