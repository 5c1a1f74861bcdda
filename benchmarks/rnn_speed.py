"""Is anything faster than `nn.GRU` and `nn.RNN` on this CPU? A training step of each beside alternatives.

PyTorch runs its CPU LSTM through oneDNN, but its GRU and plain RNN cell by cell in ATen, the backward
through autograd's graph of every step. The alternatives, each on the same weights with its outputs and
gradients checked against PyTorch's module:

- `onednn`: `torch.ops.aten.mkldnn_rnn_layer`, the op PyTorch's LSTM uses, asked for a GRU or an RNN
  (PyTorch builds only oneDNN's LSTM primitive there, so this is recorded as failed if it refuses);
- `handwritten`: the recurrence written out, as the autograd Function `GRUFunction` / `RNNFunction` below:
  the input's projection for every step in one matmul, a loop of the step's matmul and gates outside
  autograd, then the reverse loop, the weights' gradients in one matmul over all steps at the end.

One thread, one process, steps interleaved in rotating order after a warm-up; a ratio is the median of
the per-round ratios of an alternative's step (forward, backward of the sum of the outputs weighted at
random) to the module's.

    python benchmarks/rnn_speed.py            # hidden 128, batch 32, L = 100 and 1000
    python benchmarks/rnn_speed.py --quick    # seconds, for tests; writes nothing
"""

from __future__ import annotations

import os
import statistics
import time

import torch
from harness import Lines, arguments, main, median_ratio, rotated
from torch import nn

NAME = "rnn_speed"


class GRUFunction(torch.autograd.Function):
    """PyTorch's GRU (r, z, n gates; n = tanh(W_in x + b_in + r (W_hn h + b_hn))), one layer, time first."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        gi = torch.addmm(b_ih, x.flatten(0, 1), w_ih.T).view(*x.shape[:2], -1)  # (L, B, 3H)
        H = h.shape[-1]
        keep = x.new_empty(5, *x.shape[:2], H)  # r, z, n, W_hn h + b_hn, the previous h
        out = x.new_empty(*x.shape[:2], H)
        for t in range(x.shape[0]):
            gh = torch.addmm(b_hh, h, w_hh.T)  # (B, 3H)
            rz = torch.sigmoid(gi[t, :, :2 * H] + gh[:, :2 * H])
            r, z = rz[:, :H], rz[:, H:]
            n = torch.tanh(torch.addcmul(gi[t, :, 2 * H:], r, gh[:, 2 * H:]))
            keep[0, t], keep[1, t], keep[2, t], keep[3, t], keep[4, t] = r, z, n, gh[:, 2 * H:], h
            h = torch.addcmul(n, z, h - n, out=out[t])
        ctx.save_for_backward(x, w_ih, w_hh, keep)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, w_ih, w_hh, keep = ctx.saved_tensors
        r, z, n, ghn, prev = keep
        L, H = x.shape[0], w_hh.shape[1]
        dgh = x.new_empty(L, x.shape[1], 3 * H)
        dgi = x.new_empty(L, x.shape[1], 3 * H)
        dh = torch.zeros_like(prev[0])
        for t in reversed(range(L)):
            dh = dh + grad_out[t]
            dn = dh * (1 - z[t]) * (1 - n[t] * n[t])  # through tanh
            dz = dh * (prev[t] - n[t]) * z[t] * (1 - z[t])
            dr = dn * ghn[t] * r[t] * (1 - r[t])
            dgi[t, :, :H], dgi[t, :, H:2 * H], dgi[t, :, 2 * H:] = dr, dz, dn
            dgh[t, :, :H], dgh[t, :, H:2 * H], dgh[t, :, 2 * H:] = dr, dz, dn * r[t]
            dh = torch.addmm(dh * z[t], dgh[t], w_hh)
        dgi2, dgh2 = dgi.flatten(0, 1), dgh.flatten(0, 1)
        return ((dgi2 @ w_ih).view_as(x), dh, dgi2.T @ x.flatten(0, 1), dgh2.T @ prev.flatten(0, 1),
                dgi2.sum(0), dgh2.sum(0))


class RNNFunction(torch.autograd.Function):
    """PyTorch's tanh RNN, h = tanh(W_ih x + b_ih + W_hh h + b_hh), one layer, time first."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        gi = torch.addmm(b_ih + b_hh, x.flatten(0, 1), w_ih.T).view(*x.shape[:2], -1)  # (L, B, H)
        out = x.new_empty(gi.shape)
        h0 = h
        for t in range(x.shape[0]):
            h = torch.tanh(torch.addmm(gi[t], h, w_hh.T), out=out[t])
        ctx.save_for_backward(x, h0, w_ih, w_hh, out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, h0, w_ih, w_hh, out = ctx.saved_tensors
        dpre = torch.empty_like(out)
        dh = torch.zeros_like(h0)
        for t in reversed(range(x.shape[0])):
            dh = torch.mul(dh + grad_out[t], 1 - out[t] * out[t], out=dpre[t])
            dh = dh @ w_hh
        prev = torch.cat([h0.unsqueeze(0), out[:-1]]).flatten(0, 1)
        d = dpre.flatten(0, 1)
        bias = d.sum(0)
        return (d @ w_ih).view_as(x), dh, d.T @ x.flatten(0, 1), d.T @ prev, bias, bias


def handwritten(module):
    function = GRUFunction if isinstance(module, nn.GRU) else RNNFunction
    weights = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]
    return lambda x, h: function.apply(x, h, *weights)


