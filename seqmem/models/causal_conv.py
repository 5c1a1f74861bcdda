"""A causal dilated 1-d convolution, run as a channels-last 2-d convolution of height 1.

On CPU, `F.conv1d` hands oneDNN the (B, C, L) layout, whose dilated backward costs three to four times
its forward. Seen as a (B, C, 1, L) image stored channels-last, i.e. as (B, L, C) in memory, the same
convolution gets oneDNN's channels-last kernels: the forward is faster still and the backward two to
three times the forward, near the twice that is its work (benchmarks/tcn_speed.py measures both).
A (B, C, L) view of a (B, L, C) tensor, such as the encoder's output transposed, goes in without a copy,
and the output is such a view too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, dilation: int = 1,
                  past: torch.Tensor | None = None) -> torch.Tensor:
    """`F.conv1d(x, weight, bias, dilation=dilation)` with `x` (B, C_in, L) padded on the left by
    `(K - 1) dilation` zeros, or by `past` (B, C_in, (K - 1) dilation), the steps before `x`:
    output (B, C_out, L), step t seeing only steps <= t, stored as (B, L, C_out)."""
    left = (weight.shape[2] - 1) * dilation
    if past is not None:
        x = torch.cat([past, x], dim=2)
    image = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    if past is None and left:
        image = F.pad(image, (left, 0))  # keeps the channels-last layout
    return F.conv2d(image, weight.unsqueeze(2), bias, dilation=(1, dilation)).squeeze(2)
