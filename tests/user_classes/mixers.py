"""Sequence mixers as a researcher writes them, named by import path in tests/test_mixer_path.py: one in
zoology's convention, one in mad-lab's, and three that break the mixer contract."""

import torch
from torch import nn


class GatedConv(nn.Module):
    """A gated short convolution in zoology's convention (`d_model, l_max, kernel_size, layer_idx, **kwargs`, the
    signature of HazyResearch/zoology's `zoology/mixers/base_conv.py`), re-implemented: a causal depthwise
    convolution of the input, gated by a linear map of it.

    Args:
        kernel_size: taps of the causal convolution
    """

    def __init__(self, d_model: int, l_max: int = 2048, kernel_size: int = 3, layer_idx: int | None = None, **kwargs):
        super().__init__()
        self.l_max, self.layer_idx = l_max, layer_idx
        self.conv = nn.Conv1d(d_model, d_model, kernel_size, groups=d_model, padding=kernel_size - 1)
        self.gate = nn.Linear(d_model, d_model)

    def forward(self, u):
        y = self.conv(u.transpose(1, 2))[..., : u.shape[1]].transpose(1, 2)  # (B, L, D): causal, the pad cut
        return y * torch.sigmoid(self.gate(u))


class MeanSoFar(nn.Module):
    """A layer in mad-lab's convention (`dim, max_length`): the running mean of a projection, which streams."""

    def __init__(self, dim: int, max_length: int = 128):
        super().__init__()
        self.max_length = max_length
        self.proj = nn.Linear(dim, dim)

    def forward(self, u, state=None):
        v = self.proj(u)  # (B, L, D)
        total, count = (torch.zeros_like(v[:, 0]), 0) if state is None else state
        sums = total.unsqueeze(1) + v.cumsum(1)
        counts = count + torch.arange(1, u.shape[1] + 1, device=u.device).view(1, -1, 1)
        return sums / counts, (sums[:, -1], count + u.shape[1])


class WrongShape(nn.Module):
    """Returns half the width."""

    def __init__(self, d_model: int):
        super().__init__()
        self.proj = nn.Linear(d_model, d_model // 2)

    def forward(self, u):
        return self.proj(u)


class PeeksAhead(nn.Module):
    """Each step sees the next one: not causal."""

    def __init__(self, d_model: int):
        super().__init__()
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, u):
        return self.proj(torch.roll(u, shifts=-1, dims=1))


class RaisesInConstructor(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        raise ValueError("this layer is not finished")


class TakesWidth(nn.Module):
    """Built from neither `task` nor `d_model` nor `dim`."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.proj = nn.Linear(width, width)
