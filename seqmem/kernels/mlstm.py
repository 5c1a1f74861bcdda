"""The mLSTM's matrix memory (Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory", arXiv 2405.04517,
the mLSTM's equations), a head at a time, stored as keys by values (the paper's C transposed):

    C_t = f_t C_{t-1} + i_t k_t v_t^T,   n_t = f_t n_{t-1} + i_t k_t,   h_t = C_t^T q_t / max(|n_t^T q_t|, 1),

with an exponential input gate i_t = exp(log_i_t) and a forget gate f_t = exp(log_f_t) (log_f = logsigmoid of a
pre-activation for the sigmoid gate). exp(log_i) overflows float32 past 88, so the memory is kept scaled by
exp(-m_t), the stabiliser m_t = max(log_f_t + m_{t-1}, log_i_t) (m_0 = 0): every factor then applied is
exp(something <= 0), and h_t, being a ratio, is unchanged: C q / max(|n q|, exp(-m)) in the scaled terms. As
NX-AI/xlstm's `xlstm/blocks/mlstm/backends.py` does, eps = 1e-6 is added to that denominator (in scaled terms,
so it depends a little on m, and both forms here use the same m for that reason), and the stabiliser is a
constant to autograd (the output does not depend on it but through eps).

Two forms, each taking and returning the state (C `(B, H, K, V)`, n `(B, H, K)`, m `(B, H)`):
`mlstm_step_by_step`, xlstm's `recurrent_step_stabilized_simple` a step at a time (the reference), and
`mlstm_chunked`, the chunkwise form of xlstm's `chunkwise_simple` (same file): inside a chunk the quadratic form
of `parallel_stabilized_simple` (the matrix of log gates log D[t, s] = F_t - F_s + log_i_s for s <= t, F the
cumulative log forget gate), stabilised a row at a time by stab_t = max(max_s log D[t, s], m_prev + F_t), which
is exactly the step form's m_t; across chunks (C, n, m) carried, m by the same max over the chunk.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqmem.kernels.chunk_scan import chunk_states

EPS = 1e-6


def mlstm_step_by_step(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_i: torch.Tensor, log_f: torch.Tensor,
                       state: tuple | None = None, eps: float = EPS) -> tuple[torch.Tensor, tuple]:
    """The recurrence a step at a time. q, k `(B, H, L, K)` (k already scaled, as xlstm scales it by
    1/sqrt(K)), v `(B, H, L, V)`, log_i and log_f `(B, H, L)`; state (C, n, m) or None (zeros). Returns h
    `(B, H, L, V)` and the state after the last step."""
    C, n, m = initial_state(q, v.shape[-1]) if state is None else state
    outputs = []
    steps = zip(q.unbind(2), k.unbind(2), v.unbind(2), log_i.unbind(2), log_f.unbind(2), strict=True)
    for q_t, k_t, v_t, log_i_t, log_f_t in steps:  # not x[:, :, t]: its backward is quadratic in L
        m_new = torch.maximum(log_f_t + m, log_i_t).detach()  # (B, H)
        forget = (log_f_t + m - m_new).exp().unsqueeze(-1)  # (B, H, 1), <= 1
        enter = (log_i_t - m_new).exp().unsqueeze(-1)  # (B, H, 1), <= 1
        k_t = enter * k_t  # (B, H, K)
        C = forget.unsqueeze(-1) * C + k_t.unsqueeze(-1) * v_t.unsqueeze(-2)  # (B, H, K, V)
        n = forget * n + k_t  # (B, H, K)
        m = m_new
        numerator = (q_t.unsqueeze(-2) @ C).squeeze(-2)  # (B, H, V)
        denominator = torch.maximum((q_t * n).sum(-1).abs(), (-m).exp()) + eps  # (B, H)
        outputs.append(numerator / denominator.unsqueeze(-1))
    return torch.stack(outputs, dim=2), (C, n, m)


def initial_state(q: torch.Tensor, values: int) -> tuple:
    """Zeros: C `(B, H, K, V)`, n `(B, H, K)`, m `(B, H)` (xlstm starts m at 0 too)."""
    B, H, K = q.shape[0], q.shape[1], q.shape[-1]
    return q.new_zeros(B, H, K, values), q.new_zeros(B, H, K), q.new_zeros(B, H)


def mlstm_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_i: torch.Tensor, log_f: torch.Tensor,
                  state: tuple | None = None, chunk: int = 64, eps: float = EPS) -> tuple[torch.Tensor, tuple]:
    """The chunkwise form, shapes as `mlstm_step_by_step`'s. A length that is not a multiple of the chunk is
    padded with steps that neither forget (log_f = 0) nor enter (log_i = -inf)."""
    B, H, L, K = q.shape
    V = v.shape[-1]
    T = min(chunk, L)  # steps a chunk
    N = -(-L // T)  # chunks
    pad = N * T - L
    if pad:
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
        log_f, log_i = F.pad(log_f, (0, pad)), F.pad(log_i, (0, pad), value=-torch.inf)
    q, k = q.view(B, H, N, T, K), k.view(B, H, N, T, K)
    v = v.view(B, H, N, T, V)
    log_i, log_f = log_i.view(B, H, N, T), log_f.view(B, H, N, T)
    Fc = log_f.cumsum(-1)  # (B, H, N, T): log forget from the chunk's start to each step, inclusive
    hidden = torch.full((T, T), -torch.inf, dtype=q.dtype, device=q.device).triu(1)  # 0 where s <= t, else -inf
    log_D = Fc.unsqueeze(-1) - Fc.unsqueeze(-2) + log_i.unsqueeze(-2) + hidden  # (B, H, N, T, T)
    row_max = log_D.detach().amax(-1)  # (B, H, N, T)

    # the chunk-end state: each key weighted by exp(log D[last, s] - m_local), m_local that row's max
    log_end = Fc[..., -1:] - Fc + log_i  # (B, H, N, T): log D's last row, formed on its own (no slice of log D)
    m_local = row_max[..., -1]  # (B, H, N)
    weight = (log_end - m_local.unsqueeze(-1)).exp().unsqueeze(-1)  # (B, H, N, T, 1), <= 1
    # C and n carried as one (K, V + 1) matrix a head, n its last column: the values given a column of ones
    v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)  # (B, H, N, T, V + 1)
    added = (weight * k).transpose(-1, -2) @ v1  # (B, H, N, K, V + 1): C's and n's additions
    C, n, m = initial_state(q, V) if state is None else state
    # the stabiliser entering each chunk, a small loop over (B, H) numbers (constants to autograd)
    m_before, m_local_all, F_last = [], m_local.unbind(2), Fc[..., -1].detach().unbind(2)
    for j in range(N):
        m_before.append(m)
        m = torch.maximum(F_last[j] + m.detach(), m_local_all[j])  # (B, H)
    m_before = torch.stack(m_before, dim=2)  # (B, H, N)
    m_after = torch.cat([m_before[..., 1:], m.unsqueeze(-1)], dim=-1)  # (B, H, N)
    carry = (Fc[..., -1] + m_before - m_after).exp()  # (B, H, N), <= 1
    enter = (m_local - m_after).exp()  # (B, H, N), <= 1
    before, Cn = chunk_states(carry[..., None, None], added * enter[..., None, None],
                              torch.cat([C, n.unsqueeze(-1)], dim=-1))  # (B, H, N, K, V + 1) entering each chunk
    C, n = Cn[..., :V], Cn[..., V]

    # each step against its chunk (the quadratic form) and the state entering the chunk, at the step's m_t
    from_state = m_before.unsqueeze(-1) + Fc  # (B, H, N, T): log weight of the entering state at each step
    stab = torch.maximum(row_max, from_state.detach())  # (B, H, N, T): the step form's m_t
    D = (log_D - stab.unsqueeze(-1)).exp()  # (B, H, N, T, T), <= 1, 0 above the diagonal
    scores = (q @ k.transpose(-1, -2)) * D  # (B, H, N, T, T)
    q_state = q * (from_state - stab).exp().unsqueeze(-1)  # (B, H, N, T, K), factors <= 1
    out = scores @ v1 + q_state @ before  # (B, H, N, T, V + 1): C_t q_t, and n_t . q_t last (scaled)
    numerator, dot = out[..., :V], out[..., V]
    denominator = torch.maximum(dot.abs(), (-stab).exp()) + eps
    h = numerator / denominator.unsqueeze(-1)
    return h.reshape(B, H, N * T, V)[:, :, :L], (C, n, m)


def mlstm_chunked_flops(length: int, heads: int, key: int, value: int, chunk: int = 64) -> int:
    """Multiply-adds (x2) of `mlstm_chunked` over one sequence, the padded last chunk counted in full. A chunk of
    T steps, a head, the values given a column of ones (n rides as C's last column): q k^T 2 T T K, the scores'
    values 2 T T (V + 1), the keys into the chunk-end state 2 T K (V + 1), the queries reading the entering
    state 2 T K (V + 1)."""
    T = min(chunk, length)
    N = -(-length // T)
    return heads * N * (2 * T * T * (key + value + 1) + 4 * T * key * (value + 1))
