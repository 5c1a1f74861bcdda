"""Mamba's selective scan on a CPU, chunk by chunk outside autograd, with its backward written out.

The recurrence h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t, y_t = C_t h_t has a state `(B, E, N)` a
step, so autograd over a step-by-step loop records a dozen nodes a step and keeps every `(B, E, N)`
intermediate, and a doubling scan moves the whole `(B, L, E, N)` tensor log2 L times. Here, as in the
CUDA kernel of the Mamba paper, the forward keeps only the state at each chunk's start, and the backward
walks the chunks in reverse: it rebuilds a chunk's states from its starting state, runs the adjoint
recurrence g_t = C_t dy_t + exp(delta_{t+1} A) g_{t+1}, and forms the gradients of x, delta, A, B and C.

Two forms compute it. `CompiledScan`, the C of `selective_scan.c` (built once per machine, `native`), does
each step in one fused loop over a state that stays in the L1 cache; it runs wherever a C compiler is
found. `SelectiveScan`, in PyTorch, the form elsewhere (and on other devices): a chunk's `(B, T, N, E)`
decay and drive in two vectorised operations, one in-place multiply-add a step, its outputs and
gradients in contractions over the whole chunk.
"""

from __future__ import annotations

from pathlib import Path

import torch

from seqmem.kernels import native

SOURCE = Path(__file__).with_suffix(".c")
KERNEL_CHUNK = 32  # steps a chunk of the compiled scan: its (33 + 32) states of (16, 128) float32 are 530 kB
CHUNK = 16  # steps a chunk: (8, 16, 16, 128) float32 terms are 1 MB each, what the caches hold
LOG2_E = 1.4426950408889634  # exp(z) = exp2(z log2 e): PyTorch's CPU exp2 ran about 4x faster than exp here


def _terms(delta, x, A2, B, decay, drive):
    """Write the chunk's decay exp(delta A) and drive delta B x into `decay` and `drive`, `(B, T, N, E)`:
    the state's N before its E, so sums over N run along whole rows. A2: `(N, E)`, A log2 e."""
    torch.mul(delta.unsqueeze(2), A2, out=decay).exp2_()
    torch.mul(B.unsqueeze(-1), (delta * x).unsqueeze(2), out=drive)


def _run(decay, drive, h):
    """Turn `drive` in place into the chunk's states h_t = decay_t h_{t-1} + drive_t, from h."""
    for a, b in zip(decay.unbind(1), drive.unbind(1), strict=True):
        h = b.addcmul_(a, h)
    return drive


def _chunks(length: int, chunk: int):
    return [slice(t0, min(length, t0 + chunk)) for t0 in range(0, length, chunk)]


