"""Classes that break the model contract, each in one way (tests/test_extending.py refuses them)."""

import math

import torch
from torch import nn


class WrongShape(nn.Module):
    """logits without the steps axis"""

    receptive_field = math.inf

    def __init__(self, task, hidden: int = 8):
        super().__init__()
        self.head = nn.Linear(1, task.num_classes)

    def forward(self, x, state=None, cond=None):
        return self.head(x[:, :1].float().reshape(len(x), 1)), None


class NoReceptiveField(nn.Module):
    """forgets to say how far back it sees"""

    def __init__(self, task):
        super().__init__()
        self.head = nn.Embedding(task.vocab_size, task.num_classes)

    def forward(self, x, state=None, cond=None):
        return self.head(x), None


class Raises(nn.Module):
    """a constructor that fails"""

    receptive_field = 1

    def __init__(self, task, width: int = 4):
        super().__init__()
        raise ValueError(f"width {width} is not supported")


class Peeks(nn.Module):
    """reads the next step: not causal"""

    receptive_field = math.inf

    def __init__(self, task):
        super().__init__()
        self.head = nn.Embedding(task.vocab_size, task.num_classes)

    def forward(self, x, state=None, cond=None):
        return self.head(torch.roll(x, -1, dims=1)), None


not_a_class = 3
