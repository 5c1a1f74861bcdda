"""Linear attention with a data-dependent decay per key dimension (GLA: Yang, Wang, Shen, Panda, Kim 2023,
"Gated Linear Attention Transformers with Hardware-Efficient Training", arXiv 2312.06635):

    S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T,    o_t = S_t^T q_t,    S: (K, V) a head, g_t <= 0 a key dimension.

Two forms, each taking and returning the state S: `gla_step_by_step`, the recurrence a step at a time (the
reference), and `gla_chunked`, the paper's chunkwise form, whose work inside a chunk is matmuls.

How the chunked form stays finite. With G_t the cumulative log decay inside a chunk, the weight of key s in query
t (s <= t) is exp(G_t - G_s) <= 1, but written as a matmul it is split into exp(G_t - r) on the query and
exp(r - G_s) on the key around a reference point r, and the key's factor grows as exp(|G|) when the decay is
strong (a key dimension with g = -50 a step overflows float32 within two steps). Two ways, chosen per call:
  - one level (the paper's parallel form inside a chunk), r = 0 at the chunk's start: taken only when no key
    dimension decays by more than exp(-SPAN) across any chunk (SPAN = 40), so every factor lies within
    exp(+-40), far inside float32's (and bfloat16's) range, exp(+-88), both ways (float16's is exp(+-11), so
    there the bound is exp(-4)); each product q_t k_s exp(G_t - G_s) is then its
    true value to rounding, and the work is three matmuls a chunk. Fla's gate (logsigmoid / 16: a decay of about
    exp(-0.04) a step at the start, exp(-2.8) a chunk of 64) stays there until training makes it 15 times
    stronger.
  - two levels otherwise, the chunk cut again into sub-chunks of c steps, as the paper's secondary-level
    chunking and fla's `fla/ops/gla/chunk.py` do. A query's sub-chunk I against the keys of
    earlier sub-chunks J < I: a matmul around r = G at the first step of sub-chunk I; every query t there has
    G_t <= r and every key s before it has G_s >= r, so both factors, exp(G_t - r) and exp(r - G_s), are at
    most 1 however strong the decay (a factor may underflow to 0, the true weight's limit too). The matmul
    takes the rows of sub-chunk I against all C keys, the keys at or after sub-chunk I given the exponent -inf
    (a weight of 0, its gradient 0, where r - G_s > 0 would overflow). A query against the keys of its own
    sub-chunk: the weights exp(G_t - G_s), s <= t, formed one by one (a `(c, c, K)` product a sub-chunk,
    elementwise as fla's intra-sub-chunk kernel), each at most 1.
Across chunks the state is carried as in the paper: a query reads the state through exp(G_t) <= 1, a key enters
the chunk-end state through exp(G_last - G_s) <= 1, and the state decays by exp(G_last) <= 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqmem.kernels.chunk_scan import chunk_states


def gla_step_by_step(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
                     state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The recurrence a step at a time. q, k, g `(B, H, L, K)` (g the log decay, <= 0), v `(B, H, L, V)`, state
    `(B, H, K, V)` or None (zeros). Returns o `(B, H, L, V)` and the state after the last step."""
    B, H, L, K = q.shape
    S = q.new_zeros(B, H, K, v.shape[-1]) if state is None else state  # (B, H, K, V)
    outputs = []
    # each step's slice by unbind: indexing x[:, :, t] makes every read's backward a zero tensor the size of
    # the whole sequence, quadratic in L
    for q_t, k_t, v_t, g_t in zip(q.unbind(2), k.unbind(2), v.unbind(2), g.exp().unbind(2), strict=True):
        S = g_t.unsqueeze(-1) * S + k_t.unsqueeze(-1) * v_t.unsqueeze(-2)
        outputs.append((q_t.unsqueeze(-2) @ S).squeeze(-2))  # (B, H, V)
    return torch.stack(outputs, dim=2), S


