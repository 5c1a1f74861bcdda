"""BaseConv (Arora et al. 2023, "Zoology: Measuring and Improving Recall in Efficient Language Models",
section 4): a linear map of the input gating a causal convolution of it, y = (u W + b) * conv(u) + u, as
HazyResearch/zoology's `zoology/mixers/base_conv.py` computes it (its residual `+ u` kept).

The convolution is a short one (`kernel_size` taps a channel, a bias; zoology's `ShortConvolution`) or a long
one, a filter as long as the task (l_max taps a channel), from a small ReLU MLP on positional features
(`implicit`, zoology's `ImplicitLongConvolution`, its default) or free taps drawn N(0, 1) (zoology's
`LongConvolution`); a long convolution adds its input, as zoology's `fft_conv` does (here a tap of 1 at lag 0).
Which a layer runs is `conv`: `alternate`, the default, runs the short one at even layers and the long one at
odd, zoology's Figure 2 (`kernel_size: [3, -1, 3, -1]`); `short` or `long` in every layer.

`forward` runs the long convolution by FFT and the short one by a depthwise convolution; `step_by_step` runs
either as a dot product of the filter with the inputs kept (seqmem/kernels/stream_conv.py). The state is the
convolution's last n - 1 inputs (n its taps), so a stream fed in chunks gives the whole stream's outputs; the
filter is zero beyond lag l_max - 1, so a stream longer than l_max forgets what is older.
"""

from __future__ import annotations

import torch
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels import filter_features as positions
from seqmem.kernels.stream_conv import conv_steps, fft_flops, lag_taps, long_conv, short_conv
from seqmem.models import register_model

CONVS = ("alternate", "short", "long")


@register_model("baseconv")
class BaseConv(nn.Module):
    """BaseConv (Arora et al. 2023, zoology): a linear map of the input gating its short or long causal convolution

    Args:
        conv: the convolution a layer runs: alternate (short at even layers, long at odd: zoology's Figure 2),
            short, or long (l_max taps)
        kernel_size: taps of the short convolution
        implicit: the long filter from a small MLP on positional features (zoology's default), else l_max free taps
        filter_width: hidden units of the implicit filter's MLP
        filter_features: positional features the implicit filter reads (odd, at least 3)
    """

    summary = "BaseConv (zoology): a linear map gating a short or long causal convolution (FFT), streams"

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, conv: str = "alternate",
                 kernel_size: int = 3, implicit: bool = True, filter_width: int = 16, filter_features: int = 3):
        super().__init__()
        check_int("d_model", d_model)
        check_int("l_max", l_max)
        check_int("layer_idx", layer_idx, 0)
        check_int("kernel_size", kernel_size)
        check_int("filter_width", filter_width)
        check_int("filter_features", filter_features, 3)
        if conv not in CONVS:
            raise ConfigError(f"conv must be one of {', '.join(CONVS)}, got {conv!r}")
        if filter_features % 2 == 0:
            raise ConfigError(f"filter_features must be odd (the lag, then a cosine and a sine a band), "
                              f"got {filter_features}")
        self.d_model, self.layer_idx, self.l_max = d_model, layer_idx, l_max
        self.long = conv == "long" or (conv == "alternate" and layer_idx % 2 == 1)
        self.implicit = implicit
        self.projection = nn.Linear(d_model, d_model)
        if not self.long:
            self.short = nn.Conv1d(d_model, d_model, kernel_size, groups=d_model)  # its weight and bias
            self.taps = kernel_size
        elif implicit:
            self.register_buffer("features", positions.filter_features(l_max, filter_features), persistent=False)
            self.filter_mlp = nn.Sequential(nn.Linear(filter_features, filter_width), nn.ReLU(),
                                            nn.Linear(filter_width, d_model))
            self.taps = l_max
        else:
            self.filter = nn.Parameter(torch.randn(d_model, l_max))  # (D, l_max), as zoology draws it
            self.taps = l_max
        self.receptive_field = self.taps

    def long_taps(self) -> torch.Tensor:
        """The long filter's l_max taps `(D, l_max)`, lag 0 first, with the input's own 1 at lag 0."""
        taps = self.filter_mlp(self.features).transpose(0, 1) if self.implicit else self.filter  # (D, l_max)
        return torch.cat([taps[:, :1] + 1, taps[:, 1:]], dim=1)

    def forward(self, u: torch.Tensor, state: torch.Tensor | None = None):
        """u `(B, L, D)`; state None or the convolution's last n - 1 inputs `(B, n - 1, D)`."""
        if self.long:
            conv, state = long_conv(u, self.long_taps(), state)
        else:
            conv, state = short_conv(u, self.short.weight, self.short.bias, state)
        return torch.addcmul(u, self.projection(u), conv), state  # (u W + b) conv + u: (B, L, D)

    def step_by_step(self, u: torch.Tensor, state: torch.Tensor | None = None):
        """The same, each step a dot product of the filter with the inputs kept."""
        if self.long:
            conv, state = conv_steps(u, self.long_taps(), state)
        else:
            conv, state = conv_steps(u, lag_taps(self.short.weight), state, self.short.bias)
        return torch.addcmul(u, self.projection(u), conv), state

    def state_size(self, sequence_length: int) -> int:
        """Zoology's count of a convolution's state: channels x taps (the short filter's, or the long one's up
        to the sequence's length)."""
        return self.d_model * (self.taps if not self.long else min(sequence_length, self.l_max))

    def flops(self, sequence_length: int) -> int:
        """One sequence's forward: the projection 2 D^2 L, the gate and residual 2 D L, and the convolution: short,
        2 k D L; long, three real FFTs of 2L points a channel (input, filter, output; 5 n log2 n each) and the
        product of spectra 6 (L + 1) a channel, plus the implicit filter's MLP 2 l_max (e w + w D)."""
        L, D = sequence_length, self.d_model
        total = 2 * D * D * L + 2 * D * L
        if not self.long:
            return total + 2 * self.taps * D * L
        total += D * (3 * fft_flops(2 * L) + 6 * (L + 1))
        if self.implicit:
            width, features = self.filter_mlp[0].out_features, self.filter_mlp[0].in_features
            total += 2 * self.l_max * (features * width + width * D)
        return total
