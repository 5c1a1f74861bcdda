"""Copy memory: see a few symbols, wait `blank` steps, then reproduce them after a marker.

Two layouts, both of length `blank + 2 * recall_length`:
- *digits* (locuslab/TCN): one float channel `[digits 1..K, blank-1 zeros, recall_length+1 markers K+1]`,
  target `[blank+recall_length zeros, the digits]`;
- *symbols*: tokens `[symbols 0..K-1, blank-1 blanks K, marker K+1, recall_length blanks K]`,
  target `[blank+recall_length blanks K, the symbols]`.
"""

from __future__ import annotations

import math

import torch

from seqmem.config.settings import check_int, parameter_defaults
from seqmem.errors import ConfigError
from seqmem.tasks import register_task
from seqmem.tasks.base import Baseline, Batch, Task, check_choice, generator_for


@register_task("copy-memory")
class CopyMemory(Task):
    """Copy memory: see a few symbols, wait, reproduce them after a marker.

    Args:
        blank: empty steps between the symbols and the recall (the delay to remember across)
        recall_length: symbols to remember and reproduce
        alphabet: distinct symbols
        convention: layout: digits (locuslab/TCN's, one float channel) or symbols (tokens)
        data: training sequences: fresh (new ones every batch) or fixed (train_size drawn once)
        train_size: sequences in the fixed training set (with data fixed)
        test_size: sequences in the fixed test set
        data_seed: seed of the fixed data sets (validation, test, and a fixed training set)
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
    """

    summary = "reproduce recall_length symbols after `blank` empty steps (locuslab digits or symbol tokens)"

    def __init__(
        self,
        blank: int = 1000,
        recall_length: int = 10,
        alphabet: int = 8,
        convention: str = "digits",
        data: str = "fresh",
        train_size: int = 10000,
        test_size: int = 1000,
        data_seed: int = 0,
        validation_size: int = 1000,
    ):
        self.blank = check_int("blank", blank)
        self.recall_length = check_int("recall_length", recall_length)
        self.alphabet = check_int("alphabet", alphabet, 2)
        self.convention = check_choice("convention", convention, ("digits", "symbols"))
        self.data = check_choice("data", data, ("fresh", "fixed"))
        self.train_size = check_int("train_size", train_size)
        self.test_size = check_int("test_size", test_size)
        self.validation_size = check_int("validation_size", validation_size)
        self.data_seed = check_int("data_seed", data_seed, 0)
        self.num_classes = alphabet + 2
        self.span = blank + 2 * recall_length
        if convention == "digits":
            self.input_channels, self.vocab_size = 1, None
            self.blank_token, self.marker, self.first_symbol = 0, alphabet + 1, 1
        else:
            self.input_channels, self.vocab_size = None, alphabet + 2
            self.blank_token, self.marker, self.first_symbol = alphabet, alphabet + 1, 0
        # Fixed sets hold only the symbols to recall; sequences are laid out on demand (T=10000 would
        # otherwise cost 400 MB for 10000 float rows).
        self.fixed = {"test": self._draw(test_size, generator_for(data_seed, 0)),
                      "validation": self._draw(validation_size, generator_for(data_seed, 2))}
        if data == "fixed":
            self.fixed["train"] = self._draw(train_size, generator_for(data_seed, 1))

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        rows = p["test_size"] + p["validation_size"] + (p["train_size"] if p["data"] == "fixed" else 0)
        return 8 * rows * p["recall_length"]

    def params(self) -> dict:
        return {name: getattr(self, name) for name in
                ("blank", "recall_length", "alphabet", "convention", "data", "train_size", "test_size",
                 "data_seed", "validation_size")}

    def size(self, split: str) -> int | None:
        if split not in ("train", "validation", "test"):
            raise ConfigError(f"split must be train, validation or test, got {split!r}")
        return len(self.fixed[split]) if split in self.fixed else None

    def _draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        first = self.first_symbol
        return torch.randint(first, first + self.alphabet, (n, self.recall_length), generator=generator)

    def layout(self, symbols: torch.Tensor) -> Batch:
        """The input and target sequences for rows of symbols to recall."""
        n, r, t = symbols.shape[0], self.recall_length, self.blank
        x = torch.full((n, self.span), self.blank_token, dtype=torch.long)
        x[:, :r] = symbols
        if self.convention == "digits":
            x[:, t + r - 1 :] = self.marker
        else:
            x[:, t + r - 1] = self.marker
        y = torch.full((n, self.span), self.blank_token, dtype=torch.long)
        y[:, t + r :] = symbols
        recall = torch.zeros((n, self.span), dtype=torch.bool)
        recall[:, t + r :] = True
        if self.convention == "digits":
            x = x.unsqueeze(-1).float()
        return Batch(x, y, recall)

    def get(self, split: str, index: torch.Tensor) -> Batch:
        return self.layout(self.fixed[split][index])

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self.layout(self._draw(batch_size, generator))

    def show(self, token: int) -> str:
        """Symbols as their digits, the blank `_`, the marker `:`."""
        return {self.blank_token: "_", self.marker: ":"}.get(token, str(token))

    def baseline(self) -> Baseline:
        """Blank with certainty until the recall, then a uniform guess: loss R ln K / (T + 2R)."""
        r, k = self.recall_length, self.alphabet
        return Baseline(
            loss=r * math.log(k) / self.span,
            accuracy=(self.span - r + r / k) / self.span,
            recall_accuracy=1 / k,
            sequence_accuracy=k ** -r,
        )
