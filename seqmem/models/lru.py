"""Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for Long Sequences").

Each layer runs a complex diagonal linear recurrence h_t = lambda * h_{t-1} + gamma * (B x_t) and reads out
y_t = Re(C h_t) + D x_t. lambda = exp(-exp(nu_log) + i exp(theta_log)) lies inside the unit circle whatever the
weights. At the start lambda is drawn uniformly over the area of the ring r_min <= |lambda| <= r_max (as in the
paper: |lambda|^2 uniform) with phase uniform in [0, max_phase]; gamma = sqrt(1 - |lambda|^2) (then trained,
as in the paper) keeps the state's scale independent of how slowly it forgets. B and C are complex, scaled as
in the paper. The recurrence runs by chunks (`lru_scan_chunked`, the default: a small matmul by powers of
lambda inside a chunk, the chunk ends continued the same way by chunks of chunks, in real pairs, its
backward written by hand as the same recurrence run backwards); `scan="parallel"` runs the doubling
scan over every step (log2 L steps, nothing divided, so no blow-up when |lambda|^L underflows), and
`lru_scan_loop` is the step-by-step reference (`scan="loop"`). A block is
pre-norm LayerNorm, LRU, GELU, dropout, GLU mixing, dropout, residual. The state carried to the next chunk
is each layer's last h, so a stream fed in chunks gives the whole stream's outputs.

Defaults r_min 0.4, r_max 0.99 (the paper's general ring); its longest tasks used 0.9/0.999 and a smaller
max_phase. Omitted: the JAX parallel-scan primitive, BatchNorm, bidirectional layers, the paper's per-task
learning-rate factors for the recurrence parameters, and the pooling/classifier heads (seqmem's head is used).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.errors import ConfigError
from seqmem.models import native, register_model
from seqmem.models.encoding import InputEncoder, OutputHead
from seqmem.params import check_int


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


SOURCE = Path(__file__).with_suffix(".c")  # the recurrence in C, compiled once per machine (`native`)
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
    for t in range(b.shape[1]):
        h = lam * h + b[:, t]
        hs.append(h)
    return torch.stack(hs, dim=1)  # (B, L, N)


class LRULayer(nn.Module):
    """d_model -> state_size complex -> d_model. Complex weights are kept as real pairs, so optimizers,
    clipping and parameter counts see ordinary real tensors."""

    def __init__(self, d_model: int, state_size: int, r_min: float, r_max: float, max_phase: float):
        super().__init__()
        u1, u2 = torch.rand(state_size, dtype=torch.float64), torch.rand(state_size, dtype=torch.float64)
        radius2 = r_min**2 + u1 * (r_max**2 - r_min**2)  # |lambda|^2, uniform
        nu = (-0.5 * torch.log(radius2.clamp_min(1e-8))).clamp_min(1e-12)  # -log|lambda|, finite at 0 and 1
        self.nu_log = nn.Parameter(torch.log(nu).float())
        self.theta_log = nn.Parameter(torch.log((max_phase * u2).clamp_min(1e-8)).float())
        self.gamma_log = nn.Parameter((0.5 * torch.log(-torch.expm1(-2 * nu))).float())  # log sqrt(1 - |lambda|^2)
        self.B_re = nn.Parameter(torch.randn(state_size, d_model) / math.sqrt(2 * d_model))
        self.B_im = nn.Parameter(torch.randn(state_size, d_model) / math.sqrt(2 * d_model))
        self.C_re = nn.Parameter(torch.randn(d_model, state_size) / math.sqrt(state_size))
        self.C_im = nn.Parameter(torch.randn(d_model, state_size) / math.sqrt(state_size))
        self.D = nn.Parameter(torch.randn(d_model))

    def lam(self) -> torch.Tensor:
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))  # (N,)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None, scan=lru_scan_chunked):
        gamma = torch.exp(self.gamma_log)  # (N,)
        if scan is lru_scan_chunked:
            return self.chunked(x, h0, gamma)
        bx = torch.complex(x @ self.B_re.T * gamma, x @ self.B_im.T * gamma)  # (B, L, N)
        h = scan(self.lam(), bx, h0)  # (B, L, N)
        y = h.real @ self.C_re.T - h.imag @ self.C_im.T + self.D * x  # (B, L, H)
        return y, h[:, -1]

    def chunked(self, x: torch.Tensor, h0: torch.Tensor | None, gamma: torch.Tensor):
        """`forward` by `chunked_recurrence` in real pairs, the modes first: one input map writes `(2, N, B L)`
        (real parts, then imaginary), the chunk matmuls read it as is, and one readout reads it through a
        transposed matmul."""
        batch, length, width = x.shape
        T = chunk_steps(length)
        padded = F.pad(x, (0, 0, 0, -length % T))  # zeros after the end change nothing before it
        flat = padded.reshape(-1, width)  # (B L', H)
        u = (torch.cat([self.B_re, self.B_im]) * gamma.repeat(2).unsqueeze(-1)) @ flat.T  # (2 N, B L')
        log_lam = -torch.exp(self.nu_log), torch.exp(self.theta_log)
        h = chunked_recurrence(log_lam, u.view(2, -1, batch, padded.shape[1]), h0, T)  # (2, N, B, L')
        y = torch.addmm(flat * self.D, h.view(-1, flat.shape[0]).T, torch.cat([self.C_re, -self.C_im], dim=1).T)
        return y.view(batch, -1, width)[:, :length], torch.complex(h[0, :, :, length - 1], h[1, :, :, length - 1]).T


SCANS = {"chunked": lru_scan_chunked, "parallel": lru_scan, "loop": lru_scan_loop}


class LRUBlock(nn.Module):
    def __init__(self, d_model: int, state_size: int, dropout: float, r_min: float, r_max: float, max_phase: float):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.lru = LRULayer(d_model, state_size, r_min, r_max, max_phase)
        self.mix = nn.Linear(d_model, 2 * d_model)  # GLU: half the outputs gate the other half
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None, scan=lru_scan_chunked):
        y, h = self.lru(self.norm(x), h0, scan)  # (B, L, H), (B, N)
        y = self.dropout(F.gelu(y))
        return x + self.dropout(F.glu(self.mix(y), dim=-1)), h


@register_model("lru")
class LRU(nn.Module):
    """The LRU: residual blocks of complex diagonal linear recurrences.

    Args:
        d_model: width of the residual stream (channels a block reads and writes)
        layers: residual blocks stacked
        state_size: state numbers a channel carries between steps
        dropout: dropout probability inside each block (0: off)
        r_min: smallest initial |lambda| (how fast the quickest mode forgets)
        r_max: largest initial |lambda| (closer to 1: modes that remember longer)
        max_phase: largest initial phase of lambda
        scan: chunked (matmuls inside chunks), parallel (a doubling scan) or loop (step by step, the reference)
        encoder: how token inputs enter: onehot, embedding (learned, of width embedding_dim) or linear (a learned
            input layer of width embedding_dim)
        embedding_dim: width of the embedding or input layer (with encoder embedding or linear)
    """

    summary = "linear recurrent unit: complex diagonal linear recurrence, ring init, chunked scan (Orvieto 2023)"
    receptive_field = math.inf

    def __init__(self, task, d_model: int = 64, layers: int = 4, state_size: int = 64, dropout: float = 0.0,
                 r_min: float = 0.4, r_max: float = 0.99, max_phase: float = 6.283, scan: str = "chunked",
                 encoder: str = "onehot", embedding_dim: int = 0):
        super().__init__()
        for name, value in (("d_model", d_model), ("layers", layers), ("state_size", state_size)):
            check_int(name, value)
        if layers > 256:
            raise ConfigError(f"layers must be at most 256, got {layers}")
        for name, value in (("dropout", dropout), ("r_min", r_min), ("r_max", r_max), ("max_phase", max_phase)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
        if not 0 <= r_min < r_max < 1:
            raise ConfigError(f"need 0 <= r_min < r_max < 1, got r_min {r_min!r} and r_max {r_max!r}")
        if not 0 < max_phase <= 2 * math.pi:
            raise ConfigError(f"max_phase must be in (0, 2*pi], got {max_phase!r}")
        if scan not in SCANS:
            raise ConfigError(f"scan must be one of {', '.join(SCANS)}, got {scan!r}")
        self.scan = SCANS[scan]
        self.encoder = InputEncoder(task, encoder, embedding_dim)
        self.input = nn.Linear(self.encoder.features, d_model)
        self.blocks = nn.ModuleList(LRUBlock(d_model, state_size, dropout, r_min, r_max, max_phase)
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = OutputHead(d_model, task)

    def forward(self, x: torch.Tensor, state=None, cond: torch.Tensor | None = None):
        """`state`: each layer's last complex h `(B, N)` (None: zeros)."""
        h = self.input(self.encoder(x, cond))  # (B, L, H)
        states = []
        for i, block in enumerate(self.blocks):
            h, last = block(h, None if state is None else state[i], self.scan)
            states.append(last)
        return self.head(self.norm(h)), tuple(states)
