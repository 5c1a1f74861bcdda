"""State-space models on the CPU: each model's training step beside its peers, on the same weights.

Copy memory in the symbol layout (recall 10, blank L-20), batch 8, each model at its default size, Adam,
one thread. For each model and length the contenders are built from one seqmem model, so they hold the
same weights, and the largest difference of their logits from seqmem's is recorded before any training:

- mamba: seqmem's chunked scan (the default) compiled (`seqmem/kernels/selective_scan.c`) and in PyTorch
  (what ran before the C, and where no C compiler is found), its step-by-step loop (`--scan loop`, the
  default before both), and mambapy's own block in place of each of ours (the `compare` extra), with its
  parallel scan (pscan) and with its sequential scan. mambapy's forward starts from a zero state and
  returns none, as here.
- s4d: seqmem's, and the standalone S4D layer of state-spaces/s4 (`models/s4/s4d.py`: the kernel
  2 Re(C (exp(dt A) - 1) / A exp(dt A l)) from the whole (H, N/2, L) Vandermonde tensor, FFT convolution,
  D skip, GELU, a 1x1 convolution and GLU), re-implemented here from that formula, in our residual stack.
- lru: seqmem's chunked scan (the default) with its recurrence compiled (`seqmem/kernels/lru.c`) and in
  PyTorch (chunk matmuls, what ran before the C), its doubling scan over every step (the default before
  both), and its step-by-step loop.

The step-by-step loops run at L=1000 only. They index one step of the whole `(B, L, .)` tensors at a
time, and autograd's gradient of each such index is a zero tensor of the whole size with one step filled
in, so their backward moves L times the whole tensor: at L=10000 a hundred times their work at L=1000
(mambapy's sequential scan indexes `(B, L, E, N)` tensors, ours `(B, L, E)` ones). Timing runs in one
fresh process a model and length, the contenders' steps interleaved in rotating order after a warm-up
step each; a ratio is the median of the per-round ratios of a contender's step time to seqmem's, so load
on the machine, which slows both, largely cancels. Peak memory is the peak resident size of a fresh
process that builds the contender and runs one step (capped by `--memory-gib`: a form that needs more
fails alone, recorded as failed).

FLOP floor (matmuls and the recurrences; norms, activations, the loss and Adam not counted): a linear
map of n = B L tokens costs 2 n fan_in fan_out; Mamba's depthwise convolution 2 n E K and its scan
8 n E N (the decay's product and exponential, the drive's two products, the recurrence's multiply-add,
the readout's multiply-add); S4D's convolution per channel and sequence two real FFTs of 2L points
(2.5 (2L) log2(2L) each) and the product of their L+1 frequencies (6 each), its kernel 8 H (N/2) L; the
LRU's complex B and C maps four real ones and its recurrence 8 n N. The backward is counted as twice the
forward. The floor is that count at this machine's float32 matmul rate on one thread (1024 x 1024 @
1024 x 1024, measured in the same run); `over_floor` is a step's time over it.

    python benchmarks/ssm_speed.py            # L = 1000 and 10000
    python benchmarks/ssm_speed.py --quick    # seconds: L = 50, one round, in this process, for tests
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import resource
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F
from harness import Lines, arguments, main, matmul_gflops, median_ratio, rotated, seconds
from torch import nn

NAME = "ssm_speed"
MODELS = ("mamba", "s4d", "lru")
LOOPS_UP_TO = 1000  # longest length the step-by-step contenders run at


class MambapyBlock(nn.Module):
    """mambapy's MambaBlock given the weights of one of ours, in our block's interface (no state)."""

    def __init__(self, ours, pscan: bool):
        super().__init__()
        from mambapy.mamba import MambaBlock, MambaConfig

        inner = ours.D.shape[0]
        config = MambaConfig(d_model=ours.in_proj.in_features, n_layers=1, d_state=ours.d_state,
                             expand_factor=inner // ours.in_proj.in_features, d_conv=ours.conv_size,
                             dt_rank=ours.dt_rank, pscan=pscan)
        self.block = MambaBlock(config)
        self.block.load_state_dict({k.replace("conv.", "conv1d."): v for k, v in ours.state_dict().items()})

    def forward(self, u, state=None):
        return self.block(u), None


class S4Layer(nn.Module):
    """state-spaces/s4's standalone S4D layer (models/s4/s4d.py) by its formula, given our layer's weights
    and our GLU mixing as its 1x1 convolution, in place of our S4D mixer."""

    def __init__(self, ours, mix: nn.Linear):
        super().__init__()
        self.log_dt, self.A_imag, self.C, self.D = (nn.Parameter(p.detach().clone())
                                                    for p in (ours.log_dt, ours.A_imag, ours.C, ours.D))
        self.log_A_real = nn.Parameter(ours.log_neg_A_real.detach().clone())
        self.output_linear = nn.Conv1d(mix.in_features, mix.out_features, kernel_size=1)
        with torch.no_grad():
            self.output_linear.weight.copy_(mix.weight.unsqueeze(-1))
            self.output_linear.bias.copy_(mix.bias)

    def kernel(self, L: int) -> torch.Tensor:
        A = torch.complex(-torch.exp(self.log_A_real), self.A_imag)  # (H, N/2)
        dtA = A * torch.exp(self.log_dt).unsqueeze(-1)
        vandermonde = torch.exp(dtA.unsqueeze(-1) * torch.arange(L))  # (H, N/2, L)
        weights = torch.view_as_complex(self.C) * (torch.exp(dtA) - 1) / A
        return 2 * torch.einsum("hn,hnl->hl", weights, vandermonde).real  # (H, L)

    def forward(self, u, state=None):
        """u `(B, L, H)` as a mixer on the backbone; it starts from a zero state and returns none."""
        u = u.transpose(1, 2)  # (B, H, L)
        L = u.shape[-1]
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * torch.fft.rfft(self.kernel(L), n=2 * L), n=2 * L)[..., :L]
        y = F.gelu(y + u * self.D.unsqueeze(-1))
        return F.glu(self.output_linear(y), dim=-2).transpose(1, 2), None


def with_mixers(model, make_mixer):
    """A copy of `model` (a backbone) with each block's mixer replaced by `make_mixer(mixer)`."""
    peer = copy.deepcopy(model)
    for block in peer.blocks:
        block.mixer = make_mixer(block.mixer)
    return peer


