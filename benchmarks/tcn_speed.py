"""Training speed of seqmem's TCN beside pytorch-tcn's, same architecture, one run, interleaved.

Both nets: causal dilated residual blocks (dilation 2**i), two weight-normed convolutions a block, ReLU,
no dropout, a linear head per step. Each repetition times one forward+backward of each net on the same
batch, alternating which goes first; the ratio is the median of per-repetition ratios, so load on the
machine (which slows both) largely cancels.

    pip install pytorch-tcn          # the peer (extra: seqmem[compare])
    python benchmarks/tcn_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from seqmem import make_model, make_task
from seqmem.runs import write_jsonl

SETTINGS = [  # (name, length, batch, levels, kernel, channels)
    ("copy T=1000", 1020, 32, 8, 8, 10),
    ("sMNIST", 784, 128, 8, 7, 30),
]


class PeerTCN(nn.Module):
    """pytorch-tcn's TCN with the same head as ours, inputs (B, L, C)."""

    def __init__(self, channels_in: int, levels: int, kernel: int, channels: int, classes: int):
        super().__init__()
        from pytorch_tcn import TCN

        self.tcn = TCN(channels_in, [channels] * levels, kernel_size=kernel, dropout=0.0, causal=True,
                       use_norm="weight_norm", input_shape="NLC")
        self.head = nn.Linear(channels, classes)

    def forward(self, x):
        return self.head(self.tcn(x)), None


def step_seconds(model, x, y) -> float:
    start = time.perf_counter()
    logits, _ = model(x)
    nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def compare(name, length, batch, levels, kernel, channels, repeats):
    task = make_task("copy-memory", blank=length - 20, test_size=1)
    ours = make_model("tcn", task, levels=levels, kernel_size=kernel, channels=channels,
                      allow_short_receptive_field=True)
    peer = PeerTCN(1, levels, kernel, channels, task.num_classes)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, length, 1, generator=gen)
    y = torch.randint(0, task.num_classes, (batch, length), generator=gen)
    for model in (ours, peer):  # warm-up
        step_seconds(model, x, y)
    ratios, ours_s, peer_s = [], [], []
    for i in range(repeats):
        pair = [(ours, ours_s), (peer, peer_s)]
        for model, times in pair if i % 2 == 0 else pair[::-1]:
            times.append(step_seconds(model, x, y))
        ratios.append(peer_s[-1] / ours_s[-1])
    settings = {"setting": name, "length": length, "batch_size": batch, "levels": levels, "kernel_size": kernel,
                "channels": channels, "repeats": repeats}
    return [
        {"benchmark": "tcn_speed", "metric": "step_time_ratio", "value": statistics.median(ratios), "unit": "ratio",
         "numerator": "pytorch-tcn forward+backward", "denominator": "seqmem tcn forward+backward", **settings},
        {"benchmark": "tcn_speed", "metric": "seqmem_step_seconds", "value": statistics.median(ours_s), "unit": "s",
         **settings},
        {"benchmark": "tcn_speed", "metric": "pytorch_tcn_step_seconds", "value": statistics.median(peer_s),
         "unit": "s", **settings},
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "tcn_speed.jsonl"))
    args = parser.parse_args(argv)
    try:
        import pytorch_tcn  # noqa: F401
    except ImportError:
        print("tcn_speed: the peer is not installed: pip install pytorch-tcn (or seqmem[compare])", file=sys.stderr)
        return 2
    records = []
    for name, length, batch, levels, kernel, channels in SETTINGS:
        if args.quick:
            length, batch, levels = 64, 4, 3
        for record in compare(name, length, batch, levels, kernel, channels, repeats=3 if args.quick else 20):
            print(json.dumps(record), flush=True)
            records.append(record)
    if not args.quick:
        write_jsonl(Path(args.out), records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
