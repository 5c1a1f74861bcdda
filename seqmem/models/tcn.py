"""Temporal convolutional network (Bai, Kolter & Koltun 2018): causal dilated residual blocks.

Level i dilates by 2**i; each block holds two weight-normed causal convolutions, so the receptive field
is 1 + 2 (kernel_size - 1) (2**levels - 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels.causal_conv import causal_conv1d
from seqmem.models import register_model
from seqmem.models.encoding import InputEncoder, OutputHead


def receptive_field(levels: int, kernel_size: int) -> int:
    return 1 + 2 * (kernel_size - 1) * (2**levels - 1)


class CausalConv(nn.Module):
    """A convolution that sees only the present and the past: pad on the left, never on the right.

    The weight-normed `nn.Conv1d` holds the parameters (so checkpoints keep their keys); the convolution
    itself is `causal_conv1d`, which trains about twice as fast as `nn.Conv1d` on CPU (seqmem/kernels/causal_conv.py).
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int, init_std: float):
        super().__init__()
        self.dilation, self.kernel_size = dilation, kernel_size
        conv = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation)
        if init_std > 0:
            nn.init.normal_(conv.weight, 0.0, init_std)  # before weight norm, so the norm keeps it
        self.conv = weight_norm(conv)

    def forward(self, x: torch.Tensor, past: torch.Tensor | None = None, dilation: int | None = None):
        """Also returns the last `left` input steps: the `past` that continues this stream in the next call.
        `dilation` overrides the layer's own, for a sequence already subsampled by it."""
        dilation = dilation or self.dilation
        left = (self.kernel_size - 1) * dilation
        y = causal_conv1d(x, self.conv.weight, self.conv.bias, dilation, past)
        if x.shape[2] < left:
            x = F.pad(x, (left, 0)) if past is None else torch.cat([past, x], dim=2)
        return y, x[:, :, x.shape[2] - left :]


class TemporalBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int, dropout: float, init_std: float):
        super().__init__()
        self.conv1 = CausalConv(c_in, c_out, kernel_size, dilation, init_std)
        self.conv2 = CausalConv(c_out, c_out, kernel_size, dilation, init_std)
        self.dropout = nn.Dropout(dropout)
        self.downsample = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None
        if self.downsample is not None and init_std > 0:
            nn.init.normal_(self.downsample.weight, 0.0, init_std)

    def forward(self, x: torch.Tensor, state=None, dilation: int | None = None):
        past1, past2 = state if state is not None else (None, None)
        h, past1 = self.conv1(x, past1, dilation)
        h, past2 = self.conv2(self.dropout(F.relu(h)), past2, dilation)
        h = self.dropout(F.relu(h))
        if self.downsample is not None:  # through causal_conv1d too, to keep the layout (B, L, C)
            x = causal_conv1d(x, self.downsample.weight, self.downsample.bias)
        return F.relu(h + x), (past1, past2)


@register_model("tcn")
class TCN(nn.Module):
    """A TCN: `levels` residual blocks of two causal convolutions, level i dilated by 2**i.

    Args:
        levels: residual blocks; level i dilates by 2**i, so the receptive field is 1 + 2 (kernel_size - 1)
            (2**levels - 1)
        kernel_size: taps of each causal convolution
        channels: channels of every block
        dropout: dropout probability inside each block (0: off)
        init_std: draw the convolutions' weights from N(0, init_std) before weight norm (0: PyTorch's init)
    """

    summary = "temporal convolutional network: causal dilated residual blocks with weight norm"

    def __init__(
        self,
        task,
        levels: int = 8,
        kernel_size: int = 8,
        channels: int = 10,
        dropout: float = 0.0,
        init_std: float = 0.0,
        encoder: str = "onehot",
        embedding_dim: int = 0,
    ):
        super().__init__()
        check_int("levels", levels)
        if levels > 32:
            raise ConfigError(f"levels must be at most 32 (a receptive field of billions of steps), got {levels}")
        check_int("kernel_size", kernel_size, 2)  # a kernel of 1 sees one step, however deep the network
        check_int("channels", channels)
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
        if not 0 <= init_std < 1:
            raise ConfigError(f"init_std must be in [0, 1) (0: PyTorch's default init), got {init_std!r}")
        self.levels, self.kernel_size = levels, kernel_size
        self.encoder = InputEncoder(task, encoder, embedding_dim)
        sizes = [self.encoder.features] + [channels] * levels
        self.blocks = nn.Sequential(
            *(TemporalBlock(sizes[i], sizes[i + 1], kernel_size, 2**i, dropout, init_std) for i in range(levels))
        )
        self.head = OutputHead(channels, task)
        self.receptive_field = receptive_field(levels, kernel_size)

    def fix_receptive_field(self, span: int) -> str:
        """The smallest change of depth, or of kernel size, that lets the model see `span` steps."""
        levels = self.levels
        while receptive_field(levels, self.kernel_size) < span:
            levels += 1
        kernel = 1 + math.ceil((span - 1) / (2 * (2**self.levels - 1)))
        return (
            f"--levels {levels} ({receptive_field(levels, self.kernel_size)})"
            f" or --kernel-size {kernel} ({receptive_field(self.levels, kernel)})"
        )

    def state_size(self, sequence_length: int) -> int:
        """The numbers a stream carries: each convolution's last (kernel_size - 1) dilation inputs."""
        return sum((conv.kernel_size - 1) * conv.dilation * conv.conv.in_channels
                   for block in self.blocks for conv in (block.conv1, block.conv2))

    def forward(self, x: torch.Tensor, state=None, cond: torch.Tensor | None = None,
                where: torch.Tensor | None = None):
        """The state is each convolution's last input steps, so a stream fed in chunks (truncated BPTT,
        streaming inference) gives the same outputs as the whole stream at once.

        A sequence classifier reads only the last step, L - 1, which at level i depends only on the steps
        L - 1 - m 2**i: level i then runs on every 2**i-th step with dilation 1, all the levels together
        costing under twice the first one. That whole-sequence form has no stream to continue: its state is None.
        `where`: the logits at the positions it marks alone (seqmem/training/scored.py)."""
        h = self.encoder(x, cond).transpose(1, 2)
        if state is None and not self.head.per_step:
            for block in self.blocks:
                h, _ = block(h, dilation=1)
                h = h[:, :, (h.shape[2] - 1) % 2 :: 2]  # the steps the next level's taps reach
            return self.head(h.transpose(1, 2)), None
        states = []
        for i, block in enumerate(self.blocks):
            h, block_state = block(h, None if state is None else state[i])
            states.append(block_state)
        return self.head(h.transpose(1, 2), where=where), tuple(states)
