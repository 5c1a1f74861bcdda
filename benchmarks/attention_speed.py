"""Attention on the CPU: the attention model's training step beside the same model with its attention written
out as einsums, as zoology writes it, on the same weights.

Copy memory in the symbol layout (recall 10, blank L-20, as `ssm_speed.py`), batch 8, the attention model at
d_model 128, 2 layers, 1 head, RoPE, Adam, one thread. The contender is a copy of the model whose mixers compute
softmax attention as HazyResearch/zoology's `zoology/mixers/attention.py` does (`SelfAttention`: scores an
einsum of Q and K scaled by 1/sqrt(head dim), an additive -10000 upper-triangular mask, softmax, an einsum with
V), re-implemented here, with the same projections and the same RoPE; seqmem's runs
`torch.nn.functional.scaled_dot_product_attention`, whose causal kernel skips the masked half and never forms
the (L, L) scores whole. The largest difference of the contender's logits from seqmem's is recorded before
any training. The steps of both are interleaved in rotating order after a warm-up step each; the ratio is the
median of the per-round ratios of the contender's step time to seqmem's, so load on the machine largely cancels.

FLOP floor (matmuls only; norms, softmax, RoPE, the loss and Adam not counted): a linear map of n = B L tokens
costs 2 n fan_in fan_out (the projections, the MLP, the head); causal attention's Q K^T and its product with
V cost 2 B L^2 D each over the whole square, so 2 B L^2 D for the causal half both kernels need. The backward
is counted as twice the forward. The floor is that count at this machine's float32 matmul rate on one thread
(1024 x 1024 @ 1024 x 1024, measured in the same run); `over_floor` is a step's time over it.

    python benchmarks/attention_speed.py            # L = 512 and 2048
    python benchmarks/attention_speed.py --quick    # seconds: L = 64, d_model 32, one round, for tests
"""

from __future__ import annotations

import copy
import math
import os
import statistics

import torch
from harness import Lines, arguments, main, matmul_gflops, median_ratio, rotated, seconds
from torch import nn

NAME = "attention_speed"


class EinsumAttention(nn.Module):
    """Softmax attention written out as zoology writes it, on the weights of one of seqmem's `Attention` mixers
    (its projections and RoPE shared, so only the attention itself differs)."""

    def __init__(self, ours):
        super().__init__()
        self.qkv, self.out, self.heads, self.rope = ours.qkv, ours.out, ours.heads, ours.positions == "rope"

    def forward(self, u):
        from seqmem.mixers.attention import rotate

        B, L, D = u.shape
        q, k, v = self.qkv(u).view(B, L, 3, self.heads, D // self.heads).unbind(dim=2)  # (B, L, H, E)
        if self.rope:
            q, k = (rotate(t.transpose(1, 2), 0).transpose(1, 2) for t in (q, k))
        scores = torch.einsum("bthd,bshd->bhts", q, k / math.sqrt(q.shape[-1]))  # (B, H, L, L)
        scores = scores + torch.triu(torch.full((L, L), -10000.0), 1)
        context = torch.einsum("bhts,bshd->bthd", torch.softmax(scores, dim=-1), v)  # (B, L, H, E)
        return self.out(context.reshape(B, L, D))


def einsum_copy(model):
    """A copy of `model` whose mixers are `EinsumAttention` on their weights."""
    other = copy.deepcopy(model)
    for block in other.blocks:
        block.mixer, block.streams = EinsumAttention(block.mixer), False
    return other


def setting(length: int, batch: int, d_model: int):
    import seqmem

    task = seqmem.make_task("copy-memory", blank=length - 20, recall_length=10, convention="symbols",
                            test_size=batch, validation_size=batch)
    model = seqmem.make_model("attention", task, d_model=d_model, layers=2, seed=0)
    return task, model, task.get("test", torch.arange(batch))


def floor_flops(model, batch: int, length: int, d_model: int) -> float:
    """Training-step FLOPs as the module docstring counts them."""
    n = batch * length
    forward = sum(2 * n * m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    forward += len(model.blocks) * 2 * batch * length**2 * d_model
    return 3 * forward


def compare(length: int, batch: int, d_model: int, repeats: int, matmul_rate: float) -> list[dict]:
    """seqmem's attention and the einsum form at one length: outputs checked equal, then steps interleaved."""
    import seqmem
    from seqmem.models import count_parameters
    from seqmem.run.denormals import flushed_denormals
    from seqmem.training.methods import make_method

    task, model, data = setting(length, batch, d_model)
    nets = {"seqmem": model, "zoology einsum": einsum_copy(model)}
    with torch.no_grad():
        logits = {k: m.eval()(data.x)[0] for k, m in nets.items()}
    methods = {k: make_method(m.train(), task, seqmem.TrainConfig(steps=1, batch_size=batch)) for k, m in nets.items()}
    names = list(nets)
    with flushed_denormals():  # as seqmem trains
        times = {k: [seconds(lambda k=k: methods[k].update(data))] for k in names}  # the first is the warm-up
        for _, k in rotated(names, repeats):
            times[k].append(seconds(lambda k=k: methods[k].update(data)))
    floor = floor_flops(model, batch, length, d_model) / (matmul_rate * 1e9)
    common = {"length": length, "batch": batch, "d_model": d_model, "repeats": repeats,
              "threads": torch.get_num_threads(), "load_average": list(os.getloadavg())}
    records = []
    for k in names:
        step = statistics.median(times[k][1:])
        records.append({"metric": "max_abs_output_difference", "value": (logits[k] - logits["seqmem"]).abs().max().item(),
                        "unit": "logit", "contender": k, "parameters": count_parameters(nets[k])})
        records.append({"metric": "step_seconds", "value": step, "unit": "s", "contender": k, "floor_seconds": floor,
                        "over_floor": step / floor, "floor_gflop": floor * matmul_rate,
                        "matmul_gflop_per_second": matmul_rate})
    records.append({"metric": "step_time_ratio", "value": median_ratio(times["zoology einsum"][1:], times["seqmem"][1:]),
                    "unit": "ratio", "numerator": "zoology einsum", "denominator": "seqmem"})
    return [{**common, **r} for r in records]


def run(argv=None) -> int:
    parser = arguments(__doc__, NAME, quick="L = 64, d_model 32, one round; writes nothing")
    parser.add_argument("--lengths", default="512,2048")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--d-model", type=int, default=128)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lines = Lines(NAME)
    rate = matmul_gflops(256 if args.quick else 1024)
    lines.add("matmul_gflop_per_second", rate, "GFLOP/s", size=256 if args.quick else 1024, threads=1)
    if args.quick:
        lines.extend(compare(64, 2, 32, 1, rate))
    else:
        for length in (int(n) for n in args.lengths.split(",")):
            lines.extend(compare(length, args.batch, args.d_model, args.repeats, rate))
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
