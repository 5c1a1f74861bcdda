"""State-space models on the CPU: seconds per training step and peak memory, at L=1000 and L=10000.

Each measurement runs in a fresh process (one thread), so its peak resident memory is its own: copy memory
in the symbol layout (recall 10, blank L-20), batch 8, the model's default size, Adam; one warm-up step,
then the median of `--repeats` steps (forward, backward, optimizer step). Every model runs twice, with its
whole-sequence form (S4D's FFT convolution, LRU's and Mamba's parallel scans) and with a plain step-by-step
loop of the same recurrence; the ratio loop/whole of each is printed from the same run.

    python benchmarks/ssm_speed.py            # L = 1000 and 10000, every state-space model registered
    python benchmarks/ssm_speed.py --quick    # seconds: L = 50, one repeat, in this process, for tests
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {"s4d-fft": {"scan": "fft"}, "s4d-loop": {"scan": "loop"},
            "lru-parallel": {"scan": "parallel"}, "lru-loop": {"scan": "loop"},
            "mamba-parallel": {"scan": "parallel"}, "mamba-loop": {"scan": "loop"}}
WHOLE = {"s4d": "s4d-fft", "lru": "lru-parallel", "mamba": "mamba-parallel"}  # against `<model>-loop`


def measure(variant: str, length: int, repeats: int, batch: int) -> dict:
    """One variant at one length, in this process (called in a child by `main`)."""
    import torch

    import seqmem
    from seqmem.training.methods import make_method

    torch.set_num_threads(1)
    name = variant.split("-")[0]
    task = seqmem.make_task("copy-memory", blank=length - 20, recall_length=10, convention="symbols",
                            test_size=batch, validation_size=batch)
    model = seqmem.make_model(name, task, seed=0, **VARIANTS[variant])
    method = make_method(model, task, seqmem.TrainConfig(steps=1, batch_size=batch))
    data = task.get("test", torch.arange(batch))
    times = []
    for i in range(repeats + 1):
        tic = time.perf_counter()
        method.update(data)
        if i:
            times.append(time.perf_counter() - tic)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"variant": variant, "length": length, "batch": batch, "seconds_per_step": statistics.median(times),
            "peak_bytes": peak, "parameters": sum(p.numel() for p in model.parameters())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--lengths", default="1000,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--memory-gib", type=int, default=16, help="address space a measurement may use")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "ssm_speed.jsonl"))
    args = parser.parse_args(argv)
    if args.child:  # capped, so a form that needs more memory than the machine has fails alone, in one line
        resource.setrlimit(resource.RLIMIT_AS, (args.memory_gib * 2**30, resource.RLIM_INFINITY))
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.repeats, args.batch)))
        return 0
    from seqmem.models import MODELS
    from seqmem.runs import write_jsonl

    lengths = [50] if args.quick else [int(n) for n in args.lengths.split(",")]
    repeats = 1 if args.quick else args.repeats
    records = []
    for length in lengths:
        for variant in VARIANTS:
            if variant.split("-")[0] not in MODELS:
                continue
            if args.quick:  # seconds, not memory: no fresh process
                row = measure(variant, length, repeats, args.batch)
            else:
                done = subprocess.run([sys.executable, __file__, "--child", variant, str(length), "--repeats",
                                       str(repeats), "--batch", str(args.batch), "--memory-gib", str(args.memory_gib)],
                                      capture_output=True, text=True)
                if done.returncode:  # recorded, not fatal: a form too large for the machine is a result too
                    lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
                    records.append({"benchmark": "ssm_speed", "metric": "failed", "value": None, "unit": None,
                                    "variant": variant, "length": length, "batch": args.batch, "error": lines[-1]})
                    print(json.dumps(records[-1]), flush=True)
                    continue
                row = json.loads(done.stdout)
            metrics = (("seconds_per_step", "s"),) if args.quick else (("seconds_per_step", "s"), ("peak_bytes", "bytes"))
            for metric, unit in metrics:
                records.append({"benchmark": "ssm_speed", "metric": metric, "value": row[metric], "unit": unit,
                                "variant": variant, "length": length, "batch": args.batch,
                                "parameters": row["parameters"], "quick": args.quick})
                print(json.dumps(records[-1]), flush=True)
        step = {r["variant"]: r["value"] for r in records if r["length"] == length and r["metric"] == "seconds_per_step"}
        for model, whole in WHOLE.items():
            if whole in step and f"{model}-loop" in step:
                records.append({"benchmark": "ssm_speed", "metric": f"{model}_loop_over_whole_step_time",
                                "unit": "ratio", "value": step[f"{model}-loop"] / step[whole],
                                "numerator": f"{model}-loop (step by step)", "denominator": whole, "length": length,
                                "batch": args.batch, "quick": args.quick})
                print(json.dumps(records[-1]), flush=True)
    if not args.quick:
        write_jsonl(Path(args.out), records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
