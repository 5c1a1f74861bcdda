"""Turn a task's inputs into float features, and features into the task's logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.errors import ConfigError

ENCODERS = ("onehot", "embedding", "linear")


class InputEncoder(nn.Module):
    """Tokens -> one-hot or embedding; floats pass through. Output `(B, L, features)`.

    A task that tells the model a per-sequence value (`Batch.cond`, e.g. the delay to echo with) gets it
    one-hot encoded and appended to every step. `linear` maps that one-hot (or float) input through a
    learned layer of width `dim` (an input layer before the recurrence: token and condition embeddings summed).
    """

    def __init__(self, task, kind: str = "onehot", dim: int = 0, use_cond: bool = True):
        super().__init__()
        if kind not in ENCODERS:
            raise ConfigError(f"encoder must be one of {', '.join(ENCODERS)}, got {kind!r}")
        self.vocab_size, self.cond_size = task.vocab_size, task.cond_size if use_cond else None
        if task.vocab_size is None:
            self.embedding, features = None, task.input_channels
        elif kind == "onehot":
            self.embedding, features = None, task.vocab_size
        elif kind == "embedding":
            if dim < 1:
                raise ConfigError("encoder embedding needs --embedding-dim >= 1")
            self.embedding, features = nn.Embedding(task.vocab_size, dim), dim
        else:
            self.embedding, features = None, task.vocab_size or task.input_channels
        self.features = features + (self.cond_size or 0)
        self.linear = None
        if kind == "linear":
            if dim < 1:
                raise ConfigError("encoder linear needs --embedding-dim >= 1 (the width of the input layer)")
            self.linear, self.features = nn.Linear(self.features, dim), dim

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.vocab_size is not None:
            x = self.embedding(x) if self.embedding is not None else F.one_hot(x, self.vocab_size).float()
        if self.cond_size:
            if cond is None:
                raise ConfigError("this task conditions on a per-sequence value, but the batch has none")
            c = F.one_hot(cond, self.cond_size).float()
            x = torch.cat([x, c.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        return x if self.linear is None else self.linear(x)


class OutputHead(nn.Module):
    """A linear map to class logits at every step, or at the last step for sequence classification.

    With `cond_size`, one linear map per value of the per-sequence condition: reading "the letter d steps
    back" out of a state that holds the last few letters is then a choice of map, not something the
    recurrence must learn to compute from a condition mixed into its input.

    With `where` (a `(B, L)` bool mask), the logits at the marked positions only, `(N, classes)` in row-major
    order: where a task scores a few positions (`IGNORE` elsewhere), a head of many classes costs those alone.
    """

    def __init__(self, features: int, task, cond_size: int | None = None):
        super().__init__()
        self.per_step, self.classes, self.cond_size = task.per_step, task.num_classes, cond_size
        self.linear = nn.Linear(features, task.num_classes * (cond_size or 1))

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None = None,
                where: torch.Tensor | None = None) -> torch.Tensor:
        if where is not None:  # each position's row's condition goes with it
            h, cond = h[where], None if cond is None else cond.unsqueeze(1).expand(where.shape)[where]
        elif not self.per_step:
            h = h[:, -1]
        logits = self.linear(h)
        if not self.cond_size:
            return logits
        if cond is None:
            raise ConfigError("this model reads a per-sequence value (Batch.cond), but the batch has none")
        logits = logits.unflatten(-1, (self.cond_size, self.classes))
        index = cond.reshape(-1, *([1] * (logits.dim() - 1))).expand(*logits.shape[:-2], 1, self.classes)
        return logits.gather(-2, index).squeeze(-2)