def chunk_sizes(length: int, chunk: int, subchunk: int) -> tuple[int, int]:
    """(steps a chunk, steps a sub-chunk): the sub-chunk at most `subchunk` steps, the chunk a multiple of it
    near `chunk`, neither longer than the sequence needs."""
    c = min(subchunk, chunk, length)
    C = c * -(-min(chunk, length) // c)
    return C, c


SPAN = 40.0  # the one-level form's bound on a chunk's log decay: its factors stay within exp(+-SPAN)
HALF_SPAN = 4.0  # the same in float16 (largest 65504), on its own or as autocast's matmuls


def one_level_span(q: torch.Tensor, span: float) -> float:
    """`span`, cut to HALF_SPAN where the matmuls run in float16 (bfloat16 has float32's range)."""
    device = q.device.type
    half = q.dtype == torch.float16 or (torch.is_autocast_enabled(device)
                                        and torch.get_autocast_dtype(device) == torch.float16)
    return min(span, HALF_SPAN) if half else span


def gla_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
                state: torch.Tensor | None = None, chunk: int = 64, subchunk: int = 16,
                span: float = SPAN) -> tuple[torch.Tensor, torch.Tensor]:
    """The chunkwise form (the module docstring says how it stays finite): shapes as `gla_step_by_step`'s. A
    length that is not a multiple of the chunk is padded with steps that neither decay nor add (g = 0, k = 0).
    `span`: the largest log decay across a chunk the one-level form is used for (0: always two levels; cut to
    HALF_SPAN in float16)."""
    B, H, L, K = q.shape
    V = v.shape[-1]
    C, c = chunk_sizes(L, chunk, subchunk)
    n = -(-L // C)  # chunks
    pad = n * C - L
    if pad:
        q, k, v, g = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v, g))
    q, k, g = (x.reshape(B, H, n, C, K) for x in (q, k, g))
    v = v.reshape(B, H, n, C, V)
    G = g.cumsum(dim=3)  # (B, H, n, C, K): log decay from the chunk's start to each step, inclusive
    G_last = G[:, :, :, -1:]  # (B, H, n, 1, K), the chunk's whole decay, its most negative
    q_in = q * G.exp()  # (B, H, n, C, K): each query reading from the chunk's start, factors <= 1
    if -G_last.detach().min() <= one_level_span(q, span):
        scores = one_level_scores(q_in, k, G)
    else:
        scores = two_level_scores(q, k, G, c)
    o = scores @ v  # (B, H, n, C, V)

    # across chunks: each chunk's keys into the state at its end, the state carried chunk to chunk
    k_end = k * (G_last - G).exp()  # (B, H, n, C, K), factors <= 1
    added = k_end.transpose(-1, -2) @ v  # (B, H, n, K, V)
    carry = G_last.squeeze(3).exp().unsqueeze(-1)  # (B, H, n, K, 1)
    S = q.new_zeros(B, H, K, V) if state is None else state
    before, S = chunk_states(carry, added, S)  # (B, H, n, K, V): the state entering each chunk
    o = o + q_in @ before  # (B, H, n, C, V)
    return o.view(B, H, n * C, V)[:, :, :L], S


def one_level_scores(q_in: torch.Tensor, k: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """`(B, H, n, C, C)`: q_t . (k_s exp(G_t - G_s)) for s <= t, 0 after, as one matmul around the chunk's start
    (only where the chunk's decay is within exp(-SPAN): the key's factor exp(-G_s) is at most exp(SPAN)); q_in
    the queries times exp(G_t)."""
    C = q_in.shape[3]
    scores = q_in @ (k * (-G).exp()).transpose(-1, -2)  # (B, H, n, C, C)
    return scores * torch.ones(C, C, dtype=q_in.dtype, device=q_in.device).tril()


def two_level_scores(q: torch.Tensor, k: torch.Tensor, G: torch.Tensor, c: int) -> torch.Tensor:
    """The same `(B, H, n, C, C)` by sub-chunks of c steps, every factor at most 1 (the module docstring)."""
    B, H, n, C, K = q.shape
    s = C // c  # sub-chunks a chunk
    # earlier sub-chunks: around r, the first step of the query's sub-chunk
    Gs = G.view(B, H, n, s, c, K)
    r = Gs[:, :, :, :, :1]  # (B, H, n, s, 1, K)
    q_r = q.view(B, H, n, s, c, K) * (Gs - r).exp()  # (B, H, n, s, c, K), factors <= 1
    earlier = torch.arange(C, device=q.device) < (torch.arange(s, device=q.device) * c).unsqueeze(-1)  # (s, C)
    to_r = torch.where(earlier.unsqueeze(-1), r - G.unsqueeze(3), -torch.inf)  # (B, H, n, s, C, K), <= 0 or -inf
    scores = q_r @ (k.unsqueeze(3) * to_r.exp()).transpose(-1, -2)  # (B, H, n, s, c, C): keys of sub-chunks J < I
    # the query's own sub-chunk: each weight exp(G_t - G_s), s <= t, formed on its own
    q_s, k_s = q.view(B, H, n, s, c, 1, K), k.view(B, H, n, s, 1, c, K)
    causal = torch.ones(c, c, dtype=torch.bool, device=q.device).tril().unsqueeze(-1)  # (c, c, 1)
    decay = torch.where(causal, Gs.unsqueeze(-2) - Gs.unsqueeze(-3), -torch.inf).exp()  # (B, H, n, s, c, c, K)
    within = ((q_s * decay) * k_s).sum(-1)  # (B, H, n, s, c, c)
    diagonal = torch.eye(s, dtype=q.dtype, device=q.device).view(s, 1, s, 1)  # sub-chunk I's block at (I, I)
    return (scores + (within.unsqueeze(-2) * diagonal).view(B, H, n, s, c, C)).view(B, H, n, C, C)


def gla_chunked_flops(length: int, heads: int, key: int, value: int, chunk: int = 64, subchunk: int = 16) -> int:
    """Multiply-adds (x2) of `gla_chunked` over one sequence of `length` steps in its one-level form (the
    decays within exp(-SPAN) a chunk), the padded last chunk counted in full. A chunk of C steps, a head: the
    scores 2 C C K, their values 2 C C V, the keys into the chunk-end state 2 C K V and the queries reading
    the state 2 C K V. (The two-level form adds 2 C c K of elementwise products for the own sub-chunks.)"""
    C, _ = chunk_sizes(length, chunk, subchunk)
    n = -(-length // C)
    return heads * n * (2 * C * C * (key + value) + 4 * C * key * value)