def onednn(module):
    mode = 3 if isinstance(module, nn.GRU) else 1  # cuDNN's numbering, which the op takes: GRU 3, RNN_TANH 1
    weights = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]

    def run(x, h):
        return torch.ops.aten.mkldnn_rnn_layer(x, *weights, h, h, False, [], mode, module.hidden_size, 1, True,
                                               False, False, True)[0]
    return run


def step(run, x, h, weights, params):
    """Seconds of a forward and a backward; the outputs and the gradients (for the check)."""
    for p in params:
        p.grad = None
    tic = time.perf_counter()
    out = run(x, h)
    (out * weights).sum().backward()
    return time.perf_counter() - tic, out.detach(), [p.grad.clone() for p in params]


def compare(kind: str, length: int, batch: int, hidden: int, features: int, repeats: int) -> list[dict]:
    torch.manual_seed(0)
    module = (nn.GRU if kind == "gru" else nn.RNN)(features, hidden)
    params = list(module.parameters())
    x, h = torch.randn(length, batch, features), torch.zeros(batch, hidden)
    weights = torch.randn(length, batch, hidden)
    runs = {"nn": lambda x, h: module(x, h.unsqueeze(0))[0], "handwritten": handwritten(module),
            "onednn": onednn(module)}
    common = {"cell": kind, "length": length, "batch": batch, "hidden": hidden,
              "input_features": features, "repeats": repeats, "threads": torch.get_num_threads(),
              "load_average": list(os.getloadavg())}
    records, seconds = [], {}
    _, out, grads = step(runs["nn"], x, h, weights, params)
    for name in list(runs):
        try:
            _, theirs, their_grads = step(runs[name], x, h, weights, params)
        except RuntimeError as e:  # recorded, not fatal
            records.append({"metric": "failed", "value": None, "unit": None, "contender": name,
                            "error": " ".join(str(e).split())[:200]})
            del runs[name]
            continue
        difference = max(((a - b).abs().max() / b.abs().max()).item()
                         for a, b in zip([theirs, *their_grads], [out, *grads], strict=True))
        records.append({"metric": "max_relative_difference", "value": difference,
                        "unit": "of the output's or a gradient's largest value", "contender": name})
        seconds[name] = []
    names = list(runs)
    for _, name in rotated(names, repeats):
        seconds[name].append(step(runs[name], x, h, weights, params)[0])
    for name in names:
        records.append({"metric": "step_seconds", "value": statistics.median(seconds[name]), "unit": "s",
                        "contender": name})
        if name != "nn":
            records.append({"metric": "step_time_ratio", "value": median_ratio(seconds[name], seconds["nn"]),
                            "unit": "ratio", "numerator": name, "denominator": "nn"})
    return [{**common, **r} for r in records]


def run(argv=None) -> int:
    parser = arguments(__doc__, NAME)
    parser.add_argument("--lengths", default="100,1000")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lengths = [20] if args.quick else [int(n) for n in args.lengths.split(",")]
    hidden, batch, repeats = (16, 4, 2) if args.quick else (args.hidden, args.batch, args.repeats)
    lines = Lines(NAME)
    for length in lengths:
        for kind in ("gru", "rnn"):
            lines.extend(compare(kind, length, batch, hidden, 10, repeats))
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
