"""Hyena (Poli et al. 2023, "Hyena Hierarchy: Towards Larger Convolutional Language Models"): gates and implicit
long convolutions in turn, as HazyResearch/safari's `src/models/sequence/hyena.py` (`HyenaOperator`) and
HazyResearch/zoology's `zoology/mixers/hyena.py` compute it.

The input is projected to order + 1 streams of d_model (x_0 .. x_(order-1), v), each through its own short
causal convolution (`short_kernel` taps a channel, depthwise). Then, for each gate x_(order-1) down to x_1 in
turn, v <- h_o * (x_o v) + D_o (x_o v): a gate, then a long convolution with an implicit filter h_o of l_max taps
a channel and its bias D_o; finally y = W_out (x_0 v). The order-2 default is the references' (three streams, one
long convolution). Each filter is a small MLP on positional features (the lag on [0, 1], then bands of a complex
exponential; seqmem/kernels/filter_features.py) with sine activations of learned frequency (one frequency vector
shared by the MLP's activations, as the references share their `Sin`), times an exponential-decay window
exp(-t |delta_c|), the decay rates fixed from log(1e-2) / 1.5 to log(1e-2) / 0.3 across the channels.

Left out: heads, blocks and outer mixing (the references' one-head default), dropout (the backbone's), the
positional features' own learning rate of 1e-5 (here they are fixed), and the filter's separate learning rate
(its MLP, like the references', takes no weight decay).

`forward` runs the long convolutions by FFT, `step_by_step` each as a dot product of the filter with the inputs
kept (seqmem/kernels/stream_conv.py). The state is each convolution's last inputs (the short one's k - 1 of the
streams, each long one's l_max - 1), so a stream fed in chunks gives the whole stream's outputs; the filters are
zero beyond lag l_max - 1, so a stream longer than l_max forgets what is older.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels import filter_features as positions
from seqmem.kernels.stream_conv import conv_steps, fft_flops, lag_taps, long_conv, short_conv
from seqmem.models import register_model


class Sine(nn.Module):
    """sin(f x) with a learned frequency f a unit."""

    def __init__(self, width: int, frequency: float):
        super().__init__()
        self.frequency = nn.Parameter(torch.full((width,), float(frequency)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.frequency * x)


class HyenaFilter(nn.Module):
    """`channels` implicit filters of l_max taps: an MLP with sine activations on the lags' positional features,
    times an exponential-decay window."""

    def __init__(self, channels: int, l_max: int, width: int, features: int, frequency: float):
        super().__init__()
        self.register_buffer("features", positions.filter_features(l_max, features), persistent=False)
        self.register_buffer("t", positions.filter_positions(l_max), persistent=False)  # (l_max, 1)
        target = math.log(1e-2)  # the window falls to 1e-2 at 30% (fastest channel) to 150% (slowest) of l_max
        self.register_buffer("decay", torch.linspace(target / 1.5, target / 0.3, channels).abs(), persistent=False)
        sine = Sine(width, frequency)
        self.mlp = nn.Sequential(nn.Linear(features, width), sine, nn.Linear(width, width), sine,
                                 nn.Linear(width, width), sine, nn.Linear(width, channels, bias=False))
        for p in self.mlp.parameters():
            p._no_weight_decay = True  # the references train the filter without weight decay

    def forward(self) -> torch.Tensor:
        """The taps `(l_max, channels)`."""
        return self.mlp(self.features) * torch.exp(-self.t * self.decay)


@register_model("hyena")
class Hyena(nn.Module):
    """Hyena (Poli et al. 2023): gates and implicit long convolutions in turn (order 2 by default)

    Args:
        order: depth of the recurrence: order + 1 streams, order - 1 gated long convolutions
        filter_width: hidden units of the filters' MLP (the references' filter_order)
        filter_features: positional features the filters read (odd, at least 3)
        frequency: initial frequency of the filter MLP's sine activations
        short_kernel: taps of the short convolution on each stream (the references' short_filter_order)
    """

    summary = "Hyena (Poli et al. 2023): gates and implicit long convolutions (FFT), order 2 by default, streams"

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, order: int = 2, filter_width: int = 64,
                 filter_features: int = 3, frequency: float = 1.0, short_kernel: int = 3):
        super().__init__()
        check_int("d_model", d_model)
        check_int("l_max", l_max)
        check_int("order", order, 2)
        check_int("filter_width", filter_width)
        check_int("filter_features", filter_features, 3)
        check_int("short_kernel", short_kernel)
        if order > 8:
            raise ConfigError(f"order must be at most 8, got {order}")
        if filter_features % 2 == 0:
            raise ConfigError(f"filter_features must be odd (the lag, then a cosine and a sine a band), "
                              f"got {filter_features}")
        if isinstance(frequency, bool) or not isinstance(frequency, int | float) or not math.isfinite(frequency):
            raise ConfigError(f"frequency must be a finite number, got {frequency!r}")
        self.d_model, self.layer_idx, self.l_max, self.order = d_model, layer_idx, l_max, order
        streams = (order + 1) * d_model
        self.in_proj = nn.Linear(d_model, streams)
        self.short = nn.Conv1d(streams, streams, short_kernel, groups=streams)  # depthwise: its weight and bias
        self.filter = HyenaFilter(d_model * (order - 1), l_max, filter_width, filter_features, frequency)
        self.bias = nn.Parameter(torch.randn(order - 1, d_model))  # D_o, each long convolution's lag-0 skip
        self.out_proj = nn.Linear(d_model, d_model)
        self.receptive_field = short_kernel + (order - 1) * (l_max - 1)

    def long_taps(self) -> torch.Tensor:
        """`(order - 1, D, l_max)`: each long convolution's filter, lag 0 first, its bias D_o added at lag 0.
        Channel c of convolution o is the filter MLP's output c (order - 1) + o, as safari's `'(v o)'` lays it out."""
        taps = self.filter().unflatten(1, (self.d_model, self.order - 1)).permute(2, 1, 0)  # (order - 1, D, l_max)
        return torch.cat([taps[..., :1] + self.bias.unsqueeze(-1), taps[..., 1:]], dim=-1)

    def forward(self, u: torch.Tensor, state=None):
        """u `(B, L, D)`; state None or (the short convolution's last k - 1 inputs `(B, k - 1, (order + 1) D)`,
        each long convolution's last l_max - 1 inputs `(B, l_max - 1, D)`)."""
        short_past, long_pasts = (None, [None] * (self.order - 1)) if state is None else state
        z, short_past = short_conv(self.in_proj(u), self.short.weight, self.short.bias, short_past)
        return self.mix(z, short_past, long_pasts, long_conv)

    def step_by_step(self, u: torch.Tensor, state=None):
        """The same, each convolution a dot product of its filter with the inputs kept, a step at a time."""
        short_past, long_pasts = (None, [None] * (self.order - 1)) if state is None else state
        z, short_past = conv_steps(self.in_proj(u), lag_taps(self.short.weight), short_past, self.short.bias)
        return self.mix(z, short_past, long_pasts, conv_steps)

    def mix(self, z: torch.Tensor, short_past, long_pasts, convolve):
        """The recurrence on the short-convolved streams z `(B, L, (order + 1) D)`: v <- h_o * (x_o v) for o from
        order - 1 down to 1 (its bias in h_o's lag 0), then y = W_out (x_0 v)."""
        *x, v = z.split(self.d_model, dim=-1)  # (B, L, D) each
        taps, pasts = self.long_taps(), []
        for o, gate in enumerate(reversed(x[1:])):
            v, past = convolve(v * gate, taps[o], long_pasts[o])
            pasts.append(past)
        return self.out_proj(v * x[0]), (short_past, tuple(pasts))

    def state_size(self, sequence_length: int) -> int:
        """Zoology's count of a convolution's state, channels x taps, summed over the convolutions: the short one
        on the order + 1 streams, each long one up to the sequence's length. (Zoology's Hyena counts its long
        convolution alone, D L.)"""
        short = (self.order + 1) * self.d_model * self.short.kernel_size[0]
        return short + (self.order - 1) * self.d_model * min(sequence_length, self.l_max)

    def flops(self, sequence_length: int) -> int:
        """One sequence's forward: the in and out projections 2 D (order + 1) D L + 2 D^2 L, the short convolution
        2 k (order + 1) D L, the gates order D L, each long convolution three real FFTs of 2L points a channel
        (input, filter, output; 5 n log2 n each) and the product of spectra 6 (L + 1) a channel, and the filter
        MLP over l_max lags, 2 l_max (e w + 2 w^2 + w (order - 1) D)."""
        L, D, streams = sequence_length, self.d_model, (self.order + 1) * self.d_model
        width, features = self.filter.mlp[0].out_features, self.filter.mlp[0].in_features
        return (2 * D * streams * L + 2 * D * D * L + 2 * self.short.kernel_size[0] * streams * L
                + self.order * D * L + (self.order - 1) * D * (3 * fft_flops(2 * L) + 6 * (L + 1))
                + 2 * self.l_max * (features * width + 2 * width * width + width * (self.order - 1) * D))
