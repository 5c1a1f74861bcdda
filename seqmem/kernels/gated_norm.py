"""Mamba-2's gated RMSNorm (mamba's RMSNormGated with norm_before_gate False) without its weight, the backward
written out:

    g = y * silu(z),    n = g / sqrt(mean(g^2) + eps)     (the mean over the last dimension)

The norm's weight w is left to the caller to fold into the projection after it, (n * w) W^T = n (W * w)^T: a
(D, E) product instead of a pass over (B, L, E). As autograd ops the norm is about fourteen passes over tensors
of the block's inner width (each mul, pow, mean and their backwards one of its own); here the forward is four
and the backward eight, with the normaliser's gradient as one dot product a row: d g = r (d n - n mean(d n . n)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class GatedRMSNorm(torch.autograd.Function):
    """y, z (..., E) -> n (..., E)."""

    @staticmethod
    def forward(ctx, y, z, eps):
        s = F.silu(z)
        g = y * s
        r = torch.linalg.vector_norm(g, dim=-1, keepdim=True).square_().div_(g.shape[-1]).add_(eps).rsqrt_()
        n = g.mul_(r)
        ctx.save_for_backward(y, z, s, n, r)
        return n

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dn):
        y, z, s, n, r = ctx.saved_tensors
        dot = (dn * n).sum(-1, keepdim=True)  # d n . n a row
        dg = (dn * r).addcmul_(n, dot.mul_(r).div_(-n.shape[-1]))  # r (d n - n mean(d n . n))
        return dg * s, torch.ops.aten.silu_backward(dg.mul_(y), z), None


def gated_rms_norm(y: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm(y * silu(z)) over the last dimension, unweighted; see the module docstring."""
    return GatedRMSNorm.apply(y, z, eps)
