"""Based (Arora et al. 2024, "Simple linear attention language models balance the recall-throughput tradeoff";
HazyResearch/based, HazyResearch/zoology `zoology/mixers/based.py`) as one sequence mixer: a short gated
convolution, then Taylor linear attention and sliding-window softmax attention side by side, summed.

The paper builds Based from three primitives, each a layer of its own in a stack (BaseConv layers with
linear-attention and sliding-window layers among them). A mixer here is one layer, built alike at every
depth, so the three go in one layer, in the order the paper's stack feeds them:

    h = u + (W u + b) o conv(u)                 BaseConv (zoology `zoology/mixers/base_conv.py`): local mixing,
                                                 a short depthwise causal convolution gated by a projection
    y = linear_attention(h) + window_attention(h)

The two attentions read the same h and are summed rather than chained, because they answer different
questions of it (the paper's argument): the Taylor linear attention (phi(q) . phi(k) = 1 + s + s^2 / 2, the
expansion of exp(s), feature_dim 16 a head as the paper; seqmem/mixers/linear_attention.py) recalls from
the whole past through a fixed-size state, imprecisely; the softmax attention over the last `window` steps
(64, the paper's tiny window; seqmem/mixers/attention.py with RoPE, by blocks, linear in the length) is exact
where tokens are near. A sum lets each contribute where it is good, with neither's output the other's input.
The state: the convolution's last conv_size - 1 inputs, the linear attention's state and the window's keys
and values.
"""

from __future__ import annotations

import torch
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels.stream_conv import short_conv
from seqmem.mixers.attention import Attention
from seqmem.mixers.linear_attention import LinearAttention
from seqmem.models import register_model


@register_model("based")
class Based(nn.Module):
    """Based: a short gated convolution, then Taylor linear attention plus sliding-window softmax attention

    Args:
        heads: linear-attention heads (they split d_model for the values)
        feature_dim: width of a head's queries and keys before the Taylor map (1 + f + f^2 features)
        window: steps the softmax attention sees, itself included
        window_heads: heads of the sliding-window attention (they split d_model)
        conv_size: taps of the short gated convolution
        chunk: steps a chunk of the linear attention's chunked (training) form
    """

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, heads: int = 1, feature_dim: int = 16,
                 window: int = 64, window_heads: int = 1, conv_size: int = 3, chunk: int = 64):
        super().__init__()
        for name, value in (("d_model", d_model), ("window", window), ("window_heads", window_heads),
                            ("conv_size", conv_size)):
            check_int(name, value)
        if d_model % window_heads:
            raise ConfigError(f"window_heads must divide d_model ({d_model}), got {window_heads}")
        self.d_model, self.layer_idx, self.conv_size = d_model, layer_idx, conv_size
        self.conv = nn.Conv1d(d_model, d_model, conv_size, groups=d_model)  # holds the taps (D, 1, K)
        self.gate = nn.Linear(d_model, d_model)
        self.linear_attention = LinearAttention(d_model, layer_idx, l_max, heads=heads, feature_map="taylor",
                                                feature_dim=feature_dim, chunk=chunk)
        self.window_attention = Attention(d_model, layer_idx, l_max, heads=window_heads, window=window)

    def convolve(self, u: torch.Tensor, past):
        """h = u + gate(u) o conv(u): u (B, L, D), past None or (B, K-1, D) -> h (B, L, D), the next past."""
        convolved, past = short_conv(u, self.conv.weight, self.conv.bias, past)
        return u + self.gate(u) * convolved, past

    def forward(self, u: torch.Tensor, state=None):
        """The chunked form: u (B, L, D), state None or (conv inputs, linear attention's, window's) -> y, state."""
        conv_past, linear_state, window_state = (None, None, None) if state is None else state
        h, conv_past = self.convolve(u, conv_past)
        y_linear, linear_state = self.linear_attention(h, linear_state)
        y_window, window_state = self.window_attention(h, window_state)
        return y_linear + y_window, (conv_past, linear_state, window_state)

    def step_by_step(self, u: torch.Tensor, state=None):
        """The recurrent form: the linear attention's step form, the window attention a step at a time on its
        KV cache; the same state as `forward`'s."""
        conv_past, linear_state, window_state = (None, None, None) if state is None else state
        h, conv_past = self.convolve(u, conv_past)  # causal: each output from its own K steps
        y_linear, linear_state = self.linear_attention.step_by_step(h, linear_state)
        y_window = []
        for h_t in h.split(1, dim=1):  # not h[:, t:t + 1]: its backward is quadratic in L
            y, window_state = self.window_attention(h_t, window_state)
            y_window.append(y)
        return y_linear + torch.cat(y_window, dim=1), (conv_past, linear_state, window_state)

    def state_size(self, sequence_length: int) -> int:
        """The linear attention's (heads x features x value width, and its normaliser), the window's keys and
        values (2 d_model a step, at most `window` steps) and the convolution's last conv_size - 1 inputs."""
        return (self.linear_attention.state_size(sequence_length)
                + self.window_attention.state_size(sequence_length) + (self.conv_size - 1) * self.d_model)

    def flops(self, sequence_length: int) -> int:
        """Forward FLOPs of one sequence: the gate 2 L D D and convolution 2 L D K, the linear attention's
        (LinearAttention.flops), and the window attention: q, k, v and out maps 2 L D 4D, and its scores and
        their values as computed: over the whole (L, L) square where the window covers the sequence (the fused
        causal kernel), else by blocks of T = max(window, 32) queries against T + window keys (`windowed`),
        4 L' (T + window) D over the padded length L'."""
        L, D, W = sequence_length, self.d_model, self.window_attention.window
        conv = 2 * L * D * D + 2 * L * D * self.conv_size
        if W >= L:
            scores = 4 * L * L * D
        else:
            T = max(W, 32)
            scores = 4 * -(-L // T) * T * (T + W) * D
        window = 2 * L * D * 4 * D + scores
        return conv + self.linear_attention.flops(L) + window
