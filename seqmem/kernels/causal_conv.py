"""A causal dilated 1-d convolution, run as a channels-last 2-d convolution of height 1.

On CPU, `F.conv1d` hands oneDNN the (B, C, L) layout, whose dilated backward costs three to four times
its forward. Seen as a (B, C, 1, L) image stored channels-last, i.e. as (B, L, C) in memory, the same
convolution gets oneDNN's channels-last kernels: the forward is faster still and the backward two to
three times the forward, near the twice that is its work (benchmarks/tcn_speed.py measures both).
A (B, C, L) view of a (B, L, C) tensor, such as the encoder's output transposed, goes in without a copy,
and the output is such a view too. `depthwise_causal_conv` is Mamba's short convolution, a channel's own
taps each, with a backward of its own (oneDNN's depthwise backward runs at a sixth of its forward's speed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK = 2**18  # numbers of the output gradient a block of the taps' gradient: about a megabyte, a cache's share


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


def _depthwise(padded: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, pad: int = 0) -> torch.Tensor:
    """`pad` zeros on both sides of the steps, added by the convolution itself (a padded copy first ran the
    backward's convolution eight times slower)."""
    image = padded.transpose(1, 2).unsqueeze(2)  # (B, C, 1, K-1+L), stored as (B, K-1+L, C)
    out = F.conv2d(image, weight.unsqueeze(2), bias, padding=(0, pad), groups=weight.shape[0])
    return out.squeeze(2).transpose(1, 2)


class DepthwiseCausalConv(torch.autograd.Function):
    """Each channel's own K taps over `(B, K-1+L, C)` (the left context included), output `(B, L, C)`, by
    oneDNN's channels-last kernel; the backward by hand, six times faster than oneDNN's for depthwise
    taps here: the input's gradient is the same convolution of the padded output gradient with the taps
    reversed, each tap's gradient one product summed over batch and time."""

    @staticmethod
    def forward(ctx, padded, weight, bias):  # weight (C, 1, K), bias (C,)
        ctx.save_for_backward(padded, weight)
        return _depthwise(padded, weight, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        padded, weight = ctx.saved_tensors
        K, L = weight.shape[-1], grad.shape[1]
        grad_input = _depthwise(grad, weight.flip(-1), None, pad=K - 1)
        # each tap's product summed over batch and time, a block of batch elements at a time, so that the block's
        # gradient is read from cache by the K products after the first (three times faster than K whole passes)
        step = max(1, BLOCK // (L * grad.shape[2]))
        products = grad.new_empty(min(step, grad.shape[0]), L, grad.shape[2])
        grad_weight, grad_bias = grad.new_zeros(K, grad.shape[2]), grad.new_zeros(grad.shape[2])
        for b in range(0, grad.shape[0], step):
            block = grad[b:b + step]
            for k in range(K):
                grad_weight[k] += torch.mul(block, padded[b:b + step, k:k + L], out=products[:len(block)]).sum((0, 1))
            grad_bias += block.sum((0, 1))
        return grad_input, grad_weight.T.contiguous().unsqueeze(1), grad_bias if ctx.needs_input_grad[2] else None


def depthwise_causal_conv(padded: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """`(B, K-1+L, C)` in, `(B, L, C)` out: output t sees inputs t .. t+K-1 of `padded`, i.e. steps <= t."""
    return DepthwiseCausalConv.apply(padded, weight, bias)
