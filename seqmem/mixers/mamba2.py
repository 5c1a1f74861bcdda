"""The Mamba-2 block (Dao and Gu 2024, "Transformers are SSMs"; state-spaces/mamba
`mamba_ssm/modules/mamba2_simple.py`) as a sequence mixer, its SSD on seqmem's scalar-decay kernel.

One projection makes z (the gate), x, B, C and dt; x, B and C pass a short causal depthwise convolution and
SiLU. Each head has a scalar A < 0 and a step dt = softplus(dt + bias) a step, so its state decays by
a_t = exp(dt_t A) and takes in B_t (dt_t x_t)^T; the output is C_t . state plus a skip D x_t. B and C are one
group shared by every head (ngroups 1, mamba2_simple's default), so the kernel takes them as one head's
keys and queries, broadcast. The result is gated by SiLU(z) and RMS-normed (mamba's RMSNormGated with
norm_before_gate False: normed after the gate), then projected out.

`negative_eigenvalues` maps the decay to a_t = 2 exp(dt_t A) - 1, in [-1, 1] (Grazzi et al. 2024, arXiv
2411.12537, "Unlocking State-Tracking in Linear RNNs Through Negative Eigenvalues"), which lets a head flip its
state's sign, as parity needs; the kernel carries the signs as products beside the log magnitudes.

Defaults: d_state (`state_size`) 64, mamba2_simple's and zoology's MQAR sweep's; `head_dim` 32 rather than
mamba's 64, so d_model 16 builds (one head) and any multiple of 16 (at d_model 64, expand 2: 4 heads of 32;
mamba's 64 there gives 2). Smaller heads cost time: every head builds its own (chunk x chunk) decay matrix,
and at d_model 128 head_dim 16 ran the chunked training step at half the speed of 32, which matched 64.
Expand 2, conv 4, dt in [1e-3, 0.1], A in [1, 16], as mamba2_simple. The state carried
between chunks: the convolution's last conv_size - 1 inputs and the SSM state (B, heads, d_state, head_dim).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels import scalar_decay
from seqmem.kernels.gated_norm import gated_rms_norm
from seqmem.kernels.stream_conv import short_conv
from seqmem.models import register_model


@register_model("mamba2")
class Mamba2(nn.Module):
    """Mamba-2: the SSD block (scalar decay a head, input-dependent B, C and step, short conv, gated RMSNorm)

    Args:
        state_size: d_state, the SSM state's numbers a head and channel (the width of B and C)
        head_dim: channels a head (they split expand x d_model); each head has a decay of its own
        expand: inner width, as a multiple of d_model
        conv_size: taps of the short causal depthwise convolution on x, B and C
        dt_min: smallest initial step size
        dt_max: largest initial step size
        negative_eigenvalues: decay 2 exp(dt A) - 1 in [-1, 1] instead of exp(dt A) in (0, 1] (state tracking)
        chunk: steps a chunk of the chunked (training) form
    """

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, state_size: int = 64, head_dim: int = 32,
                 expand: int = 2, conv_size: int = 4, dt_min: float = 1e-3, dt_max: float = 0.1,
                 negative_eigenvalues: bool = False, chunk: int = 64):
        super().__init__()
        for name, value in (("d_model", d_model), ("state_size", state_size), ("head_dim", head_dim),
                            ("expand", expand), ("conv_size", conv_size), ("chunk", chunk)):
            check_int(name, value)
        inner = expand * d_model
        if inner % head_dim:
            raise ConfigError(f"head_dim must divide expand x d_model ({inner}), got {head_dim}")
        if not (isinstance(dt_min, int | float) and isinstance(dt_max, int | float) and 0 < dt_min <= dt_max):
            raise ConfigError(f"need 0 < dt_min <= dt_max, got dt_min {dt_min!r} and dt_max {dt_max!r}")
        if not isinstance(negative_eigenvalues, bool):
            raise ConfigError(f"negative_eigenvalues must be true or false, got {negative_eigenvalues!r}")
        self.d_model, self.layer_idx, self.chunk = d_model, layer_idx, chunk
        self.inner, self.d_state, self.head_dim, self.heads = inner, state_size, head_dim, inner // head_dim
        self.conv_size, self.negative_eigenvalues = conv_size, negative_eigenvalues
        self.conv_width = inner + 2 * state_size  # x, B and C pass the convolution
        self.in_proj = nn.Linear(d_model, 2 * inner + 2 * state_size + self.heads, bias=False)  # z, x, B, C, dt
        self.conv = nn.Conv1d(self.conv_width, self.conv_width, conv_size, groups=self.conv_width)  # holds the taps
        dt = torch.exp(torch.rand(self.heads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp_min(1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus(dt_bias) = dt
        self.A_log = nn.Parameter(torch.empty(self.heads).uniform_(1, 16).log())  # A = -exp(A_log) in [-16, -1]
        self.D = nn.Parameter(torch.ones(self.heads))
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True  # as mamba2_simple
        self.norm_weight = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, d_model, bias=False)

    def decay(self, dt: torch.Tensor):
        """(log |a|, sign or None) of the decay a = exp(dt A), or 2 exp(dt A) - 1 with negative eigenvalues;
        dt (B, H, L)."""
        dA = dt * -torch.exp(self.A_log)[:, None]  # (B, H, L), <= 0
        if not self.negative_eigenvalues:
            return dA, None
        return scalar_decay.split_decay(1 + 2 * torch.expm1(dA))  # 2 e^dA - 1, precise near 1

    def mix(self, u: torch.Tensor, state, form):
        """u (B, L, D) through the block, the SSD by `form` (the kernel's chunked or step_by_step)."""
        batch, L, _ = u.shape
        conv_state, ssm_state = (None, None) if state is None else state
        # three products with the weight's rows, not one split three ways: the backward sums three input gradients
        # of (B, L, D) rather than joining (B, L, 2E + 2N + H) of them in a copy, and z and xBC come contiguous
        weights = self.in_proj.weight.split([self.inner, self.conv_width, self.heads])
        z, xBC, dt = (F.linear(u, w) for w in weights)
        xBC, conv_state = short_conv(xBC, self.conv.weight, self.conv.bias, conv_state)  # (B, L, E+2N), its next past
        xBC = F.silu(xBC)
        x, B, C = xBC.split([self.inner, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(dt + self.dt_bias).transpose(1, 2)  # (B, H, L)
        x = x.view(batch, L, self.heads, self.head_dim).transpose(1, 2)  # (B, H, L, P)
        log_a, sign = self.decay(dt)
        y, ssm_state = form(C.unsqueeze(1), B.unsqueeze(1), x * dt[..., None], log_a, sign, ssm_state)  # (B, H, L, P)
        y = torch.addcmul(y, self.D[:, None, None], x).transpose(1, 2).reshape(batch, L, self.inner)  # (B, L, E)
        out_weight = self.out_proj.weight * self.norm_weight  # the norm's weight on the projection's columns
        return F.linear(gated_rms_norm(y, z), out_weight), (conv_state, ssm_state)

    def forward(self, u: torch.Tensor, state=None):
        """The chunked form: u (B, L, D), state None or (conv inputs (B, K-1, E+2N), SSM (B, H, N, P))."""
        return self.mix(u, state, lambda *a: scalar_decay.chunked(*a, chunk=self.chunk))

    def step_by_step(self, u: torch.Tensor, state=None):
        """The recurrent form, a step at a time; the same state as `forward`'s."""
        return self.mix(u, state, scalar_decay.step_by_step)

    def state_size(self, sequence_length: int) -> int:
        """The SSM state, expand x d_model x d_state (zoology's count: 2 d_model d_state at expand 2), and the
        convolution's last conv_size - 1 inputs of x, B and C, which zoology leaves out."""
        return self.inner * self.d_state + (self.conv_size - 1) * self.conv_width

    def flops(self, sequence_length: int) -> int:
        """Forward FLOPs of one sequence, chunked: in and out projections 2 L D (2E + 2N + H) and 2 L E D, the
        convolution 2 L (E + 2N) K, and the SSD by chunks of C over the padded length L': C B^T once for all
        heads (2 C N a step), each head's masked scores times X (2 C P) and the state in and out (4 N P),
        L' (2 C N + H (2 C P + 4 N P))."""
        L, D, E, N, H, P = sequence_length, self.d_model, self.inner, self.d_state, self.heads, self.head_dim
        C = min(self.chunk, L)
        padded = -(-L // C) * C
        projections = 2 * L * D * (2 * E + 2 * N + H) + 2 * L * E * D + 2 * L * self.conv_width * self.conv_size
        return projections + padded * (2 * C * N + H * (2 * C * P + 4 * N * P))
