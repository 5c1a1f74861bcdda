"""The state passed from chunk to chunk in a chunked linear recurrence, with its backward written out:

    S_0 = initial,    S_(n+1) = carry_n * S_n + added_n,    returns (S_0 .. S_(N-1), S_N)

`carry` (B, H, N, ...) broadcasts against a state (B, H, K, V): a scalar a head (..., 1, 1) or a number a key
(..., K, 1). Every chunked kernel of seqmem/kernels/ runs this loop after its batched within-chunk work.

Why a function of its own: as plain autograd, each step's `added[:, :, n]` costs a zero tensor the size of all
of `added` in the backward (a select's gradient is written into a full tensor of zeros), so the backward grew
as the square of the chunks (at L = 8192 most of a step's time). Here the backward is the reverse scan,

    G_N = dS_N,    G_n = carry_n * G_(n+1) + dS_n    (G_n the gradient of S_n; dS_n of the n-th start)

with d added_n = G_(n+1), d carry_n = G_(n+1) . S_n summed to carry's shape, d initial = G_0: a few passes
over tensors of the size of the states, linear in the chunks.
"""

from __future__ import annotations

import torch


class ChunkScan(torch.autograd.Function):
    """carry (B, H, N, ...), added (B, H, N, K, V), initial (B, H, K, V) -> starts (B, H, N, K, V), final."""

    @staticmethod
    def forward(ctx, carry, added, initial):
        starts = torch.empty_like(added)
        starts[:, :, 0] = initial
        for n in range(added.shape[2] - 1):  # each state computed where it is kept, not copied there after
            torch.addcmul(added[:, :, n], carry[:, :, n], starts[:, :, n], out=starts[:, :, n + 1])
        S = torch.addcmul(added[:, :, -1], carry[:, :, -1], starts[:, :, -1])
        ctx.save_for_backward(carry, starts)
        return starts, S

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_starts, d_final):
        carry, starts = ctx.saved_tensors
        d_added = torch.empty_like(starts)  # d added_n = G_(n+1), each G computed where it is kept
        if d_final is None:
            d_added[:, :, -1].zero_()
        else:
            d_added[:, :, -1] = d_final
        for n in reversed(range(starts.shape[2])):
            G = d_added[:, :, n - 1] if n else None  # G_n, or G_0 (the initial state's gradient) a tensor of its own
            if d_starts is None:
                G = torch.mul(carry[:, :, n], d_added[:, :, n], out=G)
            else:
                G = torch.addcmul(d_starts[:, :, n], carry[:, :, n], d_added[:, :, n], out=G)
        d_carry = (d_added * starts).sum_to_size(carry.shape) if ctx.needs_input_grad[0] else None
        return d_carry, d_added, G


def chunk_states(carry: torch.Tensor, added: torch.Tensor, initial: torch.Tensor):
    """(the state entering each chunk (B, H, N, K, V), the state after the last); see the module docstring."""
    return ChunkScan.apply(carry, added.contiguous(), initial.expand(added[:, :, 0].shape).contiguous())
