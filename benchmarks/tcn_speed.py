"""Training speed of seqmem's TCN beside pytorch-tcn's, same architecture and outputs, one run, interleaved.

Both nets: causal dilated residual blocks (dilation 2**i), two weight-normed convolutions a block, ReLU,
a 1x1 convolution on the first block's residual, a linear head (every step for copy memory, the last step
for the sequential images). The peer is given our weights, and the largest difference of the two nets'
outputs is recorded beside both parameter counts.

Each repetition times a training step of each net on the same batch (forward with the loss, backward,
Adam step), rotating which goes first; a ratio is the median of per-repetition ratios, so load on the
machine (which slows both) largely cancels. On the images setting seqmem's TCN runs its last-step form
(level i on every 2**i-th step); `seqmem all steps` is the same net computing every step, reading the last.

FLOPs counted (the convolutions and the head; elementwise work and Adam not counted): a convolution's
forward is 2 B L C_out C_in K, the first block's 1x1 convolution 2 B L C 1, the head 2 B L' C classes
(L' = L per step, 1 for the last step); the backward is counted as twice the forward (the input's and the
weight's gradient). `dense_gflop` is that count for every step (the work the peer does), and the rate
`effective_gflop_per_second` divides it by the step time; `performed_gflop` counts the steps the
last-step form computes. Rates are also given as a fraction of one thread's float32 matmul rate
(1024 x 1024 @ 1024 x 1024), measured in the same run.

Last, images a second for notebook 003's TCN (dropout 0.05) on two threads: training (batch 128) and
scoring (eval, no gradient, batch 1000), with the epoch (60000 images) and the 10000-image test set
they imply. The machine has two cores and other work may run on the second one, so that measurement
competes with it; the load average is recorded.

    pip install pytorch-tcn          # the peer (extra: seqmem[compare])
    python benchmarks/tcn_speed.py [--quick]
"""

from __future__ import annotations

import copy
import os
import statistics
import sys
import time
import warnings
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from harness import Lines, arguments, interleaved, main, matmul_gflops, median_ratio, rotated, seconds
from torch import nn

from seqmem.kernels.causal_conv import causal_conv1d
from seqmem.models import count_parameters
from seqmem.models.tcn import TCN

SETTINGS = [  # (name, length, batch, levels, kernel, channels, per_step): notebooks 000 and 003
    ("copy T=1000", 1020, 32, 8, 8, 10, True),
    ("sMNIST", 784, 128, 8, 7, 30, False),
]
CLASSES = 10
NAME = "tcn_speed"


def task_for(per_step: bool):
    """What a TCN reads of a task: one float channel in, ten classes out, at every step or the last."""
    return SimpleNamespace(name="tcn-speed", vocab_size=None, input_channels=1, num_classes=CLASSES,
                           per_step=per_step, cond_size=None)


class PeerTCN(nn.Module):
    """pytorch-tcn's TCN with the same head as ours, inputs (B, L, C)."""

    def __init__(self, levels: int, kernel: int, channels: int, per_step: bool, dropout: float = 0.0):
        super().__init__()
        from pytorch_tcn import TCN as Peer

        self.tcn = Peer(1, [channels] * levels, kernel_size=kernel, dropout=dropout, causal=True,
                        use_norm="weight_norm", input_shape="NLC")
        self.head = nn.Linear(channels, CLASSES)
        self.per_step = per_step

    def forward(self, x):
        h = self.tcn(x)
        return self.head(h if self.per_step else h[:, -1]), None


class AllSteps(nn.Module):
    """Our TCN computing every step (as the peer does), read at the last one."""

    def __init__(self, model: TCN):
        super().__init__()
        self.model = copy.deepcopy(model)
        self.model.head.per_step = True

    def forward(self, x):
        return self.model(x)[0][:, -1], None


def peer_weights(ours: TCN) -> dict:
    """Our state_dict under the peer's names (blocks.i.* -> tcn.network.i.*, head.linear -> head)."""
    rename = {"blocks.": "tcn.network.", "head.linear.": "head.", ".conv.": "."}
    out = {}
    for key, value in ours.state_dict().items():
        for old, new in rename.items():
            key = key.replace(old, new)
        out[key] = value
    return out


