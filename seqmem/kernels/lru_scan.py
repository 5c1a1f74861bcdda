"""The LRU's diagonal complex recurrence h_t = lambda h_{t-1} + b_t, three ways: by chunks (`lru_scan_chunked`,
the default: a small matmul by powers of lambda inside a chunk, the chunk ends continued the same way by chunks
of chunks, in real pairs, its backward written by hand as the same recurrence run backwards, in C from `lru.c`
where a C compiler is found), by doubling (`lru_scan`, log2 L steps over every step), and one step at a time
(`lru_scan_loop`, the reference the others must equal).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from seqmem.kernels import native


def lru_scan(lam: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Every h_t = lam * h_{t-1} + b_t along dim 1 (h_{-1} = h0, or 0), by doubling: after the step with
    offset k each position sums its last 2k inputs weighted by powers of lam. lam is the same at every step,
    so only its powers lam^k are needed, never a tensor over time. lam: `(N,)`; b: `(B, L, N)`; h0: `(B, N)`."""
    if h0 is not None:
        b = torch.cat([b[:, :1] + lam * h0.unsqueeze(1), b[:, 1:]], dim=1)  # (B, L, N)
    power, offset = lam, 1
    while offset < b.shape[1]:
        b = torch.cat([b[:, :offset], b[:, offset:] + power * b[:, :-offset]], dim=1)  # (B, L, N)
        power, offset = power * power, offset * 2
    return b


SOURCE = Path(__file__).with_name("lru.c")  # the recurrence in C, compiled once per machine (`native`)
CHUNK = 16  # the longest chunk (matmuls of 16 steps measured fastest); a divisor of the length near it if any


