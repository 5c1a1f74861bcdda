"""S4D's causal convolution by FFT, with its backward by hand, and the powers of its diagonal kernel."""

from __future__ import annotations

import torch


def powers(dtA: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """exp(dtA k) for each k `(..., len(k))`, from real exp, cos and sin: a complex exp runs many times slower."""
    return torch.polar(torch.exp(dtA.real.unsqueeze(-1) * k), dtA.imag.unsqueeze(-1) * k)


class CausalConvolution(torch.autograd.Function):
    """y_t = sum_(s <= t) K_(t-s) u_s over the last dim, by FFTs of 2L points, its backward by hand: the
    gradients are the correlations du_s = sum_(t >= s) K_(t-s) dy_t and dK_m = sum_t dy_t u_(t-m), products
    with the conjugate spectra, the kernel's summed over the batch before its one inverse FFT. (Autograd's
    backward of a real FFT runs a complex FFT of the whole padded spectrum instead.)"""

    @staticmethod
    def forward(ctx, u, K):  # u (B, H, L), K (H, L)
        n = 2 * u.shape[-1]
        u_f, K_f = torch.fft.rfft(u, n=n), torch.fft.rfft(K, n=n)
        ctx.save_for_backward(torch.conj_physical(u_f), torch.conj_physical(K_f))  # conjugated once, not lazily
        return torch.fft.irfft(u_f * K_f, n=n)[..., : u.shape[-1]]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        u_conj, K_conj = ctx.saved_tensors
        L = grad_y.shape[-1]
        g_f = torch.fft.rfft(grad_y, n=2 * L)
        grad_u = torch.fft.irfft(g_f * K_conj, n=2 * L)[..., :L] if ctx.needs_input_grad[0] else None
        grad_K = torch.fft.irfft((g_f * u_conj).sum(0), n=2 * L)[..., :L] if ctx.needs_input_grad[1] else None
        return grad_u, grad_K
