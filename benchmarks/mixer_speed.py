"""The chunked mixers on the CPU: each mixer's training step in its chunked form beside its own step-by-step form,
against its FLOP floor, and its peak memory.

Each mixer of seqmem/mixers/ that has a step-by-step form is built alone (no backbone) at d_model 128 in float32,
from seed 0, and fed batch 8 of random inputs on one thread. A training step is the forward and the backward of a
fixed random projection of the output (the gradients of every parameter and of the input); no optimizer. The
chunked and the step-by-step forms run on the same weights, their outputs compared first
(`max_abs_output_difference`), their steps interleaved in rotating order after a warm-up step each; the ratio is
the median of per-round ratios, so load on the machine largely cancels. The step-by-step form is timed only up to
`--step-lengths` (its loop over steps is slow by design).

FLOP floor: the mixer's own `flops(L)` (its docstring counts it: the projections and the chunked form's matmuls)
times the batch, times 3 for forward and backward, at this machine's float32 matmul rate on one thread (1024 x 1024
@ 1024 x 1024, measured in the same run); `over_floor` is a step's time over it. Peak memory is the peak resident
size of a fresh process during one chunked step, less what it held before the step (the peak reset before it).

    python benchmarks/mixer_speed.py                     # L = 1024 and 8192, every chunked mixer
    python benchmarks/mixer_speed.py --mixers gla,deltanet --lengths 1024
    python benchmarks/mixer_speed.py --quick             # seconds: L = 40, d_model 16, one round, for tests
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys

import torch
from harness import Lines, arguments, main, matmul_gflops, median_ratio, reset_peak, resident, rotated, seconds

NAME = "mixer_speed"


def chunked_mixers() -> list[str]:
    """The registered mixers of seqmem/mixers/ that have a step-by-step form, by name."""
    from seqmem.models import MODELS

    names = [n for n in MODELS if MODELS.entries[n].module.startswith("seqmem.mixers.")]
    return sorted(n for n in names if hasattr(MODELS.cls(n), "step_by_step"))


def build(name: str, d_model: int):
    from seqmem.models import MODELS

    torch.manual_seed(0)
    return MODELS.cls(name)(d_model)


def training_step(mixer, form: str, u: torch.Tensor, weights: torch.Tensor):
    """Forward and backward of a fixed projection of the output; the output."""
    mixer.zero_grad(set_to_none=True)
    x = u.detach().requires_grad_(True)
    y = getattr(mixer, form)(x)[0]
    (y * weights).sum().backward()
    return y.detach()


def compare(name: str, length: int, batch: int, d_model: int, repeats: int, step_limit: int, rate: float) -> list[dict]:
    """One mixer at one length: the chunked form's step, the step-by-step form's beside it where L <= step_limit."""
    mixer = build(name, d_model)
    generator = torch.Generator().manual_seed(1)
    u = torch.randn(batch, length, d_model, generator=generator)
    weights = torch.randn(batch, length, d_model, generator=generator)
    forms = ["forward", "step_by_step"] if length <= step_limit else ["forward"]
    outputs = {form: training_step(mixer, form, u, weights) for form in forms}  # the warm-up step each
    times = {form: [] for form in forms}
    for _, form in rotated(forms, repeats):
        times[form].append(seconds(lambda form=form: training_step(mixer, form, u, weights)))
    floor = 3 * batch * mixer.flops(length) / (rate * 1e9)
    common = {"mixer": name, "length": length, "batch": batch, "d_model": d_model, "repeats": repeats,
              "threads": torch.get_num_threads(), "load_average": list(os.getloadavg()),
              "parameters": sum(p.numel() for p in mixer.parameters()), "state_size": mixer.state_size(length)}
    records = []
    for form in forms:
        step = statistics.median(times[form])
        records.append({"metric": "step_seconds", "value": step, "unit": "s", "form": form, "floor_seconds": floor,
                        "over_floor": step / floor, "floor_gflop": floor * rate, "matmul_gflop_per_second": rate})
    if "step_by_step" in forms:
        difference = (outputs["forward"] - outputs["step_by_step"]).abs().max().item()
        records.append({"metric": "max_abs_output_difference", "value": difference, "unit": "output"})
        records.append({"metric": "step_time_ratio", "value": median_ratio(times["step_by_step"], times["forward"]),
                        "unit": "ratio", "numerator": "step_by_step", "denominator": "forward"})
    return [{**common, **r} for r in records]


def peak_memory(name: str, length: int, batch: int, d_model: int) -> dict:
    """Peak resident bytes one chunked training step of the mixer adds to what the process held before it:
    the peak is reset just before the step (`reset_peak`), so an earlier peak (PyTorch's import, the build)
    does not hide it."""
    mixer = build(name, d_model)
    u, weights = torch.randn(batch, length, d_model), torch.randn(batch, length, d_model)
    before = reset_peak()
    training_step(mixer, "forward", u, weights)
    peak = resident("VmHWM")
    return {"benchmark": NAME, "metric": "peak_step_bytes", "value": peak - before, "unit": "bytes",
            "peak_bytes": peak, "mixer": name, "length": length, "batch": batch, "d_model": d_model}


def child(args, name: str, length: int) -> dict:
    """`peak_memory` in a fresh process capped at --memory-gib, so a form too large fails alone."""
    done = subprocess.run([sys.executable, __file__, "--memory", name, str(length), "--batch", str(args.batch),
                           "--d-model", str(args.d_model), "--memory-gib", str(args.memory_gib)],
                          capture_output=True, text=True)
    if done.returncode:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return {"benchmark": NAME, "metric": "failed", "value": None, "unit": None, "mixer": name, "length": length,
                "error": lines[-1]}
    return json.loads(done.stdout.splitlines()[-1])


def run(argv=None) -> int:
    parser = arguments(__doc__, NAME, quick="L = 40, d_model 16, one round, no memory processes; writes nothing")
    parser.add_argument("--mixers", default=None, help="comma-separated names (default: every chunked mixer)")
    parser.add_argument("--lengths", default="1024,8192")
    parser.add_argument("--step-lengths", type=int, default=1024, help="time the step-by-step form up to this length")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--memory-gib", type=int, default=16, help="address space a memory measurement may use")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--memory", nargs=2, help=argparse.SUPPRESS)  # mixer length, in a child
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.memory:
        resource.setrlimit(resource.RLIMIT_AS, (args.memory_gib * 2**30, resource.RLIM_INFINITY))
        print(json.dumps(peak_memory(args.memory[0], int(args.memory[1]), args.batch, args.d_model)), flush=True)
        return 0
    names = args.mixers.split(",") if args.mixers else chunked_mixers()
    lines = Lines(NAME)
    rate = matmul_gflops(256 if args.quick else 1024)
    lines.add("matmul_gflop_per_second", rate, "GFLOP/s", size=256 if args.quick else 1024, threads=1)
    for length in [40] if args.quick else [int(n) for n in args.lengths.split(",")]:
        for name in names:
            if args.quick:
                lines.extend(compare(name, length, 2, 16, 1, length, rate))
                continue
            lines.extend(compare(name, length, args.batch, args.d_model, args.repeats, args.step_lengths, rate))
            if not args.no_memory:
                lines.extend([child(args, name, length)])
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
