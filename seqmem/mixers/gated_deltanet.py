"""Gated DeltaNet (Yang, Kautz, Hatamizadeh 2024, "Gated Delta Networks: Improving Mamba2 with Delta Rule",
arXiv 2412.06464), laid out as fla-org/flash-linear-attention's `fla/layers/gated_deltanet.py` builds it.

DeltaNet (seqmem/mixers/deltanet.py) plus two things. A decay a head and step, as Mamba-2's:
alpha_t = exp(-exp(A_log) softplus(W_a x_t + dt_bias)), so the state can forget at once where the delta rule
alone only overwrites one key at a time (S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T);
A_log drawn as log U(0, 16) and dt_bias so that softplus(dt_bias) is log-uniform in [1e-3, 0.1], fla's draws.
And an output gate: each head's RMS-normalised output times SiLU(W_g x_t) (fla's gated RMSNorm). fla's
defaults kept where they are ratios: values twice the keys wide (expand_v 2), four taps, no biases; the keys
are d_model wide in all (fla's are 0.75 d_model: six heads of 256 at d_model 2048), four heads by default.
`flops` is DeltaNet's count, its input map here wider by the decay's logits and the gate.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.mixers.deltanet import DeltaNet
from seqmem.models import register_model


@register_model("gated-deltanet")
class GatedDeltaNet(DeltaNet):
    """Gated DeltaNet: the delta rule with a Mamba-2 decay and an output gate, by chunks (Yang et al. 2024)

    Args:
        heads: heads a layer; each has keys d_model / heads wide
        expand_v: each head's values are expand_v times its keys wide
        conv_size: taps of the short causal convolution on queries, keys and values
        chunk: steps the delta rule takes at once in training (the WY transform's block)
        negative_eigenvalues: beta in [0, 2] instead of [0, 1], so the transition's eigenvalues reach -1
    """

    gated = True

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, heads: int = 4, expand_v: int = 2,
                 conv_size: int = 4, chunk: int = 64, negative_eigenvalues: bool = False):
        nn.Module.__init__(self)
        self.build(d_model, layer_idx, l_max, heads, expand_v, conv_size, chunk, negative_eigenvalues)
        self.A_log = nn.Parameter(torch.empty(heads).uniform_(0, 16).log())  # (H,)
        dt = torch.empty(heads).uniform_(math.log(1e-3), math.log(0.1)).exp().clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus(dt_bias) = dt
        for p in (self.A_log, self.dt_bias):
            p._no_weight_decay = True  # Mamba's convention: a decay's rate is not pulled to zero

    def split(self, u: torch.Tensor):
        H = self.heads
        x, b, a, gate = self.in_proj(u).split([self.conv_width, H, H, H * self.value], dim=-1)
        beta = torch.sigmoid(b).transpose(1, 2)  # (B, H, L)
        log_decay = (-self.A_log.exp() * F.softplus(a + self.dt_bias)).transpose(1, 2)  # (B, H, L), <= 0
        gate = gate.unflatten(-1, (H, self.value))  # (B, L, H, V)
        return x, 2 * beta if self.negative_eigenvalues else beta, log_decay, gate
