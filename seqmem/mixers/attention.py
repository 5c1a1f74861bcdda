"""Causal multi-head softmax attention as a sequence mixer, through PyTorch's fused
`scaled_dot_product_attention`.

One projection makes the queries, keys and values of every head, one maps the heads' outputs back
(zoology's `MHA`, `zoology/mixers/attention.py`: one head by default, biases on both maps). Positions enter
by `rope` (the default: each head's query and key rotated pair by pair by an angle proportional to the
position, RoFormer, Su et al. 2021), by a `learned` vector a position added to the layer's input, or not at
all (`none`: the causal mask alone tells order). With `window`, a step sees itself and the `window - 1` steps
before it (sliding-window attention), computed by blocks of queries against the keys they can see (`windowed`),
so its time grows linearly with the length.

The state is the keys and values seen so far (a KV cache, the keys already rotated) and how many steps came
before, so a stream fed in chunks gives the whole stream's outputs; with a window only the last `window`
steps are kept. `state_size(L)` counts that cache as zoology does: keys and values, `2 * d_model * L`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError

POSITIONS = ("rope", "learned", "none")


def rotate(x: torch.Tensor, start: int, base: float = 10000.0) -> torch.Tensor:
    """RoPE on `(B, H, L, E)` at positions start..start+L-1: the pair (x_2i, x_2i+1) turned by the angle
    position * base^(-2i/E). An odd E turns its first E - 1 numbers so and leaves the last (so any width
    builds, as a search over widths needs)."""
    E = x.shape[-1] - x.shape[-1] % 2
    pairs, rest = x[..., :E], x[..., E:]
    frequency = base ** (-torch.arange(0, E, 2, device=x.device, dtype=torch.float32) / E)  # (E/2,)
    angle = torch.arange(start, start + x.shape[2], device=x.device, dtype=torch.float32).unsqueeze(-1) * frequency
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)  # (L, E/2)
    even, odd = pairs.unflatten(-1, (-1, 2)).unbind(-1)  # (B, H, L, E/2) each
    return torch.cat([torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2), rest], -1)


def visible(queries: int, past: int, device) -> torch.Tensor:
    """`(queries, past + queries)`, True where query i (at position past + i) may see key j: j <= past + i."""
    return torch.arange(past + queries, device=device) <= torch.arange(queries, device=device).unsqueeze(-1) + past


def windowed(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int) -> torch.Tensor:
    """Sliding-window causal attention by blocks, linear in the length: q `(B, H, L, E)`, k and v `(B, H, P + L,
    E)`, the first P the past (query i at position P + i sees keys P + i - window < j <= P + i).

    The keys are padded in front to `window` steps of past (zeros, never visible) and cut into overlapping spans:
    the queries of block n (T = max(window, 32) steps) see only the T + window keys from n T on, a mask of
    (T, T + window) a block instead of one of (L, P + L) over the whole sequence, whose softmax would also read
    every masked-out score."""
    B, H, L, E = q.shape
    k, v = k[:, :, max(0, k.shape[2] - L - window):], v[:, :, max(0, v.shape[2] - L - window):]  # older: unseen
    front = window - (k.shape[2] - L)  # zeros in front, so query i sits at key index window + i
    T = max(window, 32)
    N = -(-L // T)
    k, v = (F.pad(x, (0, 0, front, N * T - L)) for x in (k, v))  # (B, H, N T + window, E)
    q = F.pad(q, (0, 0, 0, N * T - L)).unflatten(2, (N, T))  # (B, H, N, T, E)
    spans = [x.unfold(2, T + window, T).transpose(-1, -2) for x in (k, v)]  # (B, H, N, T + window, E) each
    i = torch.arange(T, device=q.device).unsqueeze(-1)  # a query's place in its block
    j = torch.arange(T + window, device=q.device)  # a key's place in the block's span
    real = torch.arange(N, device=q.device).unsqueeze(-1) * T + j >= front  # (N, T + window): not the front pad
    mask = ((j > i) & (j <= i + window)) & real.unsqueeze(1)  # (N, T, T + window)
    y = F.scaled_dot_product_attention(q.flatten(1, 2), *(x.flatten(1, 2) for x in spans),
                                       attn_mask=mask.repeat(H, 1, 1))  # blocks as heads: (B, H N, T, E)
    return y.view(B, H, N * T, E)[:, :, :L]


class Attention(nn.Module):
    """Causal multi-head softmax attention; its state the keys and values seen so far."""

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, heads: int = 1,
                 positions: str = "rope", window: int | None = None, bias: bool = True):
        super().__init__()
        check_int("d_model", d_model)
        check_int("heads", heads)
        check_int("l_max", l_max)
        if d_model % heads:
            raise ConfigError(f"heads must divide d_model ({d_model}), got {heads}")
        if positions not in POSITIONS:
            raise ConfigError(f"positions must be one of {', '.join(POSITIONS)}, got {positions!r}")
        if window is not None:
            check_int("window", window)
        self.d_model, self.layer_idx, self.l_max, self.heads = d_model, layer_idx, l_max, heads
        self.positions, self.window = positions, window
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.position = None
        if positions == "learned":
            self.position = nn.Parameter(torch.randn(l_max, d_model) * 0.02)  # (l_max, D), as GPT-2 draws them
            self.position._no_weight_decay = True  # an embedding: decay would pull it to nothing
        # a window bounds how far back a step sees (it adds window - 1 a layer); without one, the whole past
        self.receptive_field = math.inf if window is None else window

    def forward(self, u: torch.Tensor, state=None):
        """u `(B, L, D)`; state None or `(keys, values, steps seen)` from the last chunk. Returns y `(B, L, D)`
        and the state after the chunk."""
        B, L, D = u.shape
        past_k, past_v, start = (None, None, 0) if state is None else (state[0], state[1], int(state[2]))
        if self.position is not None:
            if start + L > self.l_max:
                raise ConfigError(f"positions learned covers {self.l_max} steps (l_max), but the stream reached "
                                  f"step {start + L}: use positions rope or none for longer streams")
            u = u + self.position[start:start + L]
        q, k, v = self.qkv(u).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, L, E) each
        if self.positions == "rope":
            q, k = rotate(q, start), rotate(k, start)
        if past_k is not None:
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)  # (B, H, S + L, E)
        past = k.shape[2] - L
        if past == 0 and (self.window is None or self.window >= L):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # the fused causal kernel, no mask made
        elif self.window is not None:
            y = windowed(q, k, v, self.window)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible(L, past, u.device))
        if self.window is not None:
            k, v = k[:, :, -self.window:], v[:, :, -self.window:]
        seen = torch.tensor(start + L, device=u.device)
        return self.out(y.transpose(1, 2).reshape(B, L, D)), (k, v, seen)  # (B, L, D)

    def state_size(self, sequence_length: int) -> int:
        """Numbers in the cache after `sequence_length` steps: a key and a value of d_model a step (zoology's count)."""
        kept = sequence_length if self.window is None else min(sequence_length, self.window)
        return 2 * self.d_model * kept
