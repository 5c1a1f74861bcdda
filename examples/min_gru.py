"""A minimal GRU (Feng et al. 2024, "Were RNNs All We Needed?"), written only against seqmem's model
contract (docs/extending.md): it imports nothing from seqmem.

    seqmem check examples/min_gru.py:MinGRU
    seqmem train echo-letters --model examples/min_gru.py:MinGRU --hidden 64 --steps 300
"""

import math

import torch
from torch import nn


class MinGRU(nn.Module):
    """minGRU: the gate and the candidate read only the input, h_t = (1 - z_t) h_{t-1} + z_t h~_t.

    Args:
        hidden: units of the state (and of the embedding)
    """

    receptive_field = math.inf  # a recurrent model sees all the way back

    def __init__(self, task, hidden: int = 64):
        super().__init__()
        self.tokens = task.vocab_size  # token inputs (B, L), or None for float inputs (B, L, C)
        inputs = task.vocab_size or task.input_channels
        self.embed = nn.Embedding(inputs, hidden) if self.tokens else nn.Linear(inputs, hidden)
        self.gate, self.candidate = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.mix = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU())  # between steps and head
        self.head = nn.Linear(hidden, task.num_classes)
        self.per_step, self.state_size = task.per_step, hidden

    def forward(self, x, state=None, cond=None):
        u = self.embed(x)  # (B, L, H)
        z, candidate = torch.sigmoid(self.gate(u)), self.candidate(u)  # each (B, L, H)
        h = torch.zeros_like(u[:, 0]) if state is None else state  # (B, H)
        out = []
        for t in range(u.shape[1]):
            h = (1 - z[:, t]) * h + z[:, t] * candidate[:, t]
            out.append(h)
        y = self.mix(torch.stack(out, dim=1))  # (B, L, H)
        logits = self.head(y if self.per_step else y[:, -1])  # (B, L, classes) or (B, classes)
        return logits, h
