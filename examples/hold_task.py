"""A minimal task, written against seqmem's task contract (docs/extending.md): hold one symbol for
`length` steps. The first step shows a symbol, every later step a blank, and the target at every step is
that symbol, so every target past the first needs memory of exactly its distance.

    seqmem check examples/hold_task.py:Hold
    seqmem train examples/hold_task.py:Hold --length 20 --model gru --hidden 32 --steps 200
"""

import math

import torch

from seqmem import Baseline, Batch, SampledTask


class Hold(SampledTask):
    """hold the first symbol for `length` steps (a memory-length probe)

    Args:
        length: steps to hold the symbol (the memory asked for)
        symbols: distinct symbols to hold
        test_size: sequences in the fixed test set
        validation_size: sequences in the fixed validation set
        data_seed: seed of the fixed validation and test sets
    """

    per_step = True

    def __init__(self, length: int = 20, symbols: int = 8, test_size: int = 500, validation_size: int = 500,
                 data_seed: int = 0):
        self.length, self.symbols = length, symbols
        self.vocab_size, self.num_classes, self.span = symbols + 1, symbols, length  # token `symbols` is the blank
        super().__init__(test_size, validation_size, data_seed)  # draws the fixed validation and test sets

    def params(self) -> dict:  # what rebuilds this task, recorded in config.json
        return {"length": self.length, "symbols": self.symbols, "test_size": self.test_size,
                "validation_size": self.validation_size, "data_seed": self.data_seed}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        first = torch.randint(0, self.symbols, (n, 1), generator=generator)  # (n, 1)
        x = torch.cat([first, torch.full((n, self.length - 1), self.symbols)], dim=1)  # (n, L)
        recall = torch.ones(n, self.length, dtype=torch.bool)
        recall[:, 0] = False  # the first answer is in sight
        return Batch(x, first.expand(-1, self.length), recall)

    def baseline(self) -> Baseline:
        """A model that sees only the current step answers the first step and guesses the rest."""
        K, L = self.symbols, self.length
        return Baseline(loss=(L - 1) / L * math.log(K), accuracy=(1 + (L - 1) / K) / L, recall_accuracy=1 / K,
                        sequence_accuracy=1 / K)
