"""S4D (Gu, Gupta, Goel & Re 2022, "On the Parameterization and Initialization of Diagonal State Space Models"),
the minimal model in plain PyTorch. Omitted: the Cauchy and Vandermonde kernels (the kernel's powers are
formed by blocks here, see `S4DLayer.forward`), S4D-Inv and the other initialisations, bidirectional
layers, the separate learning rate and weight decay the paper gives A and the step size, BatchNorm and the
pooling/decoder heads (seqmem's head is used).

Each of H channels runs its own diagonal system of N/2 complex modes: x_t = dA x_{t-1} + dB u_t, y_t =
2 Re(C x_t) + D u_t (the factor 2 stands for the conjugate modes left out), with A_n = -1/2 + i pi n
(S4D-Lin) discretised by zero-order hold with a learned step size. A whole chunk is one causal FFT
convolution with the kernel K_l = 2 Re(C dA^l dB) (D added at lag 0), plus what the state carried in from
the last chunk contributes; the state at the chunk's end is returned, so a stream fed in chunks gives the
whole stream's outputs. `S4DLayer.step` runs the same system one step at a time (the reference the tests compare with;
`scan="loop"` trains that way, for the speed benchmark). The model `s4d` is the backbone with `S4DMixer` (the
layer, GELU, GLU mixing) in each block and no MLP (seqmem/models/ssm_frame.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels.fft_conv import CausalConvolution, powers
from seqmem.models import register_model
from seqmem.models.ssm_frame import StateSpaceBackbone


class S4DLayer(nn.Module):
    """H independent diagonal state-space systems, one per channel, each with N/2 complex modes. Built as a
    mixer in the backbone too (`d_model` the channels, the S4D model's defaults)."""

    def __init__(self, d_model: int, state_size: int = 64, dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        channels, modes = d_model, state_size // 2
        log_dt = torch.rand(channels) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)  # (H,)
        self.log_neg_A_real = nn.Parameter(torch.full((channels, modes), math.log(0.5)))  # Re A = -exp(.) < 0
        self.A_imag = nn.Parameter(math.pi * torch.arange(modes, dtype=torch.float).repeat(channels, 1))  # (H, N/2)
        self.C = nn.Parameter(torch.randn(channels, modes, 2) * math.sqrt(0.5))  # real and imaginary parts
        self.D = nn.Parameter(torch.randn(channels))  # (H,)

    def state_size(self, sequence_length: int) -> int:
        """The numbers a stream carries: N/2 complex modes a channel, N real numbers."""
        return 2 * self.A_imag.numel()

    def discrete(self):
        """dA = exp(dt A) and dB = (dA - 1) / A: zero-order hold, exact for an input held over each step."""
        A = torch.complex(-torch.exp(self.log_neg_A_real), self.A_imag)  # (H, N/2)
        dtA = A * torch.exp(self.log_dt).unsqueeze(-1)  # (H, N/2)
        dA = torch.exp(dtA)
        return dtA, dA, (dA - 1) / A, torch.view_as_complex(self.C)

    def forward(self, u: torch.Tensor, state: torch.Tensor | None = None):
        """u: `(B, L, H)`; state: the modes before the first step `(B, H, N/2)` complex, or None for zeros.

        The powers dA^l are never formed for every l: with l = i + T j (T about sqrt L), dA^l = dA^i dA^(Tj),
        so the kernel and the state terms are batched matmuls of `(H, J, N/2)` by `(H, N/2, T)` blocks."""
        L = u.shape[1]
        u = u.transpose(1, 2)  # (B, H, L)
        dtA, dA, dB, C = self.discrete()
        T = math.isqrt(L - 1) + 1  # so J T >= L with J = ceil(L / T)
        J = -(-L // T)
        inner = powers(dtA, torch.arange(T, device=u.device))  # dA^i: (H, N/2, T)
        outer = powers(dtA, torch.arange(0, J * T, T, device=u.device))  # dA^(Tj): (H, N/2, J)
        K = 2 * ((C * dB).unsqueeze(-1) * outer).transpose(1, 2) @ inner  # (H, J, T): 2 C dB dA^(i+Tj)
        K = K.real.reshape(K.shape[0], J * T)[:, :L]  # (H, L)
        K = torch.cat([K[:, :1] + self.D.unsqueeze(-1), K[:, 1:]], dim=1)  # D u_t is the kernel's lag 0
        y = CausalConvolution.apply(u, K)  # (B, H, L)
        back = F.pad(u.transpose(0, 1).flip(-1), (0, J * T - L)).unflatten(-1, (J, T))  # u_{L-1-i-Tj}: (H, B, J, T)
        pairs = torch.view_as_real(inner.transpose(1, 2)).flatten(-2)  # (H, T, N): real and imaginary parts
        modes = (back.flatten(1, 2) @ pairs).unflatten(1, (-1, J)).unflatten(-1, (-1, 2))  # (H, B, J, N/2, 2)
        end = dB * (torch.view_as_complex(modes) * outer.transpose(1, 2).unsqueeze(1)).sum(2).transpose(0, 1)
        if state is not None:  # the carried modes decay as dA^(t+1) and are read out through C
            carried = 2 * ((C * dA * state).unsqueeze(2) * outer.transpose(1, 2)) @ inner  # (B, H, J, T)
            y = y + carried.real.flatten(2)[..., :L]  # (B, H, L)
            end = end + state * torch.exp(dtA * L)  # dA^L x_{-1}: (B, H, N/2)
        # (B, L, H) in memory: the GELU after this runs its backward several times slower on a transposed view
        return y.transpose(1, 2).contiguous(), end  # (B, L, H), (B, H, N/2)

    def loop(self, u: torch.Tensor, state: torch.Tensor | None = None):
        """The same as `forward`, one step at a time (`scan="loop"`): the recurrence without the FFT."""
        outputs = []
        for u_t in u.unbind(1):  # not u[:, t]: its backward is quadratic in L
            y, state = self.step(u_t, state)
            outputs.append(y)
        return torch.stack(outputs, dim=1), state

    def step(self, u: torch.Tensor, state: torch.Tensor | None = None):
        """One step of the recurrence: u `(B, H)`; returns y `(B, H)` and the next state."""
        _, dA, dB, C = self.discrete()
        x = dB * u.unsqueeze(-1) if state is None else dA * state + dB * u.unsqueeze(-1)  # (B, H, N/2)
        return 2 * (C * x).sum(-1).real + self.D * u, x


class S4DMixer(nn.Module):
    """The S4D model's mixer: the layer, GELU, dropout and GLU mixing (a linear map to 2 d_model, half of it
    gating the other half), `(B, L, D) -> (B, L, D)`; its state the layer's modes."""

    def __init__(self, d_model: int, state_size: int = 64, dt_min: float = 1e-3, dt_max: float = 1e-1,
                 dropout: float = 0.0, scan: str = "fft"):
        super().__init__()
        self.ssm = S4DLayer(d_model, state_size, dt_min, dt_max)
        self.mix = nn.Linear(d_model, 2 * d_model)  # halves of a GLU
        self.dropout = nn.Dropout(dropout)
        self.scan = scan

    def state_size(self, sequence_length: int) -> int:
        return self.ssm.state_size(sequence_length)

    def forward(self, u: torch.Tensor, state: torch.Tensor | None = None):
        run = self.ssm if self.scan == "fft" else self.ssm.loop
        y, state = run(u, state)  # (B, L, D), (B, D, N/2)
        return F.glu(self.mix(self.dropout(F.gelu(y))), dim=-1), state


@register_model("s4d")
class S4D(StateSpaceBackbone):
    """S4D: residual blocks of diagonal state-space layers, each a mixer on the backbone (pre-norm, GELU and
    GLU mixing inside the mixer, no MLP).

    Args:
        d_model: width of the residual stream (channels a block reads and writes)
        layers: residual blocks stacked
        state_size: state numbers a channel carries between steps
        dropout: dropout probability inside each block (0: off)
        dt_min: smallest initial step size of the discretisation
        dt_max: largest initial step size of the discretisation
        scan: fft (a causal FFT convolution) or loop (step by step, the reference)
        encoder: how token inputs enter: onehot, embedding (learned) or linear (a learned input layer), of width
            embedding_dim
        embedding_dim: width of the embedding or input layer, then a learned map to d_model (0: the backbone's
            encoder, of width d_model, no map)
    """

    summary = "S4D: diagonal state-space layers (S4D-Lin init, ZOH, FFT convolution) with GLU mixing"

    def __init__(self, task, d_model: int = 64, layers: int = 4, state_size: int = 64, dropout: float = 0.0,
                 dt_min: float = 1e-3, dt_max: float = 1e-1, scan: str = "fft", encoder: str = "onehot",
                 embedding_dim: int = 0):
        check_int("state_size", state_size, 2)
        if state_size % 2:
            raise ConfigError(f"state_size must be even (N/2 complex modes), got {state_size}")
        if not (0 < dt_min <= dt_max and math.isfinite(dt_max)):
            raise ConfigError(f"need 0 < dt_min <= dt_max (finite), got dt_min {dt_min!r} and dt_max {dt_max!r}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
        if scan not in ("fft", "loop"):
            raise ConfigError(f"scan must be fft (a causal FFT convolution) or loop (step by step), got {scan!r}")
        settings = {"state_size": state_size, "dt_min": dt_min, "dt_max": dt_max, "dropout": dropout, "scan": scan}
        super().__init__(task, S4DMixer, settings, d_model, layers, dropout, encoder, embedding_dim)

    def redraw(self, d_model: int, settings: dict) -> None:
        """Every layer's S4D system, then every layer's GLU mixing, as the old frame drew them."""
        for block in self.blocks:
            block.mixer.ssm = S4DLayer(d_model, settings["state_size"], settings["dt_min"], settings["dt_max"])
        for block in self.blocks:
            block.mixer.mix = nn.Linear(d_model, 2 * d_model)