def chunk_steps(length: int, chunk: int = CHUNK) -> int:
    """Steps a chunk: a divisor of `length` in (3 chunk / 4, chunk] if any (no padding), else `chunk`."""
    if length <= chunk:
        return length
    return next((t for t in range(chunk, 3 * chunk // 4, -1) if length % t == 0), chunk)


def _times(u: torch.Tensor, m_re: torch.Tensor, m_im: torch.Tensor) -> torch.Tensor:
    """Each chunk's row of steps times the complex matrix m, in real pairs: u `(2, N, R, T)`, m `(N, T, T)`."""
    h = torch.empty_like(u)
    torch.bmm(u[0], m_re, out=h[0]).baddbmm_(u[1], m_im, alpha=-1)
    torch.bmm(u[0], m_im, out=h[1]).baddbmm_(u[1], m_re)
    return h


def _recurrence(log_re: torch.Tensor, log_im: torch.Tensor, u: torch.Tensor, h0: torch.Tensor | None,
                steps: int, reverse: bool) -> torch.Tensor:
    """h_t = lam h_{t-1} + u_t (h_{-1} = h0), or with `reverse` h_t = lam h_{t+1} + u_t (h_L = h0), by chunks.

    Inside a chunk h = u M with M the triangle of powers lam^|i-k|, as batched matmuls over the N modes; the
    chunk edges then follow the same recurrence with lam^T, solved the same way (recursively, chunks of
    chunks), and each step adds its power of lam times the state carried into its chunk. Exact, since lam
    does not depend on the input; nothing is divided, so nothing blows up when lam^L underflows.
    log_re, log_im: log lam `(N,)`; u: `(2, N, B, L)` real and imaginary parts, L a multiple of `steps`;
    h0: `(2, N, B)` or None. No autograd here (`ChunkedRecurrence` is the differentiable form)."""
    modes, batch, length = u.shape[1:]
    T, J = steps, length // steps
    k = torch.arange(T + 1, device=u.device)
    magnitude, angle = torch.exp(log_re.unsqueeze(-1) * k), log_im.unsqueeze(-1) * k  # lam^k: (N, T+1)
    p_re, p_im = magnitude * torch.cos(angle), magnitude * torch.sin(angle)
    lag = k[:T, None] - k[None, :T] if reverse else k[None, :T] - k[:T, None]  # [k, i] -> i - k (or k - i)
    m_re, m_im = (p[:, lag.clamp_min(0)] * (lag >= 0) for p in (p_re, p_im))  # (N, T, T)
    h = _times(u.view(2, modes, batch * J, T), m_re, m_im).view(2, modes, batch, J, T)
    if J == 1 and h0 is None:
        return h.view_as(u)
    edges = h[..., 0 if reverse else -1]  # (2, N, B, J): each chunk's last state (first, reversed) from zero
    if reverse:
        edges = edges.flip(-1)  # the recurrence over chunk edges runs forward in its own time
    edges = edges.clone(memory_format=torch.contiguous_format)  # a copy: h itself is added to below
    if h0 is not None:  # the carried state enters the first chunk: lam^T h0
        edges[0, :, :, 0] += p_re[:, T, None] * h0[0] - p_im[:, T, None] * h0[1]
        edges[1, :, :, 0] += p_re[:, T, None] * h0[1] + p_im[:, T, None] * h0[0]
    outer = chunk_steps(J, T)
    edges = _recurrence(T * log_re, T * log_im, F.pad(edges, (0, -J % outer)), None, outer, False)[..., :J]
    first = edges.new_zeros(2, modes, batch, 1) if h0 is None else h0.unsqueeze(-1)
    carried = torch.cat([first, edges[..., :-1]], dim=-1)  # the state each chunk starts from
    if reverse:
        carried = carried.flip(-1)
    pair = carried.reshape(2, modes, batch * J).permute(1, 2, 0)  # (N, B J, 2)
    w_re, w_im = (p[:, 1:].flip(-1) if reverse else p[:, 1:] for p in (p_re, p_im))  # lam^(i+1) or lam^(T-i)
    flat = h.view(2, modes, batch * J, T)
    flat[0].baddbmm_(pair, torch.stack([w_re, -w_im], dim=1))
    flat[1].baddbmm_(pair, torch.stack([w_im, w_re], dim=1))
    return h.view_as(u)


def _compiled(recurrence, log_re: torch.Tensor, log_im: torch.Tensor, u: torch.Tensor, h0: torch.Tensor | None,
              reverse: bool) -> torch.Tensor:
    """`_recurrence` by the C of `lru.c` (`recurrence`, its function for u's type), a step at a time."""
    modes, batch, length = u.shape[1:]
    magnitude = torch.exp(log_re)
    lam = torch.stack([magnitude * torch.cos(log_im), magnitude * torch.sin(log_im)])  # (2, N)
    h0 = None if h0 is None else h0.contiguous()  # kept by name: C reads it
    h = torch.empty_like(u)
    recurrence(*map(native.address, (lam, u, h0)), modes, batch, length, int(reverse), native.address(h))
    return h


def _either(recurrence, log_re, log_im, u, h0, steps: int, reverse: bool) -> torch.Tensor:
    """`_recurrence` by `recurrence` (the C function, `_compiled`) or, where that is None, by chunk matmuls."""
    if recurrence is None:
        return _recurrence(log_re, log_im, u, h0, steps, reverse)
    return _compiled(recurrence, log_re, log_im, u, h0, reverse)


class ChunkedRecurrence(torch.autograd.Function):
    """`_recurrence` with its backward by hand: the gradient g of a linear recurrence is the same recurrence
    run backwards with conj(lam), g_t = conj(lam) g_{t+1} + dL/dh_t, and then dL/du = g,
    dL/dlog(lam) = sum_t g_t conj(h_t - u_t) (= conj(lam) sum_t g_t conj(h_{t-1})), dL/dh0 = conj(lam) g_0.
    Both directions run the same recurrence (compiled, `lru.c`, where a C compiler is found; else the chunk
    matmuls), and nothing but h and u is kept for the backward."""

    @staticmethod
    def forward(ctx, log_re, log_im, u, h0, steps):
        ctx.recurrence = native.kernel(SOURCE, "linear_recurrence", u)  # chosen once, for the backward too
        h = _either(ctx.recurrence, log_re, log_im, u, h0, steps, False)
        ctx.save_for_backward(log_re, log_im, u, h)
        ctx.steps, ctx.has_h0 = steps, h0 is not None
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h):
        log_re, log_im, u, h = ctx.saved_tensors
        modes = u.shape[1]
        g = _either(ctx.recurrence, log_re, -log_im, grad_h.contiguous(), None, ctx.steps, True)
        d_log_re = d_log_im = d_h0 = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:  # lam h_{t-1} = h_t - u_t
            rows = g.view(2, modes, -1).transpose(0, 1)  # (N, 2, B L), dotted with h's and u's parts below
            dots = rows @ h.view(2, modes, -1).permute(1, 2, 0) - rows @ u.view(2, modes, -1).permute(1, 2, 0)
            d_log_re, d_log_im = dots[:, 0, 0] + dots[:, 1, 1], dots[:, 1, 0] - dots[:, 0, 1]
        if ctx.has_h0:  # conj(lam) g_0
            lam_re, lam_im = torch.exp(log_re) * torch.cos(log_im), torch.exp(log_re) * torch.sin(log_im)
            g_re, g_im = g[0, :, :, 0], g[1, :, :, 0]  # (N, B)
            d_h0 = torch.stack([lam_re[:, None] * g_re + lam_im[:, None] * g_im,
                                lam_re[:, None] * g_im - lam_im[:, None] * g_re])
        return d_log_re, d_log_im, g, d_h0, None


def chunked_recurrence(log_lam: tuple, u: torch.Tensor, h0: torch.Tensor | None, steps: int) -> torch.Tensor:
    """h_t = lam h_{t-1} + u_t over the last dim of `u` by `_recurrence`, differentiable. log_lam: (real,
    imaginary) parts `(N,)` each; u: `(2, N, B, L)` (real, imaginary) with L a multiple of `steps`; h0: `(B, N)`
    complex or None. Returns h `(2, N, B, L)`."""
    pair = None if h0 is None else torch.view_as_real(h0).permute(2, 1, 0)  # (2, N, B)
    return ChunkedRecurrence.apply(log_lam[0], log_lam[1], u, pair, steps)


def lru_scan_chunked(lam: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None,
                     chunk: int = CHUNK) -> torch.Tensor:
    """The same by `chunked_recurrence` (what `LRULayer` runs by default). Shapes as `lru_scan`'s."""
    length = b.shape[1]
    T = chunk_steps(length, chunk)
    u = F.pad(torch.view_as_real(b).permute(3, 2, 0, 1), (0, -length % T))  # (2, N, B, L'): zeros change nothing
    log_lam = torch.log(lam)
    h = chunked_recurrence((log_lam.real, log_lam.imag), u.contiguous(), h0, T)
    return torch.view_as_complex(h.permute(2, 3, 1, 0).contiguous())[:, :length]


def lru_scan_loop(lam: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """The same, one step at a time: the reference the doubling scan must equal."""
    h = b.new_zeros(b.shape[0], b.shape[2]) if h0 is None else h0  # (B, N)
    hs = []
    for b_t in b.unbind(1):  # not b[:, t]: its backward is quadratic in L
        h = lam * h + b_t
        hs.append(h)
    return torch.stack(hs, dim=1)  # (B, L, N)
