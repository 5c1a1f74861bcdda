"""The positional features an implicit long filter is read from: a small MLP maps each lag's features to every
channel's tap at that lag, so a filter as long as the task costs a few hundred parameters (Poli et al. 2023,
"Hyena Hierarchy", section 3.3; HazyResearch/safari `src/models/sequence/hyena.py`, `PositionalEmbedding`, and
HazyResearch/zoology `zoology/mixers/convolution.py`, which read the same features)."""

from __future__ import annotations

import math

import torch


def filter_positions(l_max: int) -> torch.Tensor:
    """t_l = l / (l_max - 1) for each lag l < l_max, `(l_max, 1)`: the lag on [0, 1] (0 alone for l_max 1)."""
    return torch.linspace(0, 1, l_max).unsqueeze(-1)


def filter_features(l_max: int, features: int) -> torch.Tensor:
    """`(l_max, features)`: the lag on [0, 1], then the real and imaginary parts of exp(-i f_b 2 pi l / l_max)
    for (features - 1) / 2 bands f_b spread evenly from 1e-4 to bands - 1 (the references' bands, the first
    one all but constant)."""
    bands = (features - 1) // 2
    angle = 2 * math.pi * torch.arange(l_max, dtype=torch.float64).unsqueeze(-1) / l_max  # (l_max, 1)
    f = torch.linspace(1e-4, bands - 1, bands, dtype=torch.float64)  # (bands,)
    return torch.cat([filter_positions(l_max).double(), torch.cos(f * angle), -torch.sin(f * angle)], -1).float()
