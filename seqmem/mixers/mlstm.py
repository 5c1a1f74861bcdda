"""The mLSTM block as a sequence mixer (Beck et al. 2024, "xLSTM", arXiv 2405.04517; NX-AI/xlstm
`xlstm/blocks/mlstm/layer.py` and `cell.py`), its matrix memory the stabilised recurrence of
seqmem/kernels/mlstm.py.

What is kept of the block's frame, as xlstm's layer has it: the input projected up to two branches of
`proj_factor` d_model; on the first, a short causal depthwise convolution (`conv_size` taps) and SiLU, from
which the queries and keys are made, the values from the branch before the convolution, each by a block-diagonal
map of `qkv_blocksize` blocks (xlstm's LinearHeadwiseExpand); the input and forget gates' pre-activations a linear
map of the queries, keys and values together, a gate a head (the forget gate's bias spread over 3..6 and both
gates' weights zero at the start, as xlstm initialises them); the memory's output normalised a head (a LayerNorm
with a weight and no bias), plus a learnable skip times the convolution's output, times SiLU of the second
branch (the output gate); the projection down to d_model. Left out: dropout (the backbone has its own), biases
on the projections (xlstm's default is none too), xlstm's initialisations of the up and down maps (PyTorch's
defaults here), and the paper's alternative exponential forget gate (xlstm's code uses the sigmoid one).

The state is the convolution's last `conv_size - 1` inputs and the memory's (C, n, m) a head; `state_size`
counts them: heads x (K x V + K + 1) + (conv_size - 1) x inner width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.kernels.causal_conv import depthwise_causal_conv
from seqmem.kernels.mlstm import mlstm_chunked, mlstm_chunked_flops, mlstm_step_by_step
from seqmem.models import register_model


class BlockDiagonal(nn.Module):
    """A linear map by square blocks along the channels, no bias (xlstm's LinearHeadwiseExpand, expansion 1)."""

    def __init__(self, width: int, block: int, std: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(width // block, block, block) * std)  # (blocks, in, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, W) -> (B, L, W)
        """As a grouped 1x1 convolution, a group a block: twice as fast here as the einsum by blocks (a batched
        matmul of 4-wide matrices), its backward included."""
        blocks, block, _ = self.weight.shape
        taps = self.weight.transpose(1, 2).reshape(blocks * block, block, 1)  # (out, in a group, 1)
        return F.conv1d(x.transpose(1, 2), taps, groups=blocks).transpose(1, 2)


@register_model("mlstm")
class MLSTM(nn.Module):
    """The xLSTM's mLSTM block: a matrix memory with exponential input gates, stabilised, in pre-up-projection form

    Args:
        heads: memory heads; divides the inner width (d_model x proj_factor)
        proj_factor: inner width as a multiple of d_model (xlstm's 2)
        conv_size: taps of the causal depthwise convolution the queries and keys are made from
        qkv_blocksize: width of the square blocks of the query, key and value maps; divides the inner width
        chunk: steps a chunk in the chunkwise-parallel form
    """

    # the same line as a plain attribute: the registry reads the docstring from source only where it can read
    # every base, and nn.Module it cannot; so `seqmem models` lists this one without importing PyTorch
    summary = "The xLSTM's mLSTM block: a matrix memory with exponential input gates, stabilised, in pre-up-projection form"

    def __init__(self, d_model: int, layer_idx: int = 0, l_max: int = 2048, heads: int = 4, proj_factor: float = 2.0,
                 conv_size: int = 4, qkv_blocksize: int = 4, chunk: int = 64):
        super().__init__()
        check_int("d_model", d_model)
        check_int("heads", heads)
        check_int("conv_size", conv_size)
        check_int("qkv_blocksize", qkv_blocksize)
        check_int("chunk", chunk)
        if isinstance(proj_factor, bool) or not isinstance(proj_factor, int | float) or not 0 < proj_factor < math.inf:
            raise ConfigError(f"proj_factor must be a finite number > 0, got {proj_factor!r}")
        inner = round(d_model * proj_factor)
        if inner < heads or inner % heads:
            raise ConfigError(f"heads must divide the inner width d_model x proj_factor ({inner}), got {heads}")
        if inner % qkv_blocksize:
            raise ConfigError(f"qkv_blocksize must divide the inner width d_model x proj_factor ({inner}), "
                              f"got {qkv_blocksize}")
        self.d_model, self.layer_idx, self.heads, self.inner = d_model, layer_idx, heads, inner
        self.conv_size, self.chunk = conv_size, chunk
        small = math.sqrt(2 / (5 * d_model))  # xlstm's small_init std for the q, k, v maps
        self.up = nn.Linear(d_model, 2 * inner, bias=False)
        self.conv = nn.Conv1d(inner, inner, conv_size, groups=inner)  # depthwise, made causal by left context
        self.q_map, self.k_map, self.v_map = (BlockDiagonal(inner, qkv_blocksize, small) for _ in range(3))
        self.input_gate = nn.Linear(3 * inner, heads)
        self.forget_gate = nn.Linear(3 * inner, heads)
        with torch.no_grad():
            self.input_gate.weight.zero_()
            self.input_gate.bias.normal_(0.0, 0.1)
            self.forget_gate.weight.zero_()
            self.forget_gate.bias.copy_(torch.linspace(3.0, 6.0, heads))
        self.norm_weight = nn.Parameter(torch.ones(inner))
        self.skip = nn.Parameter(torch.ones(inner))
        self.down = nn.Linear(inner, d_model, bias=False)

    def run(self, u: torch.Tensor, state, memory, convolve):
        """The block around the memory: `convolve(padded)` the short convolution, `memory(q, k, v, log_i, log_f,
        state)` the recurrence (chunked or a step at a time)."""
        B, L, _ = u.shape
        H = self.heads
        conv_state, memory_state = (None, None) if state is None else (state[0], state[1:])
        x, z = self.up(u).chunk(2, dim=-1)  # (B, L, I) each
        past = x.new_zeros(B, self.conv_size - 1, self.inner) if conv_state is None else conv_state  # (B, K-1, I)
        padded = torch.cat([past, x], dim=1)  # (B, K-1+L, I)
        x_conv = F.silu(convolve(padded))  # (B, L, I)
        q, k, v = self.q_map(x_conv), self.k_map(x_conv), self.v_map(x)  # (B, L, I) each
        gates_in = torch.cat([q, k, v], dim=-1)  # (B, L, 3 I)
        log_i = self.input_gate(gates_in).transpose(1, 2)  # (B, H, L)
        log_f = F.logsigmoid(self.forget_gate(gates_in)).transpose(1, 2)  # (B, H, L)

        def heads(t):
            return t.view(B, L, H, -1).transpose(1, 2)  # (B, H, L, I / H)

        E = self.inner // H
        h, memory_state = memory(heads(q), heads(k) / math.sqrt(E), heads(v), log_i, log_f, memory_state)
        h = F.layer_norm(h, (E,), eps=1e-5) * self.norm_weight.view(H, 1, E)  # (B, H, L, E)
        h = h.transpose(1, 2).reshape(B, L, self.inner) + self.skip * x_conv
        y = self.down(h * F.silu(z))  # (B, L, D)
        return y, (padded[:, padded.shape[1] - (self.conv_size - 1):], *memory_state)

    def forward(self, u: torch.Tensor, state=None):
        """The chunkwise-parallel form. u `(B, L, D)`; state None or (conv inputs `(B, conv_size - 1, I)`, C, n,
        m). Returns y `(B, L, D)` and the state after the chunk."""
        def memory(*args):
            return mlstm_chunked(*args, chunk=self.chunk)

        def convolve(padded):
            return depthwise_causal_conv(padded, self.conv.weight, self.conv.bias)

        return self.run(u, state, memory, convolve)

    def step_by_step(self, u: torch.Tensor, state=None):
        """A step at a time: the convolution as each step's window of inputs times the taps, the memory by its
        recurrence. Same state as `forward`."""
        def convolve(padded):  # (B, K-1+L, I) -> (B, L, I)
            windows = padded.unfold(1, self.conv_size, 1)  # (B, L, I, K)
            return (windows * self.conv.weight.squeeze(1)).sum(-1) + self.conv.bias

        return self.run(u, state, mlstm_step_by_step, convolve)

    def state_size(self, sequence_length: int) -> int:
        """The numbers carried: a head's C (E x E), n (E) and m (1), and the convolution's last inputs."""
        E = self.inner // self.heads
        return self.heads * (E * E + E + 1) + (self.conv_size - 1) * self.inner

    def flops(self, sequence_length: int) -> int:
        """Forward FLOPs of one sequence in the chunked form: the up and down maps 2 L D 3 W, the convolution
        2 L W conv_size, the q, k, v maps 3 x 2 L W b (W the inner width, b the block), the gates 2 L 3 W 2 H, and the memory's
        (`mlstm_chunked_flops`: 2 T T (2 E + 1) + 4 T E (E + 1) a chunk of T steps and a head of width E)."""
        L, D, W, H = sequence_length, self.d_model, self.inner, self.heads
        b = self.q_map.weight.shape[-1]
        maps = 2 * L * D * 3 * W + 2 * L * W * self.conv_size + 6 * L * W * b + 12 * L * W * H
        return maps + mlstm_chunked_flops(L, H, W // H, W // H, self.chunk)
