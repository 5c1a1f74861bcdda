"""Causal linear attention with a scalar decay per head and step: the recurrence behind linear attention,
RetNet, Mamba-2 and Based's linear half.

    S_t = a_t S_{t-1} + k_t v_t^T        o_t = q_t S_t          S: (B, H, K, V) a head

with a_t = sign_t exp(log_a_t): `log_a` (B, H, L), at most 0, is the log of the decay's magnitude (None: a_t
= 1, plain linear attention) and `sign` (B, H, L) of +1 and -1 (None: all +1) lets a decay be negative
(Grazzi et al. 2024, arXiv 2411.12537). `split_decay` turns a signed decay into the two.

Both functions take and return the state S, so either continues the other's stream:

    chunked(q, k, v, log_a=None, sign=None, state=None, chunk=64) -> (o, S)
    step_by_step(q, k, v, log_a=None, sign=None, state=None) -> (o, S)

q, k (B, H, L, K), v (B, H, L, V), o (B, H, L, V). q and k may have one head (H = 1) shared by every head, as
Mamba-2's B and C are: they broadcast. A normaliser (the denominator q_t . z_t, z_t = a_t z_{t-1} + k_t, of
linear attention with a positive feature map) is the last column of o when v is given a column of ones
(`with_ones`, `normalise`): z is then the state's last column.

The chunked form is the chunkwise algorithm (Yang et al. 2023, "Gated Linear Attention Transformers with
Hardware-Efficient Training"; Dao and Gu 2024, "Transformers are SSMs", the SSD of state-spaces/mamba's
`mamba_ssm/modules/ssd_minimal.py`): the sequence cut into chunks of C steps, within a chunk the (C, C) causal
matrix of decays exp(c_i - c_j) (c the cumulative log decay within the chunk; above the diagonal, where
c_i - c_j >= 0, exp may overflow to inf before the mask sets those entries to 0) times Q K^T, times V; plus the
chunk's queries against the state carried in, decayed by exp(c_i). Signs ride along as the cumulative products
P_i of the signs within the chunk: the product of signs over (j, i] is P_i P_j, so P_j goes on the values and P_i
on the outputs. Every chunk's inner work runs at once as batched matmuls (`WithinChunks`, its backward written
out); only the state is passed from chunk to chunk in a loop (seqmem/kernels/chunk_scan.py). With q and k one
head shared by all (Mamba-2's C and B), the state's matmuls take the heads side by side (`carried_shared`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqmem.kernels.chunk_scan import ChunkScan, chunk_states


def split_decay(a: torch.Tensor, tiny: float = 1e-30) -> tuple[torch.Tensor, torch.Tensor]:
    """A signed decay `a` in [-1, 1] as (log |a|, sign of a): |a| held at `tiny` or above, so a decay of
    exactly 0 gives a finite log."""
    return a.abs().clamp_min(tiny).log(), torch.where(a < 0, -1.0, 1.0).to(a.dtype)


def with_ones(v: torch.Tensor) -> torch.Tensor:
    """v (..., V) with a column of ones after it (..., V + 1): the state's last column is then the normaliser z."""
    return torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)