def nets(length, levels, kernel, channels, per_step, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    ours = TCN(task_for(per_step), levels=levels, kernel_size=kernel, channels=channels, dropout=dropout)
    peer = PeerTCN(levels, kernel, channels, per_step, dropout)
    missing, unexpected = peer.load_state_dict(peer_weights(ours), strict=False)
    if unexpected or any("padder" not in k for k in missing):  # the peer's streaming buffers are not weights
        raise RuntimeError(f"weights do not map onto the peer: missing {missing}, unexpected {unexpected}")
    return ours, peer


def loss_of(model, x, y):
    logits, _ = model(x)
    return F.cross_entropy(logits.reshape(-1, CLASSES), y.reshape(-1))


def timed_step(model, optimizer, x, y) -> tuple[float, float, float]:
    """Seconds of the forward (with the loss), the backward and the Adam step."""
    t0 = time.perf_counter()
    loss = loss_of(model, x, y)
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return t1 - t0, t2 - t1, time.perf_counter() - t2


def conv_flops(length, batch, levels, kernel, channels, per_step, last_step_form=False) -> float:
    """Training-step FLOPs as the module docstring counts them."""
    forward, steps = 0.0, length
    for level in range(levels):
        c_in = 1 if level == 0 else channels
        forward += 2 * batch * steps * channels * (c_in + channels) * kernel
        if c_in != channels:
            forward += 2 * batch * steps * channels * c_in
        if last_step_form:
            steps = (steps + 1) // 2
    forward += 2 * batch * (length if per_step else 1) * channels * CLASSES
    return 3 * forward


def compare(name, length, batch, levels, kernel, channels, per_step, repeats, matmul_rate):
    ours, peer = nets(length, levels, kernel, channels, per_step)
    contenders = {"seqmem": ours, "pytorch-tcn": peer}
    if not per_step:
        contenders["seqmem all steps"] = AllSteps(ours)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, length, 1, generator=gen)
    y = torch.randint(0, CLASSES, (batch, length) if per_step else (batch,), generator=gen)
    with torch.no_grad():
        outs = {k: m.eval()(x)[0] for k, m in contenders.items()}
    shapes = {k: list(o.shape) for k, o in outs.items()}
    difference = max((o - outs["seqmem"]).abs().max().item() for o in outs.values())
    params = {k: count_parameters(m) for k, m in contenders.items()}
    optimizers = {k: torch.optim.Adam(m.train().parameters(), lr=1e-3) for k, m in contenders.items()}
    names = list(contenders)
    for k in names:  # warm-up
        timed_step(contenders[k], optimizers[k], x, y)
    times = {k: [] for k in names}  # per repetition: (forward, backward, adam)
    for _, k in rotated(names, repeats):
        times[k].append(timed_step(contenders[k], optimizers[k], x, y))
    settings = {"setting": name, "length": length, "batch_size": batch, "levels": levels, "kernel_size": kernel,
                "channels": channels, "per_step": per_step, "repeats": repeats, "threads": torch.get_num_threads()}
    records = [
        {"metric": "max_abs_output_difference", "value": difference, "unit": "logit",
         "output_shapes": shapes, "parameters": params},
    ]
    parts = {"step": slice(0, 3), "forward": slice(0, 1), "backward": slice(1, 2), "adam": slice(2, 3)}
    for k in names:
        step = statistics.median(sum(t) for t in times[k])
        dense = conv_flops(length, batch, levels, kernel, channels, per_step)
        performed = conv_flops(length, batch, levels, kernel, channels, per_step,
                               last_step_form=(k == "seqmem" and not per_step))
        records.append({"metric": "step_seconds", "value": step, "unit": "s", "net": k, "parameters": params[k],
                        **{f"{p}_seconds": statistics.median(sum(t[s]) for t in times[k]) for p, s in parts.items()
                           if p != "step"}})
        records.append({"metric": "effective_gflop_per_second", "value": dense / step / 1e9, "unit": "GFLOP/s",
                        "net": k, "dense_gflop": dense / 1e9, "performed_gflop": performed / 1e9,
                        "performed_gflop_per_second": performed / step / 1e9,
                        "fraction_of_matmul": dense / step / 1e9 / matmul_rate,
                        "performed_fraction_of_matmul": performed / step / 1e9 / matmul_rate})
    for den in (k for k in names if k != "pytorch-tcn"):
        for p, s in parts.items():
            ratios = [sum(a[s]) / sum(b[s]) for a, b in zip(times["pytorch-tcn"], times[den], strict=True)]
            records.append({"metric": f"{p}_time_ratio", "value": statistics.median(ratios), "unit": "ratio",
                            "numerator": f"pytorch-tcn {p}", "denominator": f"{den} {p}"})
    return [{**r, **settings} for r in records]


def conv_seconds(length, batch, kernel, channels, dilation, repeats) -> dict[str, list[float]]:
    """One convolution's forward+backward, rotated: `F.conv1d` on the padded (B, C, L) input (what
    `nn.Conv1d` runs), the same with oneDNN off, and `causal_conv1d` on a (B, L, C) sequence."""
    left = (kernel - 1) * dilation
    gen = torch.Generator().manual_seed(dilation)
    w = torch.randn(channels, channels, kernel, generator=gen, requires_grad=True)
    b = torch.randn(channels, generator=gen, requires_grad=True)
    g = torch.randn(batch, length, channels, generator=gen).transpose(1, 2)
    ncw = torch.randn(batch, channels, length, generator=gen, requires_grad=True)
    nwc = ncw.detach().transpose(1, 2).contiguous().transpose(1, 2).requires_grad_()  # (B, L, C) in memory

    def conv1d():
        F.conv1d(F.pad(ncw, (left, 0)), w, b, dilation=dilation).backward(g)

    def conv1d_native():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a note on TF32 for Intel GPUs, whenever the flags change
            with torch.backends.mkldnn.flags(enabled=False):
                conv1d()

    def ours():
        causal_conv1d(nwc, w, b, dilation).backward(g)

    runs = {"conv1d": conv1d, "conv1d_no_onednn": conv1d_native, "causal_conv1d": ours}
    return interleaved({k: lambda run=run: seconds(run) for k, run in runs.items()}, repeats, warmup=1)


