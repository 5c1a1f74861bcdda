"""The head only where a task scores.

The field's layouts score a few positions (MQAR's queries, an induction head's last token, a selective copy's
answers; `IGNORE` elsewhere), and a head of many classes applied at every position made logits that no loss
read: at zoology's vocabulary of 8192, most of a GRU's update. A model whose `forward` takes `where` (a `(B, L)`
bool mask; every built-in model, through `OutputHead`) returns the logits at the marked positions alone,
`(N, classes)` in row-major order, and training and scoring ask for the scored positions. Loss, gradients and
scores are the full head's (tests/test_scored.py); a model whose forward takes no `where` runs whole, as before.
"""

from __future__ import annotations

import inspect

import torch

from seqmem.tasks.base import IGNORE, Batch

SPARSE = 0.5  # the head at the scored positions alone where at most this share of a batch's targets is scored


def scored_positions(batch: Batch) -> torch.Tensor | None:
    """The `(B, L)` mask of the targets that count, where at most SPARSE of a per-step batch's class targets do;
    None where most count (gathering would save little), the targets are per sequence or real numbers, or the
    batch holds no values to choose by (PyTorch's `meta` device)."""
    y = batch.y
    if y.dim() != 2 or y.is_floating_point() or y.device.type == "meta":
        return None
    where = y != IGNORE
    return where if where.sum() <= SPARSE * where.numel() else None


def takes_where(model: torch.nn.Module) -> bool:
    """Whether `model.forward` takes `where` by name (a subclass that rewrites `forward` without it runs whole)."""
    return "where" in inspect.signature(model.forward).parameters


def forward(model: torch.nn.Module, batch: Batch, state=None):
    """`(logits, where, state)`: the logits `(N, classes)` at the N positions the mask `where` marks, or, with
    `where` None, the model's whole `(B, L, classes)` (or `(B, classes)`)."""
    where = scored_positions(batch) if takes_where(model) else None
    if where is None:
        logits, state = model(batch.x, state, cond=batch.cond)
    else:
        logits, state = model(batch.x, state, cond=batch.cond, where=where)
    return logits, where, state
