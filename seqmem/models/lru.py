"""Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for Long Sequences").

Each layer runs a complex diagonal linear recurrence h_t = lambda * h_{t-1} + gamma * (B x_t) and reads out
y_t = Re(C h_t) + D x_t. lambda = exp(-exp(nu_log) + i exp(theta_log)) lies inside the unit circle whatever the
weights. At the start lambda is drawn uniformly over the area of the ring r_min <= |lambda| <= r_max (as in the
paper: |lambda|^2 uniform) with phase uniform in [0, max_phase]; gamma = sqrt(1 - |lambda|^2) (then trained,
as in the paper) keeps the state's scale independent of how slowly it forgets. B and C are complex, scaled as
in the paper. The recurrence runs by chunks (`lru_scan_chunked`, the default: a small matmul by powers of
lambda inside a chunk, the chunk ends continued the same way by chunks of chunks, in real pairs, its
backward written by hand as the same recurrence run backwards); `scan="parallel"` runs the doubling
scan over every step (log2 L steps, nothing divided, so no blow-up when |lambda|^L underflows), and
`lru_scan_loop` is the step-by-step reference (`scan="loop"`). A block is
pre-norm LayerNorm, LRU, GELU, dropout, GLU mixing, dropout, residual. The state carried to the next chunk
is each layer's last h, so a stream fed in chunks gives the whole stream's outputs. The model `lru` is the
backbone with `LRUMixer` in each block and no MLP (seqmem/models/ssm_frame.py).

Defaults r_min 0.4, r_max 0.99 (the paper's general ring); its longest tasks used 0.9/0.999 and a smaller
max_phase. Omitted: the JAX parallel-scan primitive, BatchNorm, bidirectional layers, the paper's per-task
learning-rate factors for the recurrence parameters, and the pooling/classifier heads (seqmem's head is used).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels.lru_scan import chunk_steps, chunked_recurrence, lru_scan, lru_scan_chunked, lru_scan_loop
from seqmem.models import register_model
from seqmem.models.ssm_frame import StateSpaceBackbone


class LRULayer(nn.Module):
    """d_model -> state_size complex -> d_model. Complex weights are kept as real pairs, so optimizers,
    clipping and parameter counts see ordinary real tensors. Built as a mixer in the backbone too (the LRU
    model's defaults; its state the last h)."""

    def __init__(self, d_model: int, state_size: int = 64, r_min: float = 0.4, r_max: float = 0.99,
                 max_phase: float = 6.283):
        super().__init__()
        u1, u2 = torch.rand(state_size, dtype=torch.float64), torch.rand(state_size, dtype=torch.float64)
        radius2 = r_min**2 + u1 * (r_max**2 - r_min**2)  # |lambda|^2, uniform
        nu = (-0.5 * torch.log(radius2.clamp_min(1e-8))).clamp_min(1e-12)  # -log|lambda|, finite at 0 and 1
        self.nu_log = nn.Parameter(torch.log(nu).float())
        self.theta_log = nn.Parameter(torch.log((max_phase * u2).clamp_min(1e-8)).float())
        self.gamma_log = nn.Parameter((0.5 * torch.log(-torch.expm1(-2 * nu))).float())  # log sqrt(1 - |lambda|^2)
        self.B_re = nn.Parameter(torch.randn(state_size, d_model) / math.sqrt(2 * d_model))
        self.B_im = nn.Parameter(torch.randn(state_size, d_model) / math.sqrt(2 * d_model))
        self.C_re = nn.Parameter(torch.randn(d_model, state_size) / math.sqrt(state_size))
        self.C_im = nn.Parameter(torch.randn(d_model, state_size) / math.sqrt(state_size))
        self.D = nn.Parameter(torch.randn(d_model))

    def lam(self) -> torch.Tensor:
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))  # (N,)

    def state_size(self, sequence_length: int) -> int:
        """The numbers a stream carries: the last h, state_size complex numbers, twice as many real."""
        return 2 * self.B_re.shape[0]

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, scan=lru_scan_chunked):
        """x `(B, L, H)`; state: h before the first step `(B, N)` complex, or None for zeros. Returns y and the last h."""
        gamma = torch.exp(self.gamma_log)  # (N,)
        if scan is lru_scan_chunked:
            return self.chunked(x, state, gamma)
        bx = torch.complex(x @ self.B_re.T * gamma, x @ self.B_im.T * gamma)  # (B, L, N)
        h = scan(self.lam(), bx, state)  # (B, L, N)
        y = h.real @ self.C_re.T - h.imag @ self.C_im.T + self.D * x  # (B, L, H)
        return y, h[:, -1]

    def chunked(self, x: torch.Tensor, h0: torch.Tensor | None, gamma: torch.Tensor):
        """`forward` by `chunked_recurrence` in real pairs, the modes first: one input map writes `(2, N, B L)`
        (real parts, then imaginary), the chunk matmuls read it as is, and one readout reads it through a
        transposed matmul."""
        batch, length, width = x.shape
        T = chunk_steps(length)
        padded = F.pad(x, (0, 0, 0, -length % T))  # zeros after the end change nothing before it
        flat = padded.reshape(-1, width)  # (B L', H)
        u = (torch.cat([self.B_re, self.B_im]) * gamma.repeat(2).unsqueeze(-1)) @ flat.T  # (2 N, B L')
        log_lam = -torch.exp(self.nu_log), torch.exp(self.theta_log)
        h = chunked_recurrence(log_lam, u.view(2, -1, batch, padded.shape[1]), h0, T)  # (2, N, B, L')
        y = torch.addmm(flat * self.D, h.view(-1, flat.shape[0]).T, torch.cat([self.C_re, -self.C_im], dim=1).T)
        return y.view(batch, -1, width)[:, :length], torch.complex(h[0, :, :, length - 1], h[1, :, :, length - 1]).T


