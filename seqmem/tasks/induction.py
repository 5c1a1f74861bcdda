"""Induction heads (the Mamba paper's section 4.1.2 and appendix E.1): recall the token that followed a
special token, when the special token comes again at the end.

Mamba never released its generator (state-spaces/mamba#343); its synthetic tasks follow H3's and Hyena's,
whose generator is HazyResearch/safari `src/dataloaders/synthetics.py` (`generate_induction_head`, one
trigger, `induction_len` 1). As there: `length - 1` tokens drawn uniformly from the `vocab` ordinary tokens,
the special token written over one of them at a uniform place among the first `length - 3` (so the token
after it is one of the random ones), then the special token at the last step, whose target is the token that
followed its first occurrence. Only that last step is scored (safari's test labels are -100 elsewhere).

safari's `vocab_size` counts its two special tokens (its `=>` and an unused `.`); here `vocab` counts the
ordinary tokens and the special token is one more (index `vocab`). A memoryless model sees only the special
token at the answer, so it guesses: loss ln(vocab), accuracy 1/vocab.
"""

from __future__ import annotations

import math

import torch

from seqmem.config.settings import check_int, parameter_defaults
from seqmem.tasks import register_task
from seqmem.tasks.base import IGNORE, Baseline, Batch, SampledTask
from seqmem.tasks.lengths import length_blocks, parse_lengths


@register_task("induction-heads")
class InductionHeads(SampledTask):
    """Induction heads: after the special token comes again, recall the token that followed it the first time.

    Args:
        length: steps a sequence, the last being the special token asked (the training length)
        vocab: ordinary tokens (the special token is one more)
        eval_lengths: other lengths to score the trained model at, a comma list such as 256,1024 (none: '')
        test_size: sequences in the fixed test set (and in the test set at each of eval_lengths)
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, and those of eval_lengths)
    """

    summary = "recall the token that followed a special token when it comes again at the end (Mamba's, vocab 16)"

    per_step = True

    def __init__(self, length: int = 256, vocab: int = 16, eval_lengths: str = "", test_size: int = 1000,
                 validation_size: int = 1000, data_seed: int = 0):
        self.length = self.span = check_int("length", length, 4)
        self.vocab = check_int("vocab", vocab, 2)
        self.special = vocab
        self.vocab_size = self.num_classes = vocab + 1
        self.eval_lengths_text = eval_lengths
        self.eval_lengths = parse_lengths(eval_lengths, 4)
        super().__init__(test_size, validation_size, data_seed)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        return 8 * 3 * (p["test_size"] + p["validation_size"]) * p["length"]

    def params(self) -> dict:
        return {"length": self.length, "vocab": self.vocab, "eval_lengths": self.eval_lengths_text,
                "test_size": self.test_size, "validation_size": self.validation_size, "data_seed": self.data_seed}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        return self.draw_length(n, self.length, generator)

    def draw_length(self, n: int, length: int, generator: torch.Generator) -> Batch:
        x = torch.randint(0, self.vocab, (n, length), generator=generator)  # (n, L)
        trigger = torch.randint(0, length - 3, (n,), generator=generator)  # (n,): safari's integers(L' - 2), L' = L - 1
        rows = torch.arange(n)
        x[rows, trigger] = self.special
        x[:, -1] = self.special
        y = torch.full_like(x, IGNORE)
        y[:, -1] = x[rows, trigger + 1]
        return Batch(x, y, y != IGNORE)

    def test_at(self, length: int):
        """The fresh test set at `length` (an eval_lengths entry), in blocks of rows."""
        return length_blocks(self.draw_length, self.test_size, length, self.data_seed)

    def baseline(self) -> Baseline:
        return self.baseline_at(self.length)

    def baseline_at(self, length: int) -> Baseline:
        """The memoryless baseline at any length: one guess among `vocab` tokens."""
        chance = 1 / self.vocab
        return Baseline(loss=math.log(self.vocab), accuracy=chance, recall_accuracy=chance, sequence_accuracy=chance)