class SelectiveScan(torch.autograd.Function):
    """y `(B, L, E)` = C_t h_t and the last state `(B, E, N)`; inputs as `selective_scan_chunked`'s.

    The chunk's `(B, T, N, E)` buffers are made once and reused: products written into a fresh tensor of
    that size each chunk ran several times slower than into a reused one."""

    @staticmethod
    def forward(ctx, x, delta, A, B, C, h0, chunk):
        batch, L, E = x.shape
        A2 = A.T * LOG2_E  # (N, E)
        h = x.new_zeros(batch, A.shape[1], E) if h0 is None else h0.transpose(1, 2)  # (B, N, E)
        y = x.new_empty(batch, L, E)
        decay, drive = (x.new_empty(batch, min(chunk, L), A.shape[1], E) for _ in range(2))
        starts = []
        for t in _chunks(L, chunk):
            n = t.stop - t.start
            starts.append(h)
            _terms(delta[:, t], x[:, t], A2, B[:, t], decay[:, :n], drive[:, :n])
            hs = _run(decay[:, :n], drive[:, :n], h)  # (B, T, N, E)
            y[:, t] = torch.matmul(C[:, t].unsqueeze(-2), hs).squeeze(-2)  # sum_n C h
            h = hs[:, -1].clone()
        ctx.chunk, ctx.has_h0 = chunk, h0 is not None
        ctx.save_for_backward(x, delta, A, B, C, torch.stack(starts))
        return y, h.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad_y, grad_h):
        x, delta, A, B, C, starts = ctx.saved_tensors
        batch, L, E = x.shape
        AT = A.T  # (N, E)
        A2 = AT * LOG2_E
        gx, gdelta, gB, gC = torch.empty_like(x), torch.empty_like(x), torch.empty_like(B), torch.empty_like(C)
        decay, states, g, work, gA = (x.new_zeros(batch, min(ctx.chunk, L), A.shape[1], E) for _ in range(5))
        carry = torch.zeros_like(starts[0]) if grad_h is None else grad_h.transpose(1, 2)  # exp(dt_{t+1} A) g_{t+1}
        for j, t in reversed(list(enumerate(_chunks(L, ctx.chunk)))):
            n = t.stop - t.start
            d, xc, Bc, Cc, gy = delta[:, t], x[:, t], B[:, t], C[:, t], grad_y[:, t]
            dec, tmp = decay[:, :n], work[:, :n]
            _terms(d, xc, A2, Bc, dec, states[:, :n])
            hs = _run(dec, states[:, :n], starts[j])  # the chunk's states again
            gt = torch.mul(Cc.unsqueeze(-1), gy.unsqueeze(2), out=g[:, :n])  # C_t dy_t: (B, T, N, E)
            gt[:, -1] += carry
            gs, decays = gt.unbind(1), dec.unbind(1)
            for i in range(n - 2, -1, -1):  # the adjoint recurrence: g_t is dLoss/dh_t
                gs[i].addcmul_(decays[i + 1], gs[i + 1])
            gC[:, t] = torch.mul(hs, gy.unsqueeze(2), out=tmp).sum(-1)  # sum_e dy h
            dx = d * xc
            gB[:, t] = torch.mul(gt, dx.unsqueeze(2), out=tmp).sum(-1)  # sum_e g delta x
            gBx = torch.matmul(Bc.unsqueeze(-2), gt).squeeze(-2)  # sum_n B g: (B, T, E)
            gz = dec.mul_(gt)  # then times h_{t-1}: the gradient of the exponent delta A
            carry = gz[:, 0].clone()
            gz[:, 1:] *= hs[:, :-1]
            gz[:, 0] *= starts[j]
            gdelta[:, t] = torch.mul(gz, AT, out=tmp).sum(2) + xc * gBx
            gA[:, :n].addcmul_(gz, d.unsqueeze(2))  # summed over time and batch at the end
            gx[:, t] = d * gBx
        return gx, gdelta, gA.sum((0, 1)).T, gB, gC, carry.transpose(1, 2) if ctx.has_h0 else None, None


