"""The (gated) delta rule, chunked by the WY / UT transform, and step by step.

Convention: each head's state S is a `(K, V)` matrix with keys as rows, and a step reads

    S_t = a_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,        o_t = scale * S_t^T q_t,

i.e. S is decayed by a_t, then the value it predicts for k_t is moved a fraction beta_t of the way to v_t.
a_t = 1 is DeltaNet (Schlag et al. 2021; Yang et al. 2024, arXiv 2406.06484); a_t = exp(log_decay_t), a
scalar a head and step, is Gated DeltaNet (Yang, Kautz, Hatamizadeh 2024, arXiv 2412.06464). `scale` is
1/sqrt(K) unless given, as fla's kernels take it (fla-org/flash-linear-attention `fla/ops/delta_rule/naive.py`).

The chunked form. Within a chunk of C steps starting from S_0, let g_i be the cumulative log decay up to step
i (so the decay from step j to step i is exp(g_i - g_j)) and delta_i = beta_i (v_i - a_i S_{i-1}^T k_i) the
correction step i writes. Unrolling, S_i = exp(g_i) S_0 + sum_{j<=i} exp(g_i - g_j) k_j delta_j^T, and the
deltas solve a unit lower-triangular system:

    (I + A) Delta = diag(beta) V - diag(beta exp(g)) K S_0,   A = tril(diag(beta) (K K^T * exp(g_i - g_j)), -1)

so Delta = U - W S_0 with U = T diag(beta) V, W = T diag(beta exp(g)) K, T = (I + A)^{-1} (the UT transform of
Yang et al. 2024, sec. 3; here one triangular solve for both). Then

    O = scale (diag(exp(g)) Q S_0 + tril(Q K^T * exp(g_i - g_j)) Delta),
    S_C = exp(g_C) S_0 + (K * exp(g_C - g))^T Delta,

all matmuls over whole chunks at once; only the state passes from chunk to chunk in a Python loop, as fla's
`fla/ops/gated_delta_rule/naive.py` (`naive_chunk_gated_delta_rule`) arranges it. A partial last chunk is
padded by steps that change nothing (k = v = 0, beta = 0, no decay) and their outputs dropped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def delta_rule_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor,
                       log_decay: torch.Tensor | None = None, state: torch.Tensor | None = None, chunk: int = 64,
                       scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k `(B, H, L, K)`, v `(B, H, L, V)`, beta and log_decay `(B, H, L)` (log_decay None: no decay), state
    `(B, H, K, V)` or None (zeros). Returns o `(B, H, L, V)` and the state after the last step."""
    B, H, L, K = k.shape
    V = v.shape[-1]
    scale = K ** -0.5 if scale is None else scale
    S = k.new_zeros(B, H, K, V) if state is None else state
    if L == 0:
        return v.new_zeros(B, H, 0, V), S
    C = min(chunk, L)
    N = -(-L // C)
    pad = N * C - L
    if pad:  # steps with k = v = 0, beta = 0 and no decay leave the state as it is
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
        beta = F.pad(beta, (0, pad))
        log_decay = None if log_decay is None else F.pad(log_decay, (0, pad))
    q, k, v = (x.reshape(B, H, N, C, x.shape[-1]) for x in (q, k, v))  # (B, H, N, C, K or V)
    beta = beta.reshape(B, H, N, C, 1)
    q = q * scale
    g = None if log_decay is None else log_decay.reshape(B, H, N, C).cumsum(-1)  # (B, H, N, C)
    if g is not None:
        later = torch.ones(C, C, dtype=torch.bool, device=k.device).triu(1)  # (C, C), j > i
        between = (g.unsqueeze(-1) - g.unsqueeze(-2)).masked_fill(later, float("-inf")).exp()  # (B, H, N, C, C)
    k_beta = k * beta
    # A and the scores: only their lower triangles are read (the solve reads below the diagonal alone)
    A = k_beta @ k.transpose(-1, -2)  # (B, H, N, C, C)
    scores = q @ k.transpose(-1, -2)  # (B, H, N, C, C)
    if g is None:
        scores = scores * torch.ones(C, C, dtype=k.dtype, device=k.device).tril()  # a mask: faster than tril
    else:
        A, scores = A * between, scores * between  # 0 above the diagonal
        k_beta = k_beta * g.unsqueeze(-1).exp()
    UW = torch.linalg.solve_triangular(A, torch.cat([v * beta, k_beta], -1), upper=False,
                                       unitriangular=True)  # (I + tril(A, -1))^{-1} [beta V, beta exp(g) K]
    U, W = UW.split([V, K], dim=-1)  # (B, H, N, C, V), (B, H, N, C, K)
    q_in = q if g is None else q * g.unsqueeze(-1).exp()  # reads S_0, decayed to step i
    k_out = k if g is None else k * (g[..., -1:] - g).unsqueeze(-1).exp()  # writes S_C, decayed to the end
    chunk_decay = [None] * N if g is None else g[..., -1].exp().unbind(2)  # (B, H) each
    outputs = []
    # unbound once: indexing a chunk in the loop would cost a whole zero tensor each in the backward
    for U_n, W_n, q_n, scores_n, k_n, decay_n in zip(U.unbind(2), W.unbind(2), q_in.unbind(2),
                                                    scores.unbind(2), k_out.unbind(2), chunk_decay, strict=True):
        delta = U_n - W_n @ S  # (B, H, C, V)
        outputs.append(q_n @ S + scores_n @ delta)
        S = (S if decay_n is None else S * decay_n[..., None, None]) + k_n.transpose(-1, -2) @ delta
    o = torch.stack(outputs, dim=2).reshape(B, H, N * C, V)[:, :, :L]
    return o, S


def delta_rule_steps(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor,
                     log_decay: torch.Tensor | None = None, state: torch.Tensor | None = None,
                     scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The same recurrence a step at a time (the reference and the streaming form); shapes as
    `delta_rule_chunked`."""
    B, H, L, K = k.shape
    scale = K ** -0.5 if scale is None else scale
    S = k.new_zeros(B, H, K, v.shape[-1]) if state is None else state
    decays = log_decay.exp().unbind(2) if log_decay is not None else [None] * L
    outputs = []
    # each step's slice by unbind: indexing x[:, :, t] makes every read's backward a zero tensor the size of
    # the whole sequence, quadratic in L
    for q_t, k_t, v_t, beta_t, a in zip(q.unbind(2), k.unbind(2), v.unbind(2), beta.unbind(2), decays, strict=True):
        if a is not None:
            S = S * a[:, :, None, None]
        predicted = (k_t.unsqueeze(-1) * S).sum(-2)  # S^T k, (B, H, V)
        delta = beta_t[:, :, None] * (v_t - predicted)
        S = S + k_t.unsqueeze(-1) * delta.unsqueeze(-2)
        outputs.append((q_t.unsqueeze(-1) * S).sum(-2) * scale)  # S^T q, (B, H, V)
    o = torch.stack(outputs, dim=2) if outputs else v.new_zeros(v.shape)
    return o, S


def flops_per_head(length: int, key: int, value: int, chunk: int = 64) -> int:
    """Forward multiply-adds times two of `delta_rule_chunked` for one head over `length` steps: a chunk of C
    steps costs K K^T and Q K^T (2 C^2 K each), the triangular solve with V + K right-hand sides (C^2 (K + V)),
    the scores times Delta (2 C^2 V), and W S, Q S, K^T Delta (2 C K V each): C^2 (5 K + 3 V) + 6 C K V; a
    partial last chunk counted whole."""
    if length == 0:
        return 0
    C = min(chunk, length)
    chunks = -(-length // C)
    return chunks * (C * C * (5 * key + 3 * value) + 6 * C * key * value)
