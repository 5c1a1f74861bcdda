"""DeltaNet: linear attention whose state is corrected by the delta rule (Schlag et al. 2021), trained by
chunks (Yang et al. 2024, "Parallelizing Linear Transformers with the Delta Rule over Sequence Length",
arXiv 2406.06484), the layer laid out as fla-org/flash-linear-attention's `fla/layers/delta_net.py` builds it.

Queries, keys and values are projected from the input, each passes a short causal depthwise convolution and
SiLU (`conv_size` taps), and queries and keys are L2-normalised in each head, so that the transition
I - beta k k^T is a contraction; beta = sigmoid(W_beta x) a head and step says how far the value stored under
k_t moves to v_t. Each head's output is RMS-normalised, and the heads mapped back to d_model. With
`negative_eigenvalues`, beta = 2 sigmoid(.) in [0, 2], so I - beta k k^T has eigenvalues in [-1, 1] and can
flip a direction, what state tracking (parity, say) needs (Grazzi et al. 2024, arXiv 2411.12537).

The recurrence runs in seqmem/kernels/delta_rule.py: `forward` by chunks of `chunk` steps (the WY / UT
transform), `step_by_step` a step at a time. The state is the convolution's last `conv_size - 1` inputs and
each head's `(K, V)` matrix, so either form continues a stream the other began. fla's defaults kept: four
heads, keys and values d_model wide (expand_v 1), four taps with no bias, no output gate, no biases on the
projections (fused here into one input map); fla's kernel modes, other activations and norms on q and k left out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels.delta_rule import delta_rule_chunked, delta_rule_steps, flops_per_head
from seqmem.kernels.stream_conv import short_conv
from seqmem.models import register_model


def l2_normalise(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x / sqrt(|x|^2 + eps) over the last dim (fla's l2norm), smooth at zero."""
    return x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + eps)