def normalise(o: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """o (..., V + 1) from values given `with_ones`: the first V columns over the last, q . z (plus eps)."""
    return o[..., :-1] / (o[..., -1:] + eps)


def step_by_step(q, k, v, log_a=None, sign=None, state=None):
    """The recurrence a step at a time (the reference, and streaming): returns o (B, H, L, V) and S (B, H, K, V)."""
    B, H = v.shape[0], v.shape[1]
    S = state if state is not None else v.new_zeros(B, H, q.shape[-1], v.shape[-1])
    L = v.shape[2]
    decays = (log_a.exp() if sign is None else sign * log_a.exp()).unbind(2) if log_a is not None else [None] * L
    outputs = []
    # each step's slice by unbind: indexing x[:, :, t] would make the backward of every read a zero tensor
    # the size of the whole sequence, quadratic in L
    for q_t, k_t, v_t, a in zip(q.unbind(2), k.unbind(2), v.unbind(2), decays, strict=True):
        if a is not None:
            S = a[..., None, None] * S  # a (B, H)
        S = S + k_t[..., :, None] * v_t[..., None, :]  # (B, H, K, V)
        outputs.append((q_t[..., :, None] * S).sum(-2))  # (B, H, V)
    return torch.stack(outputs, dim=2), S


class WithinChunks(torch.autograd.Function):
    """Each chunk's own steps, ((Q K^T) o W) V with W_ij = exp(c_i - c_j) for j <= i (0 above), and its
    backward by hand: dV = A^T dO, dA = dO V^T; dQ, dK from dA o W; dc from dA o A (A = (Q K^T) o W) by row
    sums less column sums. Written out, it makes about half the passes over the (C, C) matrices that autograd's
    sub, masked_fill, exp and mul backwards make, and no copies of them. q, k (B, H or 1, N, C, K), c (B, H, N,
    C) cumulative log decays or None (no decay: W is the causal mask alone), v (B, H, N, C, V)."""

    @staticmethod
    def forward(ctx, q, k, c, v):
        C = q.shape[-2]
        if c is None:
            W = torch.ones(C, C, dtype=q.dtype, device=q.device).tril_()  # (C, C)
        else:  # (B, H, N, C, C); above the diagonal exp may overflow to inf, which tril_ then drops
            W = (c[..., :, None] - c[..., None, :]).exp_().tril_()  # twice as fast as exp of a -inf-masked matrix
        scores = q @ k.transpose(-1, -2)  # (B, H or 1, N, C, C)
        A = scores * W
        v = v.contiguous()  # once here, not in each matmul with it (Mamba-2's values come laid out steps first)
        ctx.save_for_backward(q, k, v, W, A, scores if scores.shape[1] < A.shape[1] else None)
        return A @ v

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        q, k, v, W, A, scores = ctx.saved_tensors
        grad = grad.contiguous()  # once here, not in each of the two matmuls with it
        dA = grad @ v.transpose(-1, -2)  # (B, H, N, C, C)
        dv = A.transpose(-1, -2) @ grad
        if scores is None:
            dS = dA * W
        else:  # q and k shared by the heads: dS summed over them, and dA o A = dS o scores, so dA can become dS
            dlog = dA.mul_(W)
            dS = dlog.sum(1, keepdim=True)
        dq, dk = dS @ k, dS.transpose(-1, -2) @ q
        if not ctx.needs_input_grad[2]:  # no decay, or a fixed one (RetNet's)
            return dq, dk, None, dv
        dlog = dA.mul_(A) if scores is None else dlog.mul_(scores)  # d/d(c_i - c_j); zero above the diagonal
        return dq, dk, dlog.sum(-1) - dlog.sum(-2), dv


def chunked(q, k, v, log_a=None, sign=None, state=None, chunk: int = 64):
    """The chunkwise-parallel form: returns o (B, H, L, V) and S (B, H, K, V), equal to `step_by_step`'s."""
    B, H, L, V = v.shape
    K = q.shape[-1]
    C = min(chunk, L)
    N = -(-L // C)  # chunks; the last is padded with steps that change nothing (k = 0, decay 1)
    pad = N * C - L
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        log_a = None if log_a is None else F.pad(log_a, (0, pad))
        sign = None if sign is None else F.pad(sign, (0, pad), value=1.0)
    q, k, v = (t.unflatten(2, (N, C)) for t in (q, k, v))  # (B, H or 1, N, C, K or V)
    if log_a is None and sign is None:  # plain linear attention: no decay to weigh anything by
        S = state if state is not None else v.new_zeros(B, H, K, V)
        added = k.transpose(-1, -2) @ v  # (B, H, N, K, V)
        starts, S = chunk_states(v.new_ones(1, 1, N, 1, 1), added, S)
        o = WithinChunks.apply(q, k, None, v) + q @ starts
        return o.flatten(2, 3)[:, :, :L], S
    if log_a is None:
        log_a = v.new_zeros(B, H, N * C)
    c = log_a.unflatten(2, (N, C)).cumsum(-1)  # (B, H, N, C): log decay from the chunk's start to step i
    into = c.exp()  # (B, H, N, C): decay from the chunk's start to step i
    out_of = (c[..., -1:] - c).exp()  # (B, H, N, C): decay from step i to the chunk's end
    across = into[..., -1]  # (B, H, N): decay over the whole chunk
    if sign is None:
        o = WithinChunks.apply(q, k, c, v)  # (B, H, N, C, V): the chunk's own steps
    else:
        P = sign.unflatten(2, (N, C)).cumprod(-1)  # (B, H, N, C), products of +-1: exact
        # the sign of a_(j+1) ... a_i is P_i P_j: on the query side of the product and the value side
        o = P[..., None] * WithinChunks.apply(q, k, c, v * P[..., None])
        into, out_of, across = into * P, out_of * P * P[..., -1:], across * P[..., -1]
    S = state if state is not None else v.new_zeros(B, H, K, V)
    if q.shape[1] == 1 and H > 1:  # q and k one head for all (Mamba-2's C and B)
        carried, S = carried_shared(q, k, v, into, out_of, across, S)
        o = (carried + steps_first(o)).permute(0, 3, 1, 2, 4)  # (B, H, N, C, V), laid out steps before heads
        return o.flatten(2, 3)[:, :, :L], S
    # the per-step decays scale whichever side is narrower, keys (K) or values (V): the same product, less traffic
    if K <= V:
        added = (k * out_of[..., None]).transpose(-1, -2) @ v  # (B, H, N, K, V): what each chunk adds to the state
    else:
        added = k.transpose(-1, -2) @ (v * out_of[..., None])
    starts, S = chunk_states(across[..., None, None], added, S)  # (B, H, N, K, V): the state into each chunk
    o = o + ((q * into[..., None]) @ starts if K <= V else (q @ starts) * into[..., None])
    return o.flatten(2, 3)[:, :, :L], S


def steps_first(t: torch.Tensor) -> torch.Tensor:
    """(B, H, N, ...) viewed as (B, N, C, H, ...): the heads after a chunk's steps, C the dimension after N."""
    return t.permute(0, 2, 3, 1, *range(4, t.dim()))


def carried_shared(q, k, v, into, out_of, across, S):
    """The state's part of `chunked` for q and k (B, 1, N, C, K) shared by the heads: what each chunk adds to the
    state, K^T (V o out_of), and the queries against the state carried in, (Q S) o into, each as one matmul a chunk
    with the heads' values side by side, (K, C) @ (C, H V) and (C, K) @ (K, H V). Against a matmul a head, q and
    k are not copied for each head nor their gradients summed over heads after, and the products, H times wider,
    run at about twice the rate. Returns the carried-in term laid out (B, N, C, H, V) and the final state."""
    B, H, N, C, V = v.shape
    # the decays laid out as the products they scale (a permuted view of them broadcast runs several times slower)
    into, out_of = (steps_first(t).contiguous()[..., None] for t in (into, out_of))  # (B, N, C, H, 1)
    values = steps_first(v) * out_of  # (B, N, C, H, V)
    added = (k[:, 0].transpose(-1, -2) @ values.flatten(-2)).unflatten(-1, (H, V))  # (B, N, K, H, V)
    # the scan on the matmul's layout, not a copy of it (`chunk_states` would make one): the states into the chunks
    # come out laid out (B, N, K, H, V) too, as the queries' matmul takes them
    initial = S.expand(B, H, *S.shape[-2:]).contiguous()
    starts, S = ChunkScan.apply(across[..., None, None], added.permute(0, 3, 1, 2, 4), initial)  # (B, H, N, K, V)
    carried = (q[:, 0] @ steps_first(starts).flatten(-2)).unflatten(-1, (H, V))  # (B, N, C, H, V)
    return carried * into, S


def flops(length: int, heads: int, key_dim: int, value_dim: int, chunk: int = 64) -> int:
    """Matmul FLOPs of `chunked` over one sequence: per chunk of C steps and head, Q K^T (2 C^2 K), times V
    (2 C^2 V), what the chunk adds to the state (2 C K V) and the queries against the state carried in (2 C K V);
    the padded length, since a partial last chunk is computed whole."""
    C = min(chunk, length)
    padded = -(-length // C) * C
    return heads * padded * (2 * C * (key_dim + value_dim) + 4 * key_dim * value_dim)
