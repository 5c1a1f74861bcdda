"""A model file that changes process-wide PyTorch settings when imported (tests/test_faults.py)."""

import math

import torch
from torch import nn

torch.set_num_threads(3)
torch.set_default_dtype(torch.float64)


class Net(nn.Module):
    """an embedding and a head: sound, but its file sets threads and the default dtype"""

    receptive_field = math.inf

    def __init__(self, task, hidden: int = 4):
        super().__init__()
        self.embed = nn.Embedding(task.vocab_size, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, task.num_classes)

    def forward(self, x, state=None, cond=None):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state
