"""Feature maps of linear attention: phi applied to queries and keys so that phi(q) . phi(k) stands in for a
similarity, softmax's exp(q . k) among them.

- `identity`: phi(x) = x (the dot product itself; can be negative, so no normaliser).
- `elu`: phi(x) = elu(x) + 1, positive (Katharopoulos et al. 2020, "Transformers are RNNs").
- `taylor`: Based's second-order Taylor map (Arora et al. 2024; HazyResearch/zoology `zoology/mixers/based.py`
  `TaylorExp`, fla-org/flash-linear-attention `fla/modules/feature_map.py` `TaylorFeatureMap`):
  phi(x) = [1, x / d^(1/4), (x (x) x) / (sqrt(2) sqrt(d))] for x of width d, so that
  phi(q) . phi(k) = 1 + s + s^2 / 2 with s = q . k / sqrt(d), the Taylor expansion of exp(s), which is
  ((s + 1)^2 + 1) / 2 > 0: positive, a normaliser is safe. Width 1 + d + d^2 (the full outer product, as
  zoology's forward takes it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FEATURE_MAPS = ("identity", "elu", "taylor")
POSITIVE = ("elu", "taylor")  # maps whose dot products are positive: linear attention divides by their sum


def feature_width(name: str, width: int) -> int:
    """The width of phi(x) for x of `width`."""
    return 1 + width + width * width if name == "taylor" else width


def feature_map(name: str, x: torch.Tensor) -> torch.Tensor:
    """phi(x) over the last dimension: (..., d) -> (..., feature_width(name, d))."""
    if name == "identity":
        return x
    if name == "elu":
        return F.elu(x) + 1
    d = x.shape[-1]
    square = (x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2) / (2 * d) ** 0.5  # (..., d^2)
    return torch.cat([torch.ones_like(x[..., :1]), x / d ** 0.25, square], dim=-1)
