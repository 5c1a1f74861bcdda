"""Mamba-2's gated RMSNorm (mamba's RMSNormGated with norm_before_gate False), its backward written out:

    g = y * silu(z),    out = g / sqrt(mean(g^2) + eps) * weight     (the mean over the last dimension)

As autograd ops it is about eighteen passes over tensors of the block's inner width (each mul, pow, mean and
their backwards one of its own); here the forward is five and the backward eight, with the normaliser's gradient
as one dot product a row: d g = r (d n - n mean(d n . n)) for n = g r, d n = d out * weight, and d n . n a
matrix-vector product of (d out o n), the product whose column sums are the weight's gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class GatedRMSNorm(torch.autograd.Function):
    """y, z (..., E), weight (E,) -> (..., E)."""

    @staticmethod
    def forward(ctx, y, z, weight, eps):
        s = F.silu(z)
        g = y * s
        r = torch.linalg.vector_norm(g, dim=-1, keepdim=True).square_().div_(g.shape[-1]).add_(eps).rsqrt_()
        n = g.mul_(r)  # normed, before the weight
        ctx.save_for_backward(y, z, weight, s, n, r)
        return n * weight

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        y, z, weight, s, n, r = ctx.saved_tensors
        t = (grad * n).flatten(0, -2)  # (rows, E)
        d_weight = t.sum(0) if ctx.needs_input_grad[2] else None
        dot = (t @ weight).view(r.shape)  # d n . n a row, d n = grad * weight
        dg = (grad * weight).mul_(r).addcmul_(n, dot.mul_(r).div_(-n.shape[-1]))  # r (d n - n mean(d n . n))
        return dg * s, torch.ops.aten.silu_backward(dg.mul_(y), z), d_weight, None


def gated_rms_norm(y: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm(y * silu(z)) * weight over the last dimension; see the module docstring."""
    return GatedRMSNorm.apply(y, z, weight, eps)
