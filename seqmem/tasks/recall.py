"""Content-dependent recall: what a fixed delay does not test, because where to look depends on the input.

- `selective-copy` (the Mamba paper's task): `recall_length` symbols scattered among blank steps, to be
  reproduced in order: in layout `compact` (the default) at random places among `blank` steps, answered
  after one marker with blank inputs; in layout `s4` (the S4 repository's generator) answered at marker
  steps; in layout `mad` (mad-lab's) the last symbol next to the copy token.
- `associative-recall` (multi-query associative recall): in layout `compact` (the default), `pairs`
  key-value pairs, then `queries` keys seen among them (asked with replacement), each answered with its
  value; in layout `zoology`, zoology's MQAR: a sequence of `length` tokens from a vocabulary of `vocab`,
  every key asked once at power-law gaps after the pairs, distinct values, random tokens between.

In the compact layouts targets off the answers are the blank, which a memoryless model predicts with
certainty; the field's layouts (zoology, s4, mad) score only the answers, as their references do (other
targets are `IGNORE`). The recall mask marks the answers, which a memoryless model can only guess.
"""

from __future__ import annotations

import math

import torch

from seqmem.config.settings import check_int, parameter_defaults
from seqmem.errors import ConfigError
from seqmem.tasks import register_task
from seqmem.tasks.base import IGNORE, Baseline, Batch, SampledTask, check_choice


def guess_baseline(span: int, answers: int, choices: int) -> Baseline:
    """Blank with certainty off the answers; a uniform guess among `choices` at each of `answers` steps."""
    return Baseline(loss=answers * math.log(choices) / span, accuracy=(span - answers + answers / choices) / span,
                    recall_accuracy=1 / choices, sequence_accuracy=choices ** -answers)


@register_task("selective-copy")
class SelectiveCopy(SampledTask):
    """Selective copy: symbols scattered among blanks, reproduced in order.

    Args:
        blank: blank steps among which the symbols are scattered
        recall_length: symbols to remember and reproduce
        alphabet: distinct symbols
        layout: compact (seqmem's), s4 (the S4 repository's generator) or mad (mad-lab's)
        train_size: train on a fixed set of this many sequences (mad-lab's num_train_examples; 0: fresh ones)
        test_size: sequences in the fixed test set
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, and a fixed training set)
    """

    summary = "reproduce recall_length symbols scattered among blanks, in order (compact, s4 or mad layout)"

    def __init__(self, blank: int = 64, recall_length: int = 8, alphabet: int = 8, layout: str = "compact",
                 train_size: int = 0, test_size: int = 1000, validation_size: int = 1000, data_seed: int = 0):
        self.blank = check_int("blank", blank)
        self.recall_length = check_int("recall_length", recall_length)
        self.alphabet = check_int("alphabet", alphabet, 2)
        self.layout = check_choice("layout", layout, ("compact", "s4", "mad"))
        if layout == "compact" and recall_length > blank:
            raise ConfigError(f"recall_length ({recall_length}) must be at most blank ({blank}): raise --blank")
        self.vocab_size = self.num_classes = alphabet + 2  # symbols, blank, marker
        self.blank_token, self.marker = alphabet, alphabet + 1
        self.span = self.span_of(blank, recall_length, layout)
        super().__init__(test_size, validation_size, data_seed, train_size)

    @staticmethod
    def span_of(blank: int, recall_length: int, layout: str) -> int:
        """compact: `blank` steps hold the symbols; s4 and mad: `blank` counts the blanks alone, as there."""
        return {"compact": blank + 1 + recall_length, "s4": blank + 2 * recall_length,
                "mad": blank + 1 + 2 * recall_length}[layout]

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        rows = p["train_size"] + p["test_size"] + p["validation_size"]
        return 8 * 3 * rows * cls.span_of(p["blank"], p["recall_length"], p["layout"])

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("blank", "recall_length", "alphabet", "layout", "train_size",
                                               "test_size", "validation_size", "data_seed")}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        if self.layout != "compact":
            return self.draw_field(n, generator)
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

    def draw_field(self, n: int, generator: torch.Generator) -> Batch:
        """The references' layouts, answers alone scored (other targets `IGNORE`), symbols with replacement.

        s4 (state-spaces/s4 `src/dataloaders/datasets/copying.py`, `variable=True`): the symbols at a random
        set of places among `blank + recall_length` steps, then `recall_length` markers, answered at the
        markers. mad (mad-lab `mad/data/instances.py`, selective copying): each blank is put before one of
        the symbols chosen at random (so the last symbol is always next to the copy token), then one copy
        token and `recall_length` blanks, answered at those blanks."""
        r, t = self.recall_length, self.blank
        symbols = torch.randint(0, self.alphabet, (n, r), generator=generator)  # (n, R)
        if self.layout == "s4":
            places = torch.rand(n, t + r, generator=generator).argsort(dim=1)[:, :r].sort(dim=1).values
        else:
            before = torch.randint(0, r, (n, t), generator=generator)  # the symbol each blank goes before
            counts = torch.zeros(n, r, dtype=torch.long).scatter_add_(1, before, torch.ones_like(before))
            places = torch.arange(r) + counts.cumsum(dim=1)  # (n, R): symbol j after every blank put before it
        x = torch.full((n, self.span), self.blank_token, dtype=torch.long)
        x.scatter_(1, places, symbols)
        answers = self.span - r
        if self.layout == "s4":
            x[:, answers:] = self.marker
        else:
            x[:, answers - 1] = self.marker
        y = torch.full_like(x, IGNORE)
        y[:, answers:] = symbols
        return Batch(x, y, y != IGNORE)

    def show(self, token: int) -> str:
        """Symbols as their digits, the blank `_`, the marker `:`."""
        return {self.blank_token: "_", self.marker: ":"}.get(token, str(token))

    def baseline(self) -> Baseline:
        if self.layout != "compact":  # only the answers are scored
            return guess_baseline(self.recall_length, self.recall_length, self.alphabet)
        return guess_baseline(self.span, self.recall_length, self.alphabet)


