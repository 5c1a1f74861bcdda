"""A sequence mixer as a researcher writes one, in zoology's convention: `--model examples/my_mixer.py:CausalSelfAttention`."""

import math

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    """Causal softmax self-attention written out (no positions: the causal mask alone tells order).

    Args:
        heads: attention heads (they split d_model)
    """

    def __init__(self, d_model: int, layer_idx: int | None = None, l_max: int = 2048, heads: int = 1, **kwargs):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, u):
        B, L, D = u.shape
        q, k, v = self.qkv(u).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, L, E) each
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // self.heads)  # (B, H, L, L)
        later = torch.ones(L, L, dtype=torch.bool, device=u.device).triu(1)  # a query's later steps
        y = scores.masked_fill(later, -math.inf).softmax(-1) @ v  # (B, H, L, E)
        return self.out(y.transpose(1, 2).reshape(B, L, D))  # (B, L, D)

    def state_size(self, sequence_length: int) -> int:
        """The keys and values a step has seen, as zoology counts them."""
        return 2 * self.qkv.in_features * sequence_length
