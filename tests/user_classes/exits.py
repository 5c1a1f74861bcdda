"""Models that exit the process instead of raising (tests/test_faults.py names each in one line)."""

import math
import sys

from torch import nn


class Tiny(nn.Module):
    """a GRU of 8 that is otherwise sound"""

    receptive_field = math.inf

    def __init__(self, task, hidden: int = 8):
        super().__init__()
        inputs = task.vocab_size or task.input_channels
        self.embed = nn.Embedding(inputs, hidden) if task.vocab_size else nn.Linear(inputs, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, task.num_classes)
        self.calls = 0

    def forward(self, x, state=None, cond=None):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


class ExitsInConstructor(Tiny):
    def __init__(self, task, hidden: int = 8):
        super().__init__(task, hidden)
        sys.exit(0)


class ExitsInForward(Tiny):
    def forward(self, x, state=None, cond=None):
        exit()


class ExitsWhileTraining(Tiny):
    """exits with status 5 on its fourth training call (after the build's checks)"""

    def forward(self, x, state=None, cond=None):
        if self.training:
            self.calls += 1
            if self.calls > 3:
                sys.exit(5)
        return super().forward(x, state, cond)