SCANS = {"chunked": lru_scan_chunked, "parallel": lru_scan, "loop": lru_scan_loop}


class LRUMixer(nn.Module):
    """The LRU model's mixer: the layer, GELU, dropout and GLU mixing (a linear map to 2 d_model, half of it
    gating the other half), `(B, L, D) -> (B, L, D)`; its state the layer's last h."""

    def __init__(self, d_model: int, state_size: int = 64, r_min: float = 0.4, r_max: float = 0.99,
                 max_phase: float = 6.283, dropout: float = 0.0, scan: str = "chunked"):
        super().__init__()
        self.lru = LRULayer(d_model, state_size, r_min, r_max, max_phase)
        self.mix = nn.Linear(d_model, 2 * d_model)  # GLU: half the outputs gate the other half
        self.dropout = nn.Dropout(dropout)
        self.scan = SCANS[scan]

    def state_size(self, sequence_length: int) -> int:
        return self.lru.state_size(sequence_length)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        y, h = self.lru(x, state, self.scan)  # (B, L, H), (B, N)
        return F.glu(self.mix(self.dropout(F.gelu(y))), dim=-1), h


@register_model("lru")
class LRU(StateSpaceBackbone):
    """The LRU: residual blocks of complex diagonal linear recurrences, each a mixer on the backbone (pre-norm,
    GELU and GLU mixing inside the mixer, no MLP).

    Args:
        d_model: width of the residual stream (channels a block reads and writes)
        layers: residual blocks stacked
        state_size: state numbers a channel carries between steps
        dropout: dropout probability inside each block (0: off)
        r_min: smallest initial |lambda| (how fast the quickest mode forgets)
        r_max: largest initial |lambda| (closer to 1: modes that remember longer)
        max_phase: largest initial phase of lambda
        scan: chunked (matmuls inside chunks), parallel (a doubling scan) or loop (step by step, the reference)
        encoder: how token inputs enter: onehot, embedding (learned) or linear (a learned input layer), of width
            embedding_dim
        embedding_dim: width of the embedding or input layer, then a learned map to d_model (0: the backbone's
            encoder, of width d_model, no map)
    """

    summary = "linear recurrent unit: complex diagonal linear recurrence, ring init, chunked scan (Orvieto 2023)"

    def __init__(self, task, d_model: int = 64, layers: int = 4, state_size: int = 64, dropout: float = 0.0,
                 r_min: float = 0.4, r_max: float = 0.99, max_phase: float = 6.283, scan: str = "chunked",
                 encoder: str = "onehot", embedding_dim: int = 0):
        check_int("state_size", state_size)
        for name, value in (("dropout", dropout), ("r_min", r_min), ("r_max", r_max), ("max_phase", max_phase)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
        if not 0 <= r_min < r_max < 1:
            raise ConfigError(f"need 0 <= r_min < r_max < 1, got r_min {r_min!r} and r_max {r_max!r}")
        if not 0 < max_phase <= 2 * math.pi:
            raise ConfigError(f"max_phase must be in (0, 2*pi], got {max_phase!r}")
        if scan not in SCANS:
            raise ConfigError(f"scan must be one of {', '.join(SCANS)}, got {scan!r}")
        settings = {"state_size": state_size, "r_min": r_min, "r_max": r_max, "max_phase": max_phase,
                    "dropout": dropout, "scan": scan}
        super().__init__(task, LRUMixer, settings, d_model, layers, dropout, encoder, embedding_dim)

    def redraw(self, d_model: int, settings: dict) -> None:
        """Each layer's recurrence then its GLU mixing, as the old frame drew them."""
        for block in self.blocks:
            block.mixer.lru = LRULayer(d_model, *(settings[k] for k in ("state_size", "r_min", "r_max", "max_phase")))
            block.mixer.mix = nn.Linear(d_model, 2 * d_model)
