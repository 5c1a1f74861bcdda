"""Scores that cannot flatter a model that remembers nothing: recall accuracy beside overall accuracy.

Overall accuracy counts every target; recall accuracy counts only the targets that need memory
(`Batch.recall`); sequence accuracy counts sequences whose every recall target is right. Targets marked
`IGNORE` count nowhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from seqmem.tasks.base import IGNORE, Batch
from seqmem.training.device import model_device, to_device
from seqmem.training.scored import forward


@dataclass
class Scores:
    loss: float
    accuracy: float
    recall_accuracy: float
    sequence_accuracy: float

    def as_dict(self) -> dict:
        return asdict(self)


class Tally:
    """Sums over batches, so a score over many batches weighs every prediction once. For a regression target
    (a float `y`) the loss is the squared error and a prediction is right within `tolerance`."""

    def __init__(self, tolerance: float | None = None):
        self.tolerance = tolerance
        self.loss = 0.0
        self.targets = self.correct = self.recalls = self.recall_correct = 0
        self.sequences = self.sequence_correct = 0

    def add(self, logits: torch.Tensor, batch: Batch, whole: bool = True,
            where: torch.Tensor | None = None) -> torch.Tensor:
        """Count a batch's targets; `whole=False` for a chunk of longer sequences, whose rows are counted as
        sequences by `add_sequences` after their last chunk; `where` with logits at the positions it marks alone
        (seqmem/training/scored.py), the rest counted wrong as an IGNORE target is. Returns which rows had every
        recall target right."""
        y, recall = batch.y, batch.recall
        if y.is_floating_point():
            prediction = logits.reshape(y.shape)
            self.loss += F.mse_loss(prediction, y, reduction="sum").item()
            right = (prediction - y).abs() < self.tolerance
        else:
            targets = y if where is None else y[where]
            flat = logits.reshape(-1, logits.shape[-1])
            self.loss += F.cross_entropy(flat, targets.reshape(-1), reduction="sum").item()  # IGNORE targets add 0
            if where is None:
                right = logits.argmax(-1) == y
            else:
                right = torch.zeros_like(where)
                right[where] = logits.argmax(-1) == targets
        scored = y != IGNORE
        self.targets += scored.sum().item()
        self.correct += (right & scored).sum().item()
        self.recalls += recall.sum().item()
        self.recall_correct += (right & recall).sum().item()
        per_sequence = (right | ~recall).reshape(y.shape[0], -1).all(dim=1)
        if whole:
            self.add_sequences(per_sequence)
        return per_sequence

    def add_sequences(self, right: torch.Tensor) -> None:
        """Count sequences `(B,)` whose every recall target was right (after their last chunk)."""
        self.sequences += right.shape[0]
        self.sequence_correct += right.sum().item()

    def scores(self) -> Scores:
        return Scores(
            loss=self.loss / max(self.targets, 1),
            accuracy=self.correct / max(self.targets, 1),
            recall_accuracy=self.recall_correct / max(self.recalls, 1),
            sequence_accuracy=self.sequence_correct / max(self.sequences, 1),
        )


@torch.no_grad()
def evaluate(model: torch.nn.Module, task, split: str = "test", batch_size: int = 500) -> Scores:
    """Score `model` on every sequence of a fixed split, each batch moved to the model's device."""
    was_training = model.training
    model.eval()
    tally = Tally(getattr(task, "tolerance", None))
    device = model_device(model)
    for batch in task.batches(split, batch_size):
        batch = to_device(batch, device)
        logits, where, _ = forward(model, batch)
        tally.add(logits, batch, where=where)
    model.train(was_training)
    return tally.scores()


STREAM_CHUNK = 1024  # steps a forward reads at a time when scoring long sequences through the state
WHOLE_PAIRS = 2**24  # (step, step) pairs a forward of a model that keeps no state reads at most: its rows


@torch.no_grad()
def evaluate_streamed(model: torch.nn.Module, blocks, tolerance: float | None = None,
                      chunk: int = STREAM_CHUNK) -> Scores:
    """Score `model` on blocks of per-step sequences, each read in chunks of `chunk` steps with the state
    carried from chunk to chunk, so memory is the state's and a chunk's: flat in the length for a recurrent
    state, growing with it for attention's (its KV cache, and a chunk's scores against it). A model that keeps
    no state (its forward returns None for it) reads whole sequences, as few rows at a time as keep length x
    length x rows within WHOLE_PAIRS (softmax attention's scores grow with the square)."""
    was_training = model.training
    model.eval()
    tally = Tally(tolerance)
    device = model_device(model)
    for block in blocks:
        block = to_device(block, device)
        length = block.x.shape[1]
        if length <= chunk or not carries_state(model, block, chunk):
            rows = max(1, WHOLE_PAIRS // (length * length))
            for first in range(0, len(block), rows):
                part = block.select(torch.arange(first, min(first + rows, len(block)), device=device))
                logits, where, _ = forward(model, part)
                tally.add(logits, part, where=where)
            continue
        right, state = None, None
        for start in range(0, length, chunk):
            piece = block.time_slice(start, start + chunk)
            logits, where, state = forward(model, piece, state)
            ok = tally.add(logits, piece, whole=False, where=where)
            right = ok if right is None else right & ok
        tally.add_sequences(right)
    model.train(was_training)
    return tally.scores()


def carries_state(model: torch.nn.Module, block: Batch, chunk: int) -> bool:
    """Whether the model hands back a state to continue from: one row's first chunk, read to find out."""
    _, state = model(block.x[:1, :chunk], cond=None if block.cond is None else block.cond[:1])
    return state is not None


def evaluate_lengths(model: torch.nn.Module, task, lengths) -> dict:
    """The test scores at each of `lengths` (fresh test sets, `task.test_at(length)`), keyed by the length,
    with the memoryless baseline at that length beside them (`task.baseline_at(length)`)."""
    scores = {}
    for length in lengths:
        scores[str(length)] = evaluate_streamed(model, task.test_at(length), getattr(task, "tolerance", None)).as_dict()
        scores[str(length)]["baseline"] = task.baseline_at(length).as_dict()
    return scores
