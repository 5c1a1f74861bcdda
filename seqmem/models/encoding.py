"""Turn a task's inputs into float features, and features into the task's logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.errors import ConfigError


class InputEncoder(nn.Module):
    """Tokens -> one-hot or embedding; floats pass through. Output `(B, L, features)`.

    A task that tells the model a per-sequence value (`Batch.cond`, e.g. the delay to echo with) gets it
    one-hot encoded and appended to every step.
    """

    def __init__(self, task, kind: str = "onehot", dim: int = 0):
        super().__init__()
        self.vocab_size, self.cond_size = task.vocab_size, task.cond_size
        if task.vocab_size is None:
            self.embedding, features = None, task.input_channels
        elif kind == "onehot":
            self.embedding, features = None, task.vocab_size
        elif kind == "embedding":
            if dim < 1:
                raise ConfigError("encoder embedding needs --embedding-dim >= 1")
            self.embedding, features = nn.Embedding(task.vocab_size, dim), dim
        else:
            raise ConfigError(f"encoder must be onehot or embedding, got {kind!r}")
        self.features = features + (task.cond_size or 0)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.vocab_size is not None:
            x = self.embedding(x) if self.embedding is not None else F.one_hot(x, self.vocab_size).float()
        if self.cond_size:
            if cond is None:
                raise ConfigError("this task conditions on a per-sequence value, but the batch has none")
            c = F.one_hot(cond, self.cond_size).float()
            x = torch.cat([x, c.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        return x


class OutputHead(nn.Module):
    """A linear map to class logits at every step, or at the last step for sequence classification."""

    def __init__(self, features: int, task):
        super().__init__()
        self.per_step = task.per_step
        self.linear = nn.Linear(features, task.num_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h if self.per_step else h[:, -1])
