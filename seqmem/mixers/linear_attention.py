"""Causal linear attention as a sequence mixer: softmax's exp(q . k) replaced by phi(q) . phi(k) for a feature
map phi, so attention becomes a recurrence over a (features x values) state a head (Katharopoulos et al. 2020;
HazyResearch/zoology `zoology/mixers/based.py` with its identity or Taylor map).

Queries and keys are projected to `feature_dim` a head, values to d_model / heads; phi is applied to queries and
keys (seqmem/kernels/feature_maps.py); where phi is positive (elu, taylor) the output is divided by
phi(q_t) . sum_{s<=t} phi(k_s), as zoology's and fla's linear attention do; identity's dot products can be
negative, so it is left undivided. No decay (a_t = 1): the kernel of seqmem/kernels/scalar_decay.py with
log_a None. The state is that matrix a head, the normaliser its last column.
"""

from __future__ import annotations

import torch
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels import scalar_decay
from seqmem.kernels.feature_maps import FEATURE_MAPS, POSITIVE, feature_map, feature_width
from seqmem.models import register_model


@register_model("linear-attention")
class LinearAttention(nn.Module):
    """Linear attention: causal attention through a feature map (identity, elu+1, Based's Taylor), a matrix state

    Args:
        heads: heads a layer (they split d_model for the values)
        feature_map: phi on queries and keys: identity, elu (elu + 1) or taylor (Based's 2nd-order Taylor map)
        feature_dim: width of a head's queries and keys before the feature map (taylor makes 1 + f + f^2 of f)
        chunk: steps a chunk of the chunked (training) form
    """

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, heads: int = 1,
                 feature_map: str = "elu", feature_dim: int = 16, chunk: int = 64):
        super().__init__()
        for name, value in (("d_model", d_model), ("heads", heads), ("feature_dim", feature_dim), ("chunk", chunk)):
            check_int(name, value)
        if d_model % heads:
            raise ConfigError(f"heads must divide d_model ({d_model}), got {heads}")
        if feature_map not in FEATURE_MAPS:
            raise ConfigError(f"feature_map must be one of {', '.join(FEATURE_MAPS)}, got {feature_map!r}")
        self.d_model, self.layer_idx, self.heads, self.chunk = d_model, layer_idx, heads, chunk
        self.feature_map, self.feature_dim = feature_map, feature_dim
        self.normalised = feature_map in POSITIVE
        self.key_width = feature_width(feature_map, feature_dim)  # a head's key features
        self.value_width = d_model // heads
        self.q = nn.Linear(d_model, heads * feature_dim, bias=False)
        self.k = nn.Linear(d_model, heads * feature_dim, bias=False)
        self.v = nn.Linear(d_model, d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def mix(self, u: torch.Tensor, state, form):
        """u (B, L, D) through the projections and `form` (the kernel's chunked or step_by_step)."""
        B, L, D = u.shape
        q, k = (feature_map(self.feature_map, p(u).view(B, L, self.heads, -1).transpose(1, 2))
                for p in (self.q, self.k))  # (B, H, L, F)
        v = self.v(u).view(B, L, self.heads, -1).transpose(1, 2)  # (B, H, L, E)
        if self.normalised:
            v = scalar_decay.with_ones(v)  # (B, H, L, E + 1): the state's last column sums the keys
        o, state = form(q, k, v, state=state)
        if self.normalised:
            o = scalar_decay.normalise(o)
        return self.out(o.transpose(1, 2).reshape(B, L, D)), state

    def forward(self, u: torch.Tensor, state=None):
        """The chunked form: u (B, L, D), state None or (B, H, F, E [+ 1]) -> y (B, L, D), state."""
        return self.mix(u, state, lambda *a, **kw: scalar_decay.chunked(*a, **kw, chunk=self.chunk))

    def step_by_step(self, u: torch.Tensor, state=None):
        """The recurrent form, a step at a time; the same state as `forward`'s."""
        return self.mix(u, state, scalar_decay.step_by_step)

    def state_size(self, sequence_length: int) -> int:
        """heads x key features x value width (zoology's count), and the normaliser's heads x key features where
        the map has one."""
        return self.heads * self.key_width * (self.value_width + self.normalised)

    def flops(self, sequence_length: int) -> int:
        """Forward FLOPs of one sequence, chunked: q and k projections 2 L D (2 H f), v and out 2 L D D each, and
        the kernel's (seqmem.kernels.scalar_decay.flops: key width F of the map, value width E [+ 1])."""
        L, D = sequence_length, self.d_model
        projections = 2 * L * D * (2 * self.heads * self.feature_dim) + 2 * (2 * L * D * D)
        return projections + scalar_decay.flops(L, self.heads, self.key_width, self.value_width + self.normalised,
                                                self.chunk)
