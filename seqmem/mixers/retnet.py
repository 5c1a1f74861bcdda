"""RetNet's multi-scale retention (Sun et al. 2023, "Retentive Network") as a sequence mixer, on seqmem's
scalar-decay kernel.

Each head h keeps a state that decays by a fixed gamma_h = 1 - 2^(-5-h) a step (the paper's; fla-org/
flash-linear-attention `fla/ops/retention/naive.py` and `fla/layers/multiscale_retention.py`): o_t =
sum_{s<=t} gamma_h^(t-s) (q_t . k_s) v_s, queries scaled by 1/sqrt(key width) as fla does. Positions enter
as fla's layer gives them: rotary embeddings on queries and keys (RoPE, seqmem/mixers/attention.py's
`rotate`), not the paper's xPos, whose extra per-position scale the fixed decay already provides. Keys are
d_model wide, values 2 d_model (fla's expand_k 1, expand_v 2). Each head's output is group-normed (the
paper's GroupNorm, a LayerNorm a head), gated by swish(X W_G) and projected out: (swish(X W_G) o
GroupNorm(Y)) W_O, the paper's eq. 8. The state: each head's (key x value) matrix and the steps seen (for
the rotary positions).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels import scalar_decay
from seqmem.mixers.attention import rotate
from seqmem.models import register_model


def log_decays(heads: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """log gamma_h, gamma_h = 1 - 2^(-5-h) for h = 0 .. heads-1: (heads,)."""
    return torch.log1p(-(2.0 ** (-5 - torch.arange(heads, dtype=torch.float64, device=device)))).to(dtype)


@register_model("retnet")
class RetNet(nn.Module):
    """RetNet: multi-scale retention (fixed decay a head, rotary positions, group norm, swish gate)

    Args:
        heads: retention heads (they split the keys and values); head h decays by 1 - 2^(-5-h)
        chunk: steps a chunk of the chunked (training) form
    """

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, heads: int = 2, chunk: int = 64):
        super().__init__()
        for name, value in (("d_model", d_model), ("heads", heads), ("chunk", chunk)):
            check_int(name, value)
        if d_model % heads:
            raise ConfigError(f"heads must divide d_model ({d_model}), got {heads}")
        self.d_model, self.layer_idx, self.heads, self.chunk = d_model, layer_idx, heads, chunk
        self.key_width, self.value_width = d_model // heads, 2 * d_model // heads
        self.q = nn.Linear(d_model, d_model, bias=False)
        self.k = nn.Linear(d_model, d_model, bias=False)
        self.v = nn.Linear(d_model, 2 * d_model, bias=False)
        self.g = nn.Linear(d_model, 2 * d_model, bias=False)
        self.group_norm = nn.GroupNorm(heads, 2 * d_model)
        self.out = nn.Linear(2 * d_model, d_model, bias=False)

    def mix(self, u: torch.Tensor, state, form):
        """u (B, L, D) through retention, by `form` (the kernel's chunked or step_by_step)."""
        B, L, D = u.shape
        S, start = (None, 0) if state is None else (state[0], int(state[1]))
        q, k = (p(u).view(B, L, self.heads, -1).transpose(1, 2) for p in (self.q, self.k))  # (B, H, L, K)
        q, k = rotate(q, start) * self.key_width ** -0.5, rotate(k, start)
        v = self.v(u).view(B, L, self.heads, -1).transpose(1, 2)  # (B, H, L, V)
        log_a = log_decays(self.heads, u.dtype, u.device)[:, None].expand(B, self.heads, L)  # (B, H, L)
        o, S = form(q, k, v, log_a, None, S)  # (B, H, L, V)
        o = self.group_norm(o.transpose(1, 2).reshape(B * L, 2 * D)).view(B, L, 2 * D)
        return self.out(F.silu(self.g(u)) * o), (S, torch.tensor(start + L, device=u.device))

    def forward(self, u: torch.Tensor, state=None):
        """The chunked form: u (B, L, D), state None or (S (B, H, K, V), steps seen) -> y (B, L, D), state."""
        return self.mix(u, state, lambda *a: scalar_decay.chunked(*a, chunk=self.chunk))

    def step_by_step(self, u: torch.Tensor, state=None):
        """The recurrent form, a step at a time; the same state as `forward`'s."""
        return self.mix(u, state, scalar_decay.step_by_step)

    def state_size(self, sequence_length: int) -> int:
        """heads x key width x value width: d_model x 2 d_model / heads."""
        return self.heads * self.key_width * self.value_width

    def flops(self, sequence_length: int) -> int:
        """Forward FLOPs of one sequence, chunked: q, k 2 L D D each, v and the gate 2 L D 2D each, out 2 L 2D D,
        and the kernel's (seqmem.kernels.scalar_decay.flops, key width D / H, value width 2 D / H)."""
        L, D = sequence_length, self.d_model
        return 2 * L * D * D * (1 + 1 + 2 + 2 + 2) + scalar_decay.flops(L, self.heads, self.key_width,
                                                                        self.value_width, self.chunk)
