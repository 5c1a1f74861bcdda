"""Mamba (Gu and Dao 2023), the minimal block in PyTorch, its selective scan in C where a C compiler is found.

Each block projects the input to two streams; one passes a short causal depthwise convolution and SiLU,
then the selective scan, whose step size, B and C depend on the input (what lets it choose what to keep);
the other gates the result through SiLU. The state a block carries to the next chunk is its
convolution's last inputs and the scan's last state, so a stream fed in chunks gives the whole stream's
outputs. Omitted: the fused kernels, RMSNorm (LayerNorm here, for torch>=2.2), weight tying and the
language-model head.

`scan` chooses how the recurrence runs: `chunked` (default; `selective_scan.py`) over chunks of steps
outside autograd with its backward written out, compiled from `selective_scan.c` on CPU tensors where a
C compiler is found and in PyTorch elsewhere; `loop`, a step at a time under autograd over `(B, E, N)`
states, the plain reference; or `parallel`, a doubling scan over the whole `(B, L, E, N)` tensor, log2 L
passes over it. `benchmarks/ssm_speed.py` measures them and mambapy's scans side by side. The model `mamba` is
the backbone with a `MambaBlock` in each block and no MLP (seqmem/models/ssm_frame.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels.causal_conv import depthwise_causal_conv
from seqmem.kernels.selective_scan import selective_scan, selective_scan_chunked, selective_scan_loop
from seqmem.models import register_model
from seqmem.models.ssm_frame import StateSpaceBackbone

SCANS = {"chunked": selective_scan_chunked, "loop": selective_scan_loop, "parallel": selective_scan}


class MambaBlock(nn.Module):
    """One Mamba block, `(B, L, D) -> (B, L, D)`; built as a mixer in the backbone too (the Mamba model's
    defaults; dt_rank 0: ceil(d_model / 16), the paper's)."""

    def __init__(self, d_model: int, state_size: int = 16, expand: int = 2, conv_size: int = 4, dt_rank: int = 0,
                 dt_min: float = 1e-3, dt_max: float = 0.1, scan: str = "chunked"):
        super().__init__()
        self.scan = SCANS[scan]
        inner = expand * d_model
        dt_rank = dt_rank or math.ceil(d_model / 16)
        self.d_state, self.dt_rank, self.conv_size, self.inner = state_size, dt_rank, conv_size, inner
        self.in_proj = nn.Linear(d_model, 2 * inner, bias=False)
        self.conv = nn.Conv1d(inner, inner, conv_size, groups=inner)  # depthwise, made causal by left context
        self.x_proj = nn.Linear(inner, dt_rank + 2 * state_size, bias=False)
        self.dt_proj = nn.Linear(dt_rank, inner)
        dt = torch.exp(torch.rand(inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus(bias) = dt at the start
        self.A_log = nn.Parameter(torch.log(torch.arange(1, state_size + 1, dtype=torch.float)).repeat(inner, 1))
        self.D = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, d_model, bias=False)

    def state_size(self, sequence_length: int) -> int:
        """The numbers a stream carries: the scan's (inner, N) state and the convolution's last K-1 inputs."""
        return self.inner * (self.d_state + self.conv_size - 1)

    def forward(self, u: torch.Tensor, state=None):
        conv_state, h0 = state if state is not None else (None, None)
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, L, E) each
        past = (x.new_zeros(x.shape[0], self.conv_size - 1, x.shape[2]) if conv_state is None
                else conv_state.transpose(1, 2))  # (B, K-1, E)
        padded = torch.cat([past, x], dim=1)  # (B, K-1+L, E)
        x = F.silu(depthwise_causal_conv(padded, self.conv.weight, self.conv.bias))  # (B, L, E)
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))  # (B, L, E)
        y, h = self.scan(x, delta, -torch.exp(self.A_log), B, C, self.D, h0)
        return self.out_proj(y * F.silu(z)), (padded[:, padded.shape[1] - (self.conv_size - 1):].transpose(1, 2), h)


@register_model("mamba")
class Mamba(StateSpaceBackbone):
    """Mamba: residual selective state-space blocks, each a mixer on the backbone (pre-norm, no MLP).

    Args:
        d_model: width of the residual stream (channels a block reads and writes)
        layers: residual blocks stacked
        state_size: state numbers a channel carries between steps
        expand: inner width of a block, as a multiple of d_model
        conv_size: taps of the short causal depthwise convolution
        dt_rank: rank of the step size's projection (0: ceil(d_model / 16), the paper's)
        dt_min: smallest initial step size of the discretisation
        dt_max: largest initial step size of the discretisation
        dropout: dropout probability on each block's output (0: off)
        scan: chunked (the fast scan, backward written out), loop (step by step, the reference) or parallel (a
            doubling scan)
        encoder: how token inputs enter: onehot, embedding (learned) or linear (a learned input layer), of width
            embedding_dim
        embedding_dim: width of the embedding or input layer, then a learned map to d_model (0: the backbone's
            encoder, of width d_model, no map)
    """

    summary = "Mamba: selective state-space blocks (input-dependent scan, short convolution, gating)"

    def __init__(self, task, d_model: int = 64, layers: int = 2, state_size: int = 16, expand: int = 2,
                 conv_size: int = 4, dt_rank: int = 0, dt_min: float = 1e-3, dt_max: float = 0.1,
                 dropout: float = 0.0, scan: str = "chunked", encoder: str = "onehot", embedding_dim: int = 0):
        for name, value in (("state_size", state_size), ("expand", expand), ("conv_size", conv_size)):
            check_int(name, value)
        check_int("dt_rank", dt_rank, 0)
        if not 0 < dt_min <= dt_max:
            raise ConfigError(f"need 0 < dt_min <= dt_max, got dt_min {dt_min!r} and dt_max {dt_max!r}")
        if scan not in SCANS:
            raise ConfigError(f"scan must be one of {', '.join(SCANS)}, got {scan!r}")
        settings = {"state_size": state_size, "expand": expand, "conv_size": conv_size, "dt_rank": dt_rank,
                    "dt_min": dt_min, "dt_max": dt_max, "scan": scan}
        super().__init__(task, MambaBlock, settings, d_model, layers, dropout, encoder, embedding_dim)

    def redraw(self, d_model: int, settings: dict) -> None:
        """Each layer's block, as the old frame drew them."""
        for block in self.blocks:
            block.mixer = MambaBlock(d_model, **settings)