@register_task("associative-recall")
class AssociativeRecall(SampledTask):
    """Multi-query associative recall: answer each queried key with its value.

    Args:
        pairs: key-value pairs shown before the queries
        queries: keys asked (compact: drawn with replacement; zoology: as many as pairs)
        keys: distinct keys (layout compact)
        values: distinct values (layout compact)
        layout: compact (seqmem's) or zoology (zoology's MQAR)
        length: tokens a sequence (layout zoology)
        vocab: tokens in the vocabulary (layout zoology)
        power_a: power-law exponent of the gap between a pair and its query (layout zoology; 1: uniform gaps)
        test_size: sequences in the fixed test set
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, and a fixed training set)
    """

    summary = "key-value pairs, then queries of seen keys: answer each with its value (compact, or zoology's MQAR)"

    def __init__(self, pairs: int = 8, queries: int = 8, keys: int = 64, values: int = 64, layout: str = "compact",
                 length: int = 64, vocab: int = 8192, power_a: float = 0.01, test_size: int = 1000,
                 validation_size: int = 1000, data_seed: int = 0):
        self.pairs, self.queries = check_int("pairs", pairs), check_int("queries", queries)
        self.keys, self.values = check_int("keys", keys, 2), check_int("values", values, 2)
        self.layout = check_choice("layout", layout, ("compact", "zoology"))
        self.length, self.vocab, self.power_a = check_int("length", length, 4), check_int("vocab", vocab, 4), power_a
        if layout == "zoology":
            self.check_zoology()
            self.vocab_size = self.num_classes = vocab  # keys 1..vocab/2-1, values vocab/2..vocab-1
            self.span = length
        else:
            if pairs > keys:
                raise ConfigError(f"pairs ({pairs}) must be at most keys ({keys}): each pair has its own key")
            self.blank_token = keys + values
            self.vocab_size = self.num_classes = keys + values + 1  # keys, values, blank
            self.span = 2 * pairs + queries
        super().__init__(test_size, validation_size, data_seed)

    def check_zoology(self) -> None:
        """zoology's own asserts, and its one query a key."""
        p, n = self.pairs, self.length
        if n % 2:
            raise ConfigError(f"length ({n}) must be even in layout zoology (pairs and queries take two steps)")
        if 4 * p > n:
            raise ConfigError(f"length ({n}) must be at least 4 x pairs ({4 * p}) in layout zoology: raise --length")
        if self.vocab <= n:
            raise ConfigError(f"vocab ({self.vocab}) must exceed length ({n}) in layout zoology: raise --vocab")
        if self.queries != p:
            raise ConfigError(f"layout zoology asks every key once: queries ({self.queries}) must equal pairs ({p})")
        if not 0 < self.power_a <= 1:
            raise ConfigError(f"power_a must be in (0, 1] (1: uniform gaps), got {self.power_a!r}")

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        span = p["length"] if p["layout"] == "zoology" else 2 * p["pairs"] + p["queries"]
        return 8 * 3 * (p["test_size"] + p["validation_size"]) * span

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("pairs", "queries", "keys", "values", "layout", "length", "vocab",
                                               "power_a", "test_size", "validation_size", "data_seed")}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        if self.layout == "zoology":
            return self.draw_zoology(n, generator)
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

    def draw_zoology(self, n: int, generator: torch.Generator) -> Batch:
        """zoology's MQAR (`zoology/data/multiquery_ar.py`, one pass, random non-queries): `pairs` distinct keys
        with distinct values, then each key asked once, key j at step 2 x pairs + 2 x gap_j, the gaps drawn
        without replacement with weights gap^(power_a - 1) (a power law: most queries come soon); every other
        step of the query region is a random token. Only the queries are scored: their target is the value."""
        p, half, context = self.pairs, self.vocab // 2, 2 * self.pairs
        keys = 1 + torch.rand(n, half - 1, generator=generator).argsort(dim=1)[:, :p]  # (n, P) distinct, 1..V/2-1
        values = half + torch.rand(n, half, generator=generator).argsort(dim=1)[:, :p]  # (n, P) distinct
        space = (self.length - context) // 2
        weights = torch.arange(1, space + 1, dtype=torch.float64) ** (self.power_a - 1)
        # Successive sampling without replacement (numpy's choice(replace=False, p)): the order of E_i / w_i
        # with E_i exponential, so gap j is key j's draw, the first key's from the full weights
        race = -torch.rand(n, space, generator=generator, dtype=torch.float64).log() / weights
        gaps = race.argsort(dim=1)[:, :p]  # (n, P)
        x = torch.randint(0, self.vocab, (n, self.length), generator=generator)
        x[:, 0:context:2], x[:, 1:context:2] = keys, values
        asked_at = context + 2 * gaps
        x.scatter_(1, asked_at, keys)
        y = torch.full_like(x, IGNORE).scatter_(1, asked_at, values)
        return Batch(x, y, y != IGNORE)

    def show(self, token: int) -> str:
        """Keys `k3`, values `v7` (counted from the first value), the blank `_`; zoology's token 0, neither key
        nor value (it appears only among the random tokens between the queries), as `0`."""
        if self.layout == "zoology":
            half = self.vocab // 2
            return f"v{token - half}" if token >= half else f"k{token}" if token > 0 else "0"
        if token == self.blank_token:
            return "_"
        return f"v{token - self.keys}" if token >= self.keys else f"k{token}"

    def baseline(self) -> Baseline:
        if self.layout == "zoology":  # only the queries are scored; a memoryless guess is uniform over values
            return guess_baseline(self.pairs, self.pairs, self.vocab // 2)
        return guess_baseline(self.span, self.queries, self.values)
