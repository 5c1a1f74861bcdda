"""Content-dependent recall: what a fixed delay does not test, because where to look depends on the input.

- `selective-copy` (the Mamba paper's task): `recall_length` symbols scattered at random places among
  `blank` empty steps; after a marker, reproduce them in order.
- `associative-recall` (multi-query associative recall, as in zoology): `pairs` key-value pairs, then
  `queries` keys seen among them; at each query the answer is that key's value.

Targets elsewhere are the blank, which a memoryless model predicts with certainty; the recall mask marks
the answers, which a memoryless model can only guess.
"""

from __future__ import annotations

import math

import torch

from seqmem.errors import ConfigError
from seqmem.params import check_int, parameter_defaults
from seqmem.tasks import register_task
from seqmem.tasks.base import Baseline, Batch, SampledTask


def guess_baseline(span: int, answers: int, choices: int) -> Baseline:
    """Blank with certainty off the answers; a uniform guess among `choices` at each of `answers` steps."""
    return Baseline(loss=answers * math.log(choices) / span, accuracy=(span - answers + answers / choices) / span,
                    recall_accuracy=1 / choices, sequence_accuracy=choices ** -answers)


@register_task("selective-copy")
class SelectiveCopy(SampledTask):
    summary = "reproduce recall_length symbols scattered among `blank` empty steps, in order, after a marker"

    def __init__(self, blank: int = 64, recall_length: int = 8, alphabet: int = 8, test_size: int = 1000,
                 validation_size: int = 1000, data_seed: int = 0):
        self.blank = check_int("blank", blank)
        self.recall_length = check_int("recall_length", recall_length)
        self.alphabet = check_int("alphabet", alphabet, 2)
        if recall_length > blank:
            raise ConfigError(f"recall_length ({recall_length}) must be at most blank ({blank}): raise --blank")
        self.vocab_size = self.num_classes = alphabet + 2  # symbols, blank, marker
        self.blank_token, self.marker = alphabet, alphabet + 1
        self.span = blank + 1 + recall_length
        super().__init__(test_size, validation_size, data_seed)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        return 8 * 3 * (p["test_size"] + p["validation_size"]) * (p["blank"] + 1 + p["recall_length"])

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("blank", "recall_length", "alphabet", "test_size", "validation_size",
                                               "data_seed")}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        r, t = self.recall_length, self.blank
        symbols = torch.randint(0, self.alphabet, (n, r), generator=generator)  # (n, R)
        places = torch.rand(n, t, generator=generator).argsort(dim=1)[:, :r].sort(dim=1).values  # (n, R), in order
        x = torch.full((n, self.span), self.blank_token, dtype=torch.long)
        x.scatter_(1, places, symbols)
        x[:, t] = self.marker
        y = torch.full_like(x, self.blank_token)
        y[:, t + 1:] = symbols
        recall = torch.zeros_like(x, dtype=torch.bool)
        recall[:, t + 1:] = True
        return Batch(x, y, recall)

    def baseline(self) -> Baseline:
        return guess_baseline(self.span, self.recall_length, self.alphabet)


@register_task("associative-recall")
class AssociativeRecall(SampledTask):
    summary = "key-value pairs, then queries of seen keys: answer each with its value (multi-query recall)"

    def __init__(self, pairs: int = 8, queries: int = 8, keys: int = 64, values: int = 64, test_size: int = 1000,
                 validation_size: int = 1000, data_seed: int = 0):
        self.pairs, self.queries = check_int("pairs", pairs), check_int("queries", queries)
        self.keys, self.values = check_int("keys", keys, 2), check_int("values", values, 2)
        if pairs > keys:
            raise ConfigError(f"pairs ({pairs}) must be at most keys ({keys}): each pair has its own key")
        self.blank_token = keys + values
        self.vocab_size = self.num_classes = keys + values + 1  # keys, values, blank
        self.span = 2 * pairs + queries
        super().__init__(test_size, validation_size, data_seed)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        return 8 * 3 * (p["test_size"] + p["validation_size"]) * (2 * p["pairs"] + p["queries"])

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("pairs", "queries", "keys", "values", "test_size", "validation_size",
                                               "data_seed")}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        p, q = self.pairs, self.queries
        keys = torch.rand(n, self.keys, generator=generator).argsort(dim=1)[:, :p]  # (n, P) distinct keys
        values = self.keys + torch.randint(0, self.values, (n, p), generator=generator)  # (n, P)
        asked = torch.randint(0, p, (n, q), generator=generator)  # (n, Q): which pair each query asks for
        x = torch.cat([torch.stack([keys, values], dim=2).reshape(n, 2 * p), keys.gather(1, asked)], dim=1)
        y = torch.full_like(x, self.blank_token)
        y[:, 2 * p:] = values.gather(1, asked)
        recall = torch.zeros_like(x, dtype=torch.bool)
        recall[:, 2 * p:] = True
        return Batch(x, y, recall)

    def baseline(self) -> Baseline:
        return guess_baseline(self.span, self.queries, self.values)