class CompiledScan(torch.autograd.Function):
    """What `SelectiveScan` computes, by the C of `selective_scan.c`: a step's `(N, E)` state stays in the L1
    cache, its exp, drive and readout fused in one loop, where PyTorch makes a dozen passes over it.
    In chunks of `chunk` steps: the backward's rebuilt states and decays stay in the L2 cache."""

    @staticmethod
    def forward(ctx, x, delta, A, B, C, h0, forward_scan, chunk):
        batch, L, E = x.shape
        N = A.shape[1]
        x, delta, B, C = (t.detach().contiguous() for t in (x, delta, B, C))
        AT = A.detach().T.contiguous()  # (N, E)
        h0_given = h0 is not None
        h0 = h0.detach().transpose(1, 2).contiguous() if h0_given else x.new_zeros(batch, N, E)
        y, h_last = x.new_empty(batch, L, E), x.new_empty(batch, N, E)
        starts = x.new_empty(batch, -(-L // chunk), N, E)
        forward_scan(*map(native.address, (x, delta, AT, B, C, h0)), batch, L, E, N, chunk,
                     *map(native.address, (y, starts, h_last)))
        ctx.has_h0, ctx.chunk = h0_given, chunk
        ctx.backward_scan = native.kernel(SOURCE, "scan_backward", x)  # chosen with the forward's, not later
        ctx.save_for_backward(x, delta, AT, B, C, starts)
        return y, h_last.transpose(1, 2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y, grad_h):
        x, delta, AT, B, C, starts = ctx.saved_tensors
        batch, L, E = x.shape
        N = AT.shape[0]
        grad_y, grad_h = grad_y.contiguous(), grad_h.transpose(1, 2).contiguous()  # zeros where unused
        gx, gdelta, gB, gC = torch.empty_like(x), torch.empty_like(x), torch.empty_like(B), torch.empty_like(C)
        gAT, gh0 = torch.zeros_like(AT), torch.empty_like(grad_h)
        ctx.backward_scan(
            *map(native.address, (x, delta, AT, B, C, starts, grad_y, grad_h)), batch, L, E, N, ctx.chunk,
            *map(native.address, (gx, gdelta, gAT, gB, gC, gh0)))
        return gx, gdelta, gAT.T, gB, gC, gh0.transpose(1, 2) if ctx.has_h0 else None, None, None


def selective_scan_chunked(x, delta, A, B, C, D, h0=None, chunk: int | None = None):
    """y_t = C_t h_t + D x_t with h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t; returns y and the last h.

    x, delta: `(B, L, E)`; A: `(E, N)`; B, C: `(B, L, N)`; D: `(E,)`; h0: `(B, E, N)` or None. On the CPU
    the compiled scan runs where it builds (`native.switched_off()`: the PyTorch form); `chunk`, steps a
    chunk, defaults to each form's own.
    """
    forward_scan = native.kernel(SOURCE, "scan_forward", x)
    if forward_scan is not None:
        y, h = CompiledScan.apply(x, delta, A, B, C, h0, forward_scan, chunk or KERNEL_CHUNK)
    else:
        y, h = SelectiveScan.apply(x, delta, A, B, C, h0, chunk or CHUNK)
    return y + D * x, h


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Every h_t = a_t * h_{t-1} + b_t along dim 1 (h_{-1} = h0, or 0), by doubling: after the step with
    offset k, each position holds the recurrence over its last 2k inputs. a, b: `(B, L, ...)`."""
    if h0 is not None:
        b = torch.cat([b[:, :1] + a[:, :1] * h0.unsqueeze(1), b[:, 1:]], dim=1)
    offset = 1
    while offset < b.shape[1]:
        b = torch.cat([b[:, :offset], b[:, offset:] + a[:, offset:] * b[:, :-offset]], dim=1)
        a = torch.cat([a[:, :offset], a[:, offset:] * a[:, :-offset]], dim=1)
        offset *= 2
    return b


def selective_scan(x, delta, A, B, C, D, h0=None):
    """y_t = C_t h_t + D x_t with h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t; returns y and the last h.

    x, delta: `(B, L, E)`; A: `(E, N)`; B, C: `(B, L, N)`; D: `(E,)`; h0: `(B, E, N)` or None.
    """
    decay = torch.exp(delta.unsqueeze(-1) * A)  # (B, L, E, N)
    drive = delta.unsqueeze(-1) * B.unsqueeze(2) * x.unsqueeze(-1)  # (B, L, E, N)
    h = linear_scan(decay, drive, h0)  # (B, L, E, N)
    y = (h @ C.unsqueeze(-1)).squeeze(-1) + D * x  # (B, L, E)
    return y, h[:, -1]


def selective_scan_loop(x, delta, A, B, C, D, h0=None):
    """The same, one step at a time: the reference the parallel scan must equal."""
    h = x.new_zeros(x.shape[0], x.shape[2], A.shape[1]) if h0 is None else h0  # (B, E, N)
    ys = []
    for x_t, delta_t, B_t, C_t in zip(x.unbind(1), delta.unbind(1), B.unbind(1), C.unbind(1), strict=True):
        h = torch.exp(delta_t[:, :, None] * A) * h + delta_t[:, :, None] * B_t[:, None] * x_t[:, :, None]
        ys.append((h * C_t[:, None]).sum(-1) + D * x_t)
    return torch.stack(ys, dim=1), h
