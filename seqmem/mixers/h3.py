"""H3 (Fu, Dao, Saab, Thomas, Rudra and Re 2023, "Hungry Hungry Hippos: Towards Language Modeling with State
Space Models", section 3.1): y = W_out (q * SSM_diag(SSM_shift(k) * v)), as HazyResearch/H3's
`src/models/ssm/h3.py` and HazyResearch/zoology's `zoology/mixers/h3/h3.py` compute it.

q, k and v are linear maps of the input. The shift SSM, x_t = S x_(t-1) + e_1 k_t with S the shift down and
y_t = C x_t + D k_t, keeps the last d_state keys of each channel, so it is a causal convolution of d_state taps
(C's entries, D added at lag 0): a short convolution run as one. Its product with v goes through a diagonal SSM,
S4D's (seqmem/models/s4d.py's `S4DLayer`: d_state / 2 complex modes a channel, S4D-Lin's initialisation, its
skip D), then is read out by q. With heads (`head_dim` > 1) each head's outer product k v^T `(head_dim,
head_dim)` runs through the head's SSM and q reads it, y_j = sum_i q_i SSM(k_i v_j), as in linear attention; its
outputs are laid out head by head, where the references lay them out by j first (the output map follows either
way).

Differences from the references: the diagonal SSM is discretised by zero-order hold (S4D's and seqmem's
`S4DLayer`), where the references' default is bilinear; the shift SSM's B stays e_1 (the references train it too,
which gives no other map: any B with C is still a convolution of d_state taps); q, k and v are one linear map of
three outputs (the same initialisation as three).

`forward` runs the shift SSM as a convolution and the diagonal SSM by S4DLayer's FFT convolution with its
carried state; `step_by_step` runs both recurrences a step at a time. The state is (the last d_state - 1 keys
`(B, d_state - 1, D)`, the diagonal SSM's modes `(B head_dim^2, H, d_state / 2)` complex): the shift register
without its oldest entry, which is never read again, and the diagonal state, so a stream fed in chunks gives
the whole stream's outputs. Neither SSM's kernel is cut at l_max (the references' l_max only sizes a kernel
computed ahead): a stream of any length runs, the diagonal SSM remembering as far as its modes decay.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels.stream_conv import DIRECT_TAPS, causal_conv, conv_steps, fft_flops
from seqmem.models import register_model
from seqmem.models.s4d import S4DLayer


@register_model("h3")
class H3(nn.Module):
    """H3 (Fu, Dao et al. 2023): q times a diagonal (S4D) SSM of (a shift SSM of k) times v

    Args:
        d_state: each channel's SSM size: the shift SSM's taps, and twice the diagonal SSM's complex modes (even)
        head_dim: width of a head: its keys' and values' outer product runs through its SSM (1: elementwise)
        dt_min: smallest initial step size of the diagonal SSM's discretisation
        dt_max: largest initial step size of the diagonal SSM's discretisation
    """

    summary = "H3 (Fu, Dao et al. 2023): q times a diagonal SSM of (a shift SSM of k) times v, heads, streams"

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, d_state: int = 64, head_dim: int = 1,
                 dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        check_int("d_model", d_model)
        check_int("l_max", l_max)
        check_int("d_state", d_state, 2)
        check_int("head_dim", head_dim)
        if d_state % 2:
            raise ConfigError(f"d_state must be even (the diagonal SSM's d_state / 2 complex modes), got {d_state}")
        if d_model % head_dim:
            raise ConfigError(f"head_dim must divide d_model ({d_model}), got {head_dim}")
        if not (isinstance(dt_min, int | float) and isinstance(dt_max, int | float)
                and 0 < dt_min <= dt_max and math.isfinite(dt_max)):
            raise ConfigError(f"need 0 < dt_min <= dt_max (finite), got dt_min {dt_min!r} and dt_max {dt_max!r}")
        self.d_model, self.layer_idx, self.l_max = d_model, layer_idx, l_max
        self.d_state, self.head_dim, self.heads = d_state, head_dim, d_model // head_dim
        self.qkv = nn.Linear(d_model, 3 * d_model)
        bound = 1 / math.sqrt(d_state)  # nn.Conv1d's initialisation, as the references draw C
        self.shift = nn.Parameter(torch.empty(d_model, d_state).uniform_(-bound, bound))  # (D, N): C, lag 0 first
        self.shift_skip = nn.Parameter(torch.randn(d_model))  # (D,): the shift SSM's D
        self.ssm = S4DLayer(self.heads, state_size=d_state, dt_min=dt_min, dt_max=dt_max)
        self.out = nn.Linear(d_model, d_model)

    def shift_taps(self) -> torch.Tensor:
        """The shift SSM as a convolution `(D, d_state)`: C, lag 0 first, with D added at lag 0."""
        return torch.cat([self.shift[:, :1] + self.shift_skip.unsqueeze(-1), self.shift[:, 1:]], dim=1)

    def forward(self, u: torch.Tensor, state=None):
        """u `(B, L, D)`; state None or (the last d_state - 1 keys, the diagonal SSM's modes)."""
        keys, modes = (None, None) if state is None else state
        q, k, v = self.qkv(u).chunk(3, dim=-1)  # (B, L, D) each
        k, keys = causal_conv(k, self.shift_taps(), keys)
        y, modes = self.ssm(self.outer(k, v), modes)
        return self.read(q, y), (keys, modes)

    def step_by_step(self, u: torch.Tensor, state=None):
        """The same, both SSMs a step at a time: the shift register as a dot product with C, the diagonal SSM's
        recurrence x_t = dA x_(t-1) + dB u_t, y_t = 2 Re(C x_t) + D u_t."""
        keys, modes = (None, None) if state is None else state
        q, k, v = self.qkv(u).chunk(3, dim=-1)
        k, keys = conv_steps(k, self.shift_taps(), keys)
        y, modes = self.ssm.loop(self.outer(k, v), modes)
        return self.read(q, y), (keys, modes)

    def outer(self, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Each head's k_i v_j, as the diagonal SSM's channels `(B head_dim^2, L, H)`, batch (b, i, j)."""
        if self.head_dim == 1:
            return k * v
        B, L, _ = k.shape
        k, v = k.view(B, L, self.heads, self.head_dim), v.view(B, L, self.heads, self.head_dim)
        kv = k.unsqueeze(-1) * v.unsqueeze(-2)  # (B, L, H, i, j)
        return kv.permute(0, 3, 4, 1, 2).reshape(-1, L, self.heads)

    def read(self, q: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """y_j = sum_i q_i SSM(k_i v_j) in each head, then the output map: `(B, L, D)`."""
        if self.head_dim == 1:
            return self.out(q * y)
        B, L, _ = q.shape
        y = y.view(B, self.head_dim, self.head_dim, L, self.heads)  # (B, i, j, L, H)
        read = torch.einsum("blhi,bijlh->blhj", q.view(B, L, self.heads, self.head_dim), y)  # (B, L, H, j)
        return self.out(read.reshape(B, L, self.d_model))

    def state_size(self, sequence_length: int) -> int:
        """The numbers the state carries: the shift SSM's last d_state - 1 keys a channel, and the diagonal SSM's
        d_state / 2 complex modes (d_state numbers) for each of a head's head_dim^2 products. (Zoology's H3 counts
        d_model d_state.)"""
        return self.d_model * (self.d_state - 1) + self.heads * self.head_dim ** 2 * self.d_state

    def flops(self, sequence_length: int) -> int:
        """One sequence's forward: the projections 2 D 3D L + 2 D^2 L; the shift SSM 2 N D L as a depthwise
        convolution (N <= 32 taps) or, above, three real FFTs of 2L points a channel and the product of spectra; the
        outer products and readout 3 D head_dim L; the diagonal SSM on H head_dim^2 channels, three real FFTs of
        2L points and the product of spectra each, its end state 2 N a channel and step, and its kernel 8 H (N / 2) L."""
        L, D, N, P = sequence_length, self.d_model, self.d_state, self.heads * self.head_dim ** 2
        conv = 3 * fft_flops(2 * L) + 6 * (L + 1)
        shift = 2 * N * D * L if N <= DIRECT_TAPS else D * conv
        return 8 * D * D * L + shift + 3 * D * self.head_dim * L + P * (conv + 2 * N * L) + 8 * self.heads * (N // 2) * L
