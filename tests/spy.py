"""An echo-letters model that records what `probe()` says each time it runs: the state of PyTorch's process-wide
settings (threads, denormal flushing) that seqmem sets while it trains or predicts."""

import torch


class Spy(torch.nn.Module):
    receptive_field = 1

    def __init__(self, task, probe):
        super().__init__()
        self.head, self.probe, self.seen = torch.nn.Embedding(task.vocab_size, task.num_classes), probe, set()

    def forward(self, x, state=None, cond=None):
        self.seen.add(self.probe())
        return self.head(x), None
