"""Gated linear attention as a sequence mixer (GLA: Yang et al. 2023, arXiv 2312.06635), laid out as fla's layer
(fla-org/flash-linear-attention `fla/layers/gla.py`, which zoology's `zoology/mixers/gla.py` adapts): queries and
keys of `expand_k` d_model (half by default), values of d_model, split into heads; the log decay of each key
dimension from a low-rank map, logsigmoid(W2 W1 u + b) / `gate_normalizer` (16, so a decay stays near 1 at the
start); the recurrence of seqmem/kernels/gated_linear.py (queries scaled by 1/sqrt(head key width), as fla's
kernel does by default); each head's output RMS-normalised and gated by swish of another projection of the
input; the output map. As fla's defaults: no short convolution, no feature map, one key head a query head.

The state is the recurrence's matrix S `(B, heads, key width, value width)`, so a stream fed in chunks gives the
whole stream's outputs; `state_size` counts it as zoology does, d_key x head value width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels.gated_linear import gla_chunked, gla_chunked_flops, gla_step_by_step
from seqmem.models import register_model

SUBCHUNK = 8  # steps a sub-chunk where strong decays take two levels (gated_linear.py); 8 ran faster than 16 or 4


@register_model("gla")
class GatedLinearAttention(nn.Module):
    """Gated linear attention (GLA): linear attention with a data-dependent decay per key dimension

    Args:
        heads: attention heads; divides the key width (d_model x expand_k) and d_model
        expand_k: key (and query) width as a fraction of d_model (fla's 0.5)
        gate_low_rank: width of the low-rank map that makes the decays (fla's 16)
        gate_normalizer: the log decay is logsigmoid(.) divided by this (fla's 16; larger: slower forgetting)
        chunk: steps a chunk in the chunkwise-parallel form
    """

    # the same line as a plain attribute: the registry reads the docstring from source only where it can read
    # every base, and nn.Module it cannot; so `seqmem models` lists this one without importing PyTorch
    summary = "Gated linear attention (GLA): linear attention with a data-dependent decay per key dimension"

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, heads: int = 4, expand_k: float = 0.5,
                 gate_low_rank: int = 16, gate_normalizer: float = 16.0, chunk: int = 64):
        super().__init__()
        check_int("d_model", d_model)
        check_int("heads", heads)
        check_int("gate_low_rank", gate_low_rank)
        check_int("chunk", chunk)
        for name, value in (("expand_k", expand_k), ("gate_normalizer", gate_normalizer)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
                raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
        key = int(d_model * expand_k)
        if key < heads or key % heads or d_model % heads:
            raise ConfigError(f"heads must divide d_model ({d_model}) and the key width d_model x expand_k ({key}), "
                              f"got {heads}: choose heads dividing both, or another expand_k")
        self.d_model, self.layer_idx, self.heads, self.chunk = d_model, layer_idx, heads, chunk
        self.key, self.gate_normalizer = key, float(gate_normalizer)
        # fla's q_proj, k_proj, v_proj, g_proj (the output gate) and the gate's first low-rank map, as one matmul
        self.widths = (key, key, d_model, d_model, gate_low_rank)
        self.in_proj = nn.Linear(d_model, sum(self.widths), bias=False)
        self.gate_up = nn.Linear(gate_low_rank, key)
        self.norm_weight = nn.Parameter(torch.ones(d_model // heads))  # the per-head RMSNorm's, shared by heads
        self.out = nn.Linear(d_model, d_model, bias=False)

    def inputs(self, u: torch.Tensor):
        """q, k, g `(B, H, L, key width a head)` (q scaled, g the log decay), v `(B, H, L, value width a head)`,
        and the output gate's pre-activation `(B, L, D)`."""
        B, L, _ = u.shape
        H = self.heads

        def heads(x):
            return x.reshape(B, L, H, -1).transpose(1, 2)

        q, k, v, out_gate, low_rank = self.in_proj(u).split(self.widths, dim=-1)
        g = F.logsigmoid(self.gate_up(low_rank)) / self.gate_normalizer
        return (heads(q) * (self.key // H) ** -0.5, heads(k), heads(v), heads(g)), out_gate

    def output(self, o: torch.Tensor, out_gate: torch.Tensor) -> torch.Tensor:
        """Each head's output `(B, H, L, V)` RMS-normalised, gated by swish of `out_gate`, mapped out: `(B, L, D)`."""
        B, L, D = out_gate.shape
        o = F.rms_norm(o, (o.shape[-1],), self.norm_weight, eps=1e-5)
        return self.out(o.transpose(1, 2).reshape(B, L, D) * F.silu(out_gate))

    def forward(self, u: torch.Tensor, state=None):
        """The chunkwise-parallel form. u `(B, L, D)`; state None or S `(B, H, K, V)`. Returns y `(B, L, D)`, S."""
        kernel_inputs, out_gate = self.inputs(u)
        o, state = gla_chunked(*kernel_inputs, state, chunk=self.chunk, subchunk=SUBCHUNK)
        return self.output(o, out_gate), state

    def step_by_step(self, u: torch.Tensor, state=None):
        """The recurrence a step at a time: the reference, and for streaming. Same state as `forward`."""
        kernel_inputs, out_gate = self.inputs(u)
        o, state = gla_step_by_step(*kernel_inputs, state)
        return self.output(o, out_gate), state

    def state_size(self, sequence_length: int) -> int:
        """The numbers in S: heads x key width x value width a head (zoology's key_dim x head_v_dim)."""
        return self.key * (self.d_model // self.heads)

    def flops(self, sequence_length: int) -> int:
        """Forward FLOPs of one sequence in the chunked form: the maps 2 L D (2 K + 3 D) for q, k, v, the output
        gate and the output map, 2 L r (D + K) for the low-rank gate, and the kernel's (`gla_chunked_flops`:
        2 C C (K + V) + 4 C K V a chunk of C steps and a head of K key and V value dimensions, in the one-level
        form the decays take unless training makes them strong)."""
        L, D, K, r = sequence_length, self.d_model, self.key, self.widths[-1]
        maps = 2 * L * D * (2 * K + 3 * D) + 2 * L * r * (D + K)
        H = self.heads
        return maps + gla_chunked_flops(L, H, K // H, D // H, self.chunk, SUBCHUNK)
