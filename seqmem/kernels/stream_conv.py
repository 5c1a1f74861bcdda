"""A depthwise causal convolution that continues a stream: each channel's own filter of n taps, its state the
last n - 1 inputs (zeros before the stream began), so a stream fed in chunks gives the whole stream's outputs.

Three forms of the same map y_t = sum_(j < n) taps_j u_(t-j), checked equal in tests/test_stream_conv.py:
`long_conv` by FFT (seqmem's `CausalConvolution`: a filter as long as the task, the gated convolutions'),
`short_conv` by a depthwise convolution (a few taps: the short convolutions before them), and `conv_step`, one
step as a dot product of the filter with the inputs kept (the recurrent form, the reference); `causal_conv`
picks the faster of the first two for a filter's length. A filter of n taps
is zero beyond lag n - 1: a stream longer than n steps forgets what is older, in every form alike.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seqmem.kernels.causal_conv import depthwise_causal_conv
from seqmem.kernels.fft_conv import CausalConvolution

DIRECT_TAPS = 32  # up to here a depthwise convolution, forward and backward, beat the FFTs (at 64 they were even)


def empty_past(u: torch.Tensor, taps: int) -> torch.Tensor:
    """The state before a stream: `taps - 1` zero inputs, `(B, taps - 1, C)`."""
    return u.new_zeros(u.shape[0], taps - 1, u.shape[2])


def kept(x: torch.Tensor, taps: int) -> torch.Tensor:
    """The state after the inputs `x` `(B, S, C)`: their last `taps - 1`, zeros on the left where fewer; a tensor
    of its own, not a view of x (a saved view would carry all of x)."""
    if x.shape[1] >= taps - 1:
        return x[:, x.shape[1] - (taps - 1):].clone()
    return F.pad(x, (0, 0, taps - 1 - x.shape[1], 0))


def long_conv(u: torch.Tensor, taps: torch.Tensor, past: torch.Tensor | None = None):
    """u `(B, L, C)`, taps `(C, n)` (lag 0 first), past `(B, n - 1, C)` or None: y `(B, L, C)` and the state.

    By one FFT convolution of the past and the chunk together (the past's own outputs dropped): the taps cut or
    zero-padded to that length, so lags of n and more contribute nothing."""
    n, L = taps.shape[1], u.shape[1]
    x = u if past is None else torch.cat([past, u], dim=1)  # (B, S, C)
    S = x.shape[1]
    K = taps[:, :S] if n >= S else F.pad(taps, (0, S - n))  # (C, S)
    y = CausalConvolution.apply(x.transpose(1, 2), K)[..., S - L:]  # (B, C, L)
    return y.transpose(1, 2).contiguous(), kept(x, n)  # (B, L, C) in memory: the gates after run 3x faster


def short_conv(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, past: torch.Tensor | None = None):
    """u `(B, L, C)`, weight `(C, 1, k)` in nn.Conv1d's layout (its last tap multiplies the current step), bias
    `(C,)` or None, past `(B, k - 1, C)` or None: y `(B, L, C)` and the state. By oneDNN's depthwise kernel."""
    k = weight.shape[-1]
    x = torch.cat([empty_past(u, k) if past is None else past, u], dim=1)  # (B, k - 1 + L, C)
    return depthwise_causal_conv(x, weight, bias), kept(x, k)


def causal_conv(u: torch.Tensor, taps: torch.Tensor, past: torch.Tensor | None = None):
    """`long_conv` or `short_conv`, whichever is faster for taps `(C, n)` (lag 0 first): a depthwise
    convolution up to DIRECT_TAPS taps, FFTs above."""
    if taps.shape[1] > DIRECT_TAPS:
        return long_conv(u, taps, past)
    return short_conv(u, taps.flip(-1).unsqueeze(1), None, past)


def oldest_first(taps: torch.Tensor) -> torch.Tensor:
    """Taps `(C, n)`, lag 0 first, as `(n, C)` in the order a window holds its inputs: oldest first."""
    return taps.flip(-1).transpose(0, 1)


def conv_step(u: torch.Tensor, taps: torch.Tensor, past: torch.Tensor, bias: torch.Tensor | None = None):
    """One step: u `(B, C)`, taps `(C, n)` (lag 0 first), past `(B, n - 1, C)`: y_t = sum_j taps_j u_(t-j) (+ bias)
    `(B, C)` and the past moved on by one step."""
    return window_step(u, oldest_first(taps), past, bias)


def window_step(u: torch.Tensor, weights: torch.Tensor, past: torch.Tensor, bias: torch.Tensor | None):
    """`conv_step` with the taps as `oldest_first` gives them, so a loop turns them once, not every step. One
    contraction, which keeps only the window for the backward (a flip and a product kept two more copies: 22 MB a
    step for Hyena's 2048 taps at batch 8, d_model 128, where this keeps 8)."""
    window = torch.cat([past, u.unsqueeze(1)], dim=1)  # (B, n, C), oldest first
    y = torch.einsum("bnc,nc->bc", window, weights)  # (B, C)
    return (y if bias is None else y + bias), window[:, 1:]


def conv_steps(u: torch.Tensor, taps: torch.Tensor, past: torch.Tensor | None = None,
               bias: torch.Tensor | None = None):
    """`conv_step` over each step of u `(B, L, C)` in turn: y `(B, L, C)` and the state."""
    past = empty_past(u, taps.shape[1]) if past is None else past
    weights, outputs = oldest_first(taps), []
    for u_t in u.unbind(1):  # not u[:, t]: its backward is quadratic in L
        y, past = window_step(u_t, weights, past, bias)
        outputs.append(y)
    return torch.stack(outputs, dim=1), past.clone()  # its own tensor, not a view of the last window


def lag_taps(weight: torch.Tensor) -> torch.Tensor:
    """nn.Conv1d's depthwise weight `(C, 1, k)` as taps `(C, k)`, lag 0 first."""
    return weight[:, 0].flip(-1)


def fft_flops(n: int) -> int:
    """A real FFT of n points, counted as 5 n log2 n."""
    return int(5 * n * math.log2(n))
