"""Scores at other lengths than training: a task's `eval_lengths` setting and its fresh test sets at each.

A task that takes `eval_lengths` (a comma list such as "256,1024,65536") is scored after training on a
fresh test set at each listed length, drawn from its own seed (`data_seed`, the length, the block), in
blocks of rows small enough that a block of a long length stays a few million tokens; the model reads
each block in chunks through its state where it carries one (seqmem.training.metrics.evaluate_lengths),
so L=65536 costs the state's memory, not the length's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from seqmem.errors import ConfigError
from seqmem.tasks.base import Batch, generator_for

BLOCK_TOKENS = 2**21  # tokens a block of rows at one length holds at most (x, y and recall: ~40 MB)
LENGTH_STREAM = 3  # the seed key of these test sets, apart from test (0), train (1) and validation (2)


def parse_lengths(text: str, minimum: int) -> tuple[int, ...]:
    """The lengths of an `eval_lengths` setting: comma-separated integers >= `minimum`, in order, no repeats."""
    if not isinstance(text, str):
        raise ConfigError(f"eval_lengths must be a comma list of lengths such as '256,1024', got {text!r}")
    lengths = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not part.isdigit() or int(part) < minimum:
            raise ConfigError(f"eval_lengths must list integers >= {minimum} separated by commas, got {part!r} "
                              f"in {text!r}")
        if int(part) not in lengths:
            lengths.append(int(part))
    return tuple(lengths)


def length_blocks(draw: Callable[[int, int, torch.Generator], Batch], rows: int, length: int,
                  data_seed: int) -> Iterator[Batch]:
    """`rows` fresh sequences of `length` steps in blocks, block i drawn from seed (data_seed, 3, length, i):
    the same sequences whatever the batch size of evaluation."""
    per_block = max(1, min(rows, BLOCK_TOKENS // length))
    for index, first in enumerate(range(0, rows, per_block)):
        n = min(per_block, rows - first)
        yield draw(n, length, generator_for(data_seed, LENGTH_STREAM, length, index))