class WithoutC(nn.Module):
    """`model` running its scans' PyTorch forms (`native.switched_off`: chosen in the forward, for the
    backward too)."""

    def __init__(self, model):
        super().__init__()
        self.model = copy.deepcopy(model)

    def forward(self, *args, **kwargs):
        from seqmem.kernels import native

        with native.switched_off():
            return self.model(*args, **kwargs)


def with_scan(model, name: str, scan: str):
    """A copy of `model` running another of its scans."""
    other = copy.deepcopy(model)
    if name == "mamba":
        from seqmem.models.mamba import SCANS
    else:
        from seqmem.models.lru import SCANS
    for block in other.blocks:
        block.mixer.scan = SCANS[scan]
    return other


def contenders(name: str, model, length: int) -> dict:
    """Name -> a model with `model`'s weights; seqmem's own first."""
    loops = length <= LOOPS_UP_TO
    if name == "mamba":
        out = {"seqmem": model, "seqmem pytorch": WithoutC(model)}
        if loops:
            out["seqmem loop"] = with_scan(model, name, "loop")
        out["mambapy pscan"] = with_mixers(model, lambda b: MambapyBlock(b, pscan=True))
        if loops:
            out["mambapy sequential"] = with_mixers(model, lambda b: MambapyBlock(b, pscan=False))
        return out
    if name == "s4d":
        return {"seqmem": model, "state-spaces/s4 S4D": with_mixers(model, lambda m: S4Layer(m.ssm, m.mix))}
    out = {"seqmem": model, "seqmem pytorch": WithoutC(model), "seqmem doubling": with_scan(model, name, "parallel")}
    if loops:
        out["seqmem loop"] = with_scan(model, name, "loop")
    return out


def setting(name: str, length: int, batch: int):
    import seqmem

    task = seqmem.make_task("copy-memory", blank=length - 20, recall_length=10, convention="symbols",
                            test_size=batch, validation_size=batch)
    return task, seqmem.make_model(name, task, seed=0), task.get("test", torch.arange(batch))


