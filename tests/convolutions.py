"""A depthwise causal convolution written out as a matrix, the reference the gated convolutions' tests check
against: y_t = sum_(0 <= t - s < n) taps_(t-s) u_s, each channel its own taps (lag 0 first)."""

from __future__ import annotations

import torch


def toeplitz(taps: torch.Tensor, length: int) -> torch.Tensor:
    """`(C, length, length)`: T[c, t, s] = taps[c, t - s] where 0 <= t - s < n, else 0."""
    lag = torch.arange(length).unsqueeze(-1) - torch.arange(length)  # (t, s)
    inside = (lag >= 0) & (lag < taps.shape[1])
    return torch.where(inside, taps[:, lag.clamp(0, taps.shape[1] - 1)], torch.zeros((), dtype=taps.dtype))


def convolve(u: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """u `(B, L, C)` through each channel's causal filter taps `(C, n)`: `(B, L, C)`."""
    return torch.einsum("cts,bsc->btc", toeplitz(taps, u.shape[1]), u)