@register_model("deltanet")
class DeltaNet(nn.Module):
    """DeltaNet: linear attention with the delta rule, by chunks (Yang et al. 2024; fla's layer)

    Args:
        heads: heads a layer; each has keys d_model / heads wide
        expand_v: each head's values are expand_v times its keys wide
        conv_size: taps of the short causal convolution on queries, keys and values
        chunk: steps the delta rule takes at once in training (the WY transform's block)
        negative_eigenvalues: beta in [0, 2] instead of [0, 1], so the transition's eigenvalues reach -1
    """

    gated = False  # Gated DeltaNet adds a decay and an output gate

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, heads: int = 4, expand_v: int = 1,
                 conv_size: int = 4, chunk: int = 64, negative_eigenvalues: bool = False):
        super().__init__()
        self.build(d_model, layer_idx, l_max, heads, expand_v, conv_size, chunk, negative_eigenvalues)

    def build(self, d_model: int, layer_idx: int, l_max: int, heads: int, expand_v: int, conv_size: int,
              chunk: int, negative_eigenvalues: bool) -> None:
        for name, value in (("d_model", d_model), ("heads", heads), ("expand_v", expand_v),
                            ("conv_size", conv_size), ("chunk", chunk)):
            check_int(name, value)
        if d_model % heads:
            raise ConfigError(f"heads must divide d_model ({d_model}), got {heads}")
        if not isinstance(negative_eigenvalues, bool):
            raise ConfigError(f"negative_eigenvalues must be true or false, got {negative_eigenvalues!r}")
        self.d_model, self.layer_idx, self.l_max, self.heads = d_model, layer_idx, l_max, heads
        self.conv_size, self.chunk, self.negative_eigenvalues = conv_size, chunk, negative_eigenvalues
        self.key = d_model // heads  # K, a head's key width
        self.value = expand_v * self.key  # V, a head's value width
        self.conv_width = heads * (2 * self.key + self.value)  # q, k, v channels, convolved
        # one map makes q, k, v, beta's logits and, gated, the decay's logits and the output gate
        extra = heads + (heads + heads * self.value if self.gated else 0)
        self.in_proj = nn.Linear(d_model, self.conv_width + extra, bias=False)
        self.conv = nn.Conv1d(self.conv_width, self.conv_width, conv_size, groups=self.conv_width, bias=False)
        self.norm = nn.RMSNorm(self.value, eps=1e-5)  # over each head's output, shared by the heads
        self.out_proj = nn.Linear(heads * self.value, d_model, bias=False)

    # the pieces the two forms share

    def split(self, u: torch.Tensor):
        """u `(B, L, D)` -> the convolution's input `(B, L, conv_width)`, beta `(B, H, L)`, the decay's log
        `(B, H, L)` or None, the output gate `(B, L, H, V)` or None."""
        x, b = self.in_proj(u).split([self.conv_width, self.heads], dim=-1)[:2]
        beta = torch.sigmoid(b).transpose(1, 2)
        return x, 2 * beta if self.negative_eigenvalues else beta, None, None

    def heads_of(self, x: torch.Tensor):
        """The convolved `(B, L, conv_width)` -> q, k `(B, H, L, K)` (L2-normalised), v `(B, H, L, V)`."""
        B, L, _ = x.shape
        q, k, v = x.split([self.heads * self.key, self.heads * self.key, self.heads * self.value], dim=-1)
        q, k = (l2_normalise(t.view(B, L, self.heads, self.key)).transpose(1, 2) for t in (q, k))
        return q, k, v.view(B, L, self.heads, self.value).transpose(1, 2)

    def output(self, o: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
        """o `(B, H, L, V)` -> `(B, L, D)`: each head normalised (and gated), the heads mapped back."""
        o = self.norm(o.transpose(1, 2))  # (B, L, H, V)
        if gate is not None:
            o = o * F.silu(gate)
        return self.out_proj(o.flatten(2))

    def start(self, u: torch.Tensor, state):
        """The convolution's past `(B, conv_size - 1, conv_width)` and S `(B, H, K, V)`: zeros, or the state's."""
        if state is not None:
            return state
        B = u.shape[0]
        return (u.new_zeros(B, self.conv_size - 1, self.conv_width),
                u.new_zeros(B, self.heads, self.key, self.value))

    # the two forms

    def forward(self, u: torch.Tensor, state=None):
        """The chunked form: u `(B, L, D)`, state None or `(conv past, S)`. Returns y `(B, L, D)` and the state."""
        past, S = self.start(u, state)
        x, beta, log_decay, gate = self.split(u)
        x, past = short_conv(x, self.conv.weight, None, past)  # (B, L, conv_width), its next past
        q, k, v = self.heads_of(F.silu(x))
        o, S = delta_rule_chunked(q, k, v, beta, log_decay, S, self.chunk)
        return self.output(o, gate), (past, S)

    def step_by_step(self, u: torch.Tensor, state=None):
        """The recurrent form, a step at a time (the reference, and for streaming); as `forward`."""
        past, S = self.start(u, state)
        x, beta, log_decay, gate = self.split(u)  # pointwise in time
        taps = self.conv.weight.squeeze(1).t()  # (conv_size, conv_width)
        convolved = []
        for x_t in x.split(1, dim=1):  # not x[:, t:t + 1]: its backward is quadratic in L
            window = torch.cat([past, x_t], dim=1)  # (B, conv_size, conv_width)
            convolved.append(F.silu((window * taps).sum(1)))
            past = window[:, 1:]
        x = torch.stack(convolved, dim=1) if convolved else x
        q, k, v = self.heads_of(x)
        o, S = delta_rule_steps(q, k, v, beta, log_decay, S)
        return self.output(o, gate), (past, S)

    def state_size(self, sequence_length: int) -> int:
        """The numbers the state carries: each head's (K, V) matrix, heads * K * V (zoology's count of a linear
        attention's state), and the short convolution's last conv_size - 1 inputs, conv_width each."""
        return self.heads * self.key * self.value + (self.conv_size - 1) * self.conv_width

    def flops(self, sequence_length: int) -> int:
        """Forward FLOPs of one sequence of L steps, chunked: the input map 2 L D (H (2 K + V) + H [+ H + H V
        gated]), the convolution 2 conv_size L H (2 K + V), the delta rule per head (`flops_per_head`:
        ceil(L / C) (C^2 (5 K + 3 V) + 6 C K V)), the output map 2 L H V D. Norms, SiLU, sigmoid and the
        L2 norms (a few per number) are left out."""
        L, D = sequence_length, self.d_model
        projections = 2 * L * D * (self.in_proj.out_features + self.heads * self.value)
        conv = 2 * self.conv_size * L * self.conv_width
        return projections + conv + self.heads * flops_per_head(L, self.key, self.value, self.chunk)