def floor_flops(name: str, model, batch: int, length: int) -> float:
    """Training-step FLOPs as the module docstring counts them."""
    n = batch * length
    forward = sum(2 * n * m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    if name == "mamba":
        for block in (b.mixer for b in model.blocks):
            inner = block.D.shape[0]
            forward += 2 * n * inner * block.conv_size + 8 * n * inner * block.d_state
    elif name == "s4d":
        for layer in (b.mixer.ssm for b in model.blocks):
            channels, modes = layer.C.shape[:2]
            fft = 2.5 * (2 * length) * math.log2(2 * length)
            forward += batch * channels * (2 * fft + 6 * (length + 1)) + 8 * channels * modes * length
    else:
        for block in (b.mixer for b in model.blocks):
            modes, width = block.lru.B_re.shape
            forward += 4 * 2 * n * width * modes + 8 * n * modes
    return 3 * forward


def compare(name: str, length: int, batch: int, repeats: int, matmul_rate: float) -> list[dict]:
    """Every contender of one model at one length: outputs checked equal, then steps interleaved."""
    import seqmem
    from seqmem.models import count_parameters
    from seqmem.training.methods import make_method

    task, model, data = setting(name, length, batch)
    nets = contenders(name, model, length)
    with torch.no_grad():
        logits = {k: m.eval()(data.x)[0] for k, m in nets.items()}
    methods = {k: make_method(m.train(), task, seqmem.TrainConfig(steps=1, batch_size=batch)) for k, m in nets.items()}
    names = list(nets)
    times = {k: [seconds(lambda k=k: methods[k].update(data))] for k in names}  # the first is the warm-up
    for _, k in rotated(names, repeats):
        times[k].append(seconds(lambda k=k: methods[k].update(data)))
    floor = floor_flops(name, model, batch, length) / (matmul_rate * 1e9)
    common = {"benchmark": NAME, "model": name, "length": length, "batch": batch, "repeats": repeats,
              "threads": torch.get_num_threads(), "load_average": list(os.getloadavg())}
    records = []
    for k in names:
        step = statistics.median(times[k][1:])
        difference = (logits[k] - logits["seqmem"]).abs().max().item()
        records.append({"metric": "max_abs_output_difference", "value": difference, "unit": "logit", "contender": k,
                        "parameters": count_parameters(nets[k])})
        records.append({"metric": "step_seconds", "value": step, "unit": "s", "contender": k,
                        "floor_seconds": floor, "over_floor": step / floor,
                        "floor_gflop": floor * matmul_rate, "matmul_gflop_per_second": matmul_rate})
    for k in names[1:]:
        records.append({"metric": "step_time_ratio", "value": median_ratio(times[k][1:], times["seqmem"][1:]),
                        "unit": "ratio", "numerator": k, "denominator": "seqmem"})
    return [{**common, **r} for r in records]


def peak_memory(name: str, contender: str, length: int, batch: int) -> dict:
    """Peak resident bytes of this process after building `contender` and running one step."""
    import seqmem
    from seqmem.training.methods import make_method

    task, model, data = setting(name, length, batch)
    net = contenders(name, model, length)[contender]
    del model
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    make_method(net, task, seqmem.TrainConfig(steps=1, batch_size=batch)).update(data)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"benchmark": NAME, "metric": "peak_bytes", "value": peak, "unit": "bytes", "before_step_bytes": before,
            "model": name, "contender": contender, "length": length, "batch": batch}


def child(args, *extra) -> list[dict]:
    """Run this script's `extra` measurement in a fresh, capped process; its JSON lines, or one failure."""
    done = subprocess.run([sys.executable, __file__, *extra, "--batch", str(args.batch), "--repeats",
                           str(args.repeats), "--memory-gib", str(args.memory_gib)], capture_output=True, text=True)
    if done.returncode:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return [{"benchmark": NAME, "metric": "failed", "value": None, "unit": None, "measurement": list(extra),
                 "batch": args.batch, "error": lines[-1]}]
    return [json.loads(line) for line in done.stdout.splitlines()]


def run(argv=None) -> int:
    parser = arguments(__doc__, NAME, quick="L = 50, one round, in this process; writes nothing")
    parser.add_argument("--lengths", default="1000,10000")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--memory-gib", type=int, default=16, help="address space a measurement may use")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--time", nargs=3, help=argparse.SUPPRESS)  # model length matmul-rate, in a child
    parser.add_argument("--memory", nargs=3, help=argparse.SUPPRESS)  # model contender length, in a child
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.time or args.memory:  # a child: capped, so a form too large for the machine fails alone
        resource.setrlimit(resource.RLIMIT_AS, (args.memory_gib * 2**30, resource.RLIM_INFINITY))
        rows = (compare(args.time[0], int(args.time[1]), args.batch, args.repeats, float(args.time[2])) if args.time
                else [peak_memory(args.memory[0], args.memory[1], int(args.memory[2]), args.batch)])
        for row in rows:
            print(json.dumps(row), flush=True)
        return 0
    try:
        import mambapy  # noqa: F401
    except ImportError:
        print("ssm_speed: the peer is not installed: pip install mambapy (or seqmem[compare])", file=sys.stderr)
        return 2
    lines = Lines(NAME)
    emit = lines.extend

    rate = matmul_gflops(256 if args.quick else 1024)
    lines.add("matmul_gflop_per_second", rate, "GFLOP/s", size=256 if args.quick else 1024, threads=1)
    lengths = [50] if args.quick else [int(n) for n in args.lengths.split(",")]
    for length in lengths:
        for name in args.models.split(","):
            if args.quick:
                emit(compare(name, length, args.batch, 1, rate))
                continue
            emit(child(args, "--time", name, str(length), str(rate)))
            if not args.no_memory:
                for contender in contenders(name, setting(name, 50, 2)[1], length):
                    emit(child(args, "--memory", name, contender, str(length)))
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