def conv_alternatives(name, length, batch, levels, kernel, channels, repeats):
    """`conv_seconds` at the first, a middle and the last level's dilation; ratios over `causal_conv1d`."""
    records = []
    for dilation in (1, 2 ** (levels // 2), 2 ** (levels - 1)):
        times = conv_seconds(length, batch, kernel, channels, dilation, repeats)
        settings = {"setting": name, "length": length, "batch_size": batch, "kernel_size": kernel,
                    "channels": channels, "dilation": dilation, "repeats": repeats}
        for k in ("conv1d", "conv1d_no_onednn"):
            records.append({"metric": "conv_forward_backward_time_ratio",
                            "value": median_ratio(times[k], times["causal_conv1d"]), "unit": "ratio", "numerator": k,
                            "denominator": "causal_conv1d",
                            "causal_conv1d_seconds": statistics.median(times["causal_conv1d"]), **settings})
    return records


def images(threads, repeats, batch=128, score_batch=1000, length=784, tiny=False):
    """Training and scoring images a second of notebook 003's TCN and the peer's, side by side."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    levels, kernel, channels = (3, 7, 30) if tiny else (8, 7, 30)
    ours, peer = nets(length, levels, kernel, channels, per_step=False, dropout=0.05)
    contenders = {"seqmem": ours, "pytorch-tcn": peer}
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, length, 1, generator=gen)
    y = torch.randint(0, CLASSES, (batch,), generator=gen)
    scored = torch.randn(score_batch, length, 1, generator=gen)
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=2e-3) for k, m in contenders.items()}
    train_s, score_s = {k: [] for k in contenders}, {k: [] for k in contenders}
    for i in range(repeats + 1):
        for k in list(contenders)[:: 1 if i % 2 else -1]:
            model = contenders[k].train()
            seconds = sum(timed_step(model, optimizers[k], x, y))
            model.eval()
            tic = time.perf_counter()
            with torch.no_grad():
                model(scored)
            if i:  # the first round warms up
                train_s[k].append(seconds)
                score_s[k].append(time.perf_counter() - tic)
    torch.set_num_threads(before)
    settings = {"setting": "sMNIST images", "length": length, "batch_size": batch, "score_batch_size": score_batch,
                "levels": levels, "kernel_size": kernel, "channels": channels, "dropout": 0.05, "threads": threads,
                "repeats": repeats, "load_average_1min": os.getloadavg()[0],
                "note": "two cores; another training process may run on the second, and competes with this"}
    records = []
    for k in contenders:
        train_ips = batch / statistics.median(train_s[k])
        score_ips = score_batch / statistics.median(score_s[k])
        records += [
            {"metric": "train_images_per_second", "value": train_ips, "unit": "images/s", "net": k,
             "epoch_seconds": 60000 / train_ips},
            {"metric": "score_images_per_second", "value": score_ips, "unit": "images/s", "net": k,
             "test_set_seconds": 10000 / score_ips},
        ]
    for metric, times in (("train_images_per_second_ratio", train_s), ("score_images_per_second_ratio", score_s)):
        records.append({"metric": metric, "value": median_ratio(times["pytorch-tcn"], times["seqmem"]),
                        "unit": "ratio", "numerator": "seqmem images/s", "denominator": "pytorch-tcn images/s"})
    return [{**r, **settings} for r in records]


def run(argv=None) -> int:
    parser = arguments(__doc__, NAME, quick="tiny settings, seconds (for tests); writes nothing")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--image-threads", type=int, default=2, help="threads for the images measurement")
    parser.add_argument("--no-images", action="store_true", help="skip the images measurement")
    args = parser.parse_args(argv)
    try:
        import pytorch_tcn  # noqa: F401
    except ImportError:
        print("tcn_speed: the peer is not installed: pip install pytorch-tcn (or seqmem[compare])", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    repeats = 3 if args.quick else args.repeats
    lines = Lines(NAME)
    emit = lines.extend

    rate = matmul_gflops(256 if args.quick else 1024)
    lines.add("matmul_gflop_per_second", rate, "GFLOP/s", size=256 if args.quick else 1024, threads=1)
    for name, length, batch, levels, kernel, channels, per_step in SETTINGS:
        if args.quick:
            length, batch, levels = 64, 4, 3
        emit(compare(name, length, batch, levels, kernel, channels, per_step, repeats, rate))
        emit(conv_alternatives(name, length, batch, levels, kernel, channels, repeats))
    if not args.no_images:
        emit(images(1 if args.quick else args.image_threads, 2 if args.quick else 5,
                    score_batch=8 if args.quick else 1000, length=64 if args.quick else 784, tiny=args.quick))
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
