"""State tracking: the running sum mod k (`parity`) and the running product of a group (`word-problem`).

Both read one symbol a step and answer, at each step, what all the symbols so far add up to: a model must
carry the whole prefix in a state of fixed size (one of k values; one of |G| group elements). The first
step's answer is its input, which a memoryless model knows; from the second step on the running value is
uniform and independent of the current input, so a memoryless model can only guess (1/k, 1/|G|): the recall
mask marks those steps.

- `parity` (modulus 2; `modulus` k counts mod k): symbols 0..k-1, uniform. `scored every` (the default)
  scores each step; `scored last` only the final answer, the layout of the Chomsky-hierarchy benchmarks
  (Deletang et al. 2023) that Grazzi et al. (2024, arXiv 2411.12537) report parity and modular counting on
  (which of the two their code scores was not checked against it here).
- `word-problem` (Merrill et al. 2024, arXiv 2404.08819; their code jopetty/word-problem
  `src/generate_data.py`): each input a group element's index, the target at each step the index of the
  running product `x_1 x_2 ... x_t`, folded from the left from the identity as theirs is. The element order
  and product are those of the `abstract_algebra` package it builds its groups with (alreich/abstract_algebra
  `src/finite_algebras.py`, `src/permutations.py`): S_n's elements are the permutations of 1..n in
  lexicographic order (index 0 the identity), A_n's the even ones in the same order, and `p q` is the
  permutation `i -> p[q[i]]` (q applied first).
"""

from __future__ import annotations

import itertools
import math

import torch

from seqmem.config.settings import check_int, parameter_defaults
from seqmem.tasks import register_task
from seqmem.tasks.base import IGNORE, Baseline, Batch, SampledTask, check_choice
from seqmem.tasks.lengths import length_blocks, parse_lengths


def running_baseline(length: int, classes: int, scored: str) -> Baseline:
    """A memoryless model knows the first step's answer (its input) and guesses 1/classes on every later one.

    Sequence accuracy is a constant guess's: right at each of the length - 1 later steps with chance 1/classes,
    independently (the running value is uniform whatever came before)."""
    if scored == "last":
        return Baseline(loss=math.log(classes), accuracy=1 / classes, recall_accuracy=1 / classes,
                        sequence_accuracy=1 / classes)
    later = length - 1
    return Baseline(loss=later * math.log(classes) / length, accuracy=(1 + later / classes) / length,
                    recall_accuracy=1 / classes, sequence_accuracy=classes ** -later)


class RunningTask(SampledTask):
    """A running value of the inputs, answered at every step (or the last): the shared layout and settings."""

    per_step = True
    scored = "every"

    def setup(self, length: int, eval_lengths: str, test_size: int, validation_size: int, data_seed: int):
        self.length = self.span = check_int("length", length, 2)
        self.eval_lengths_text = eval_lengths
        self.eval_lengths = parse_lengths(eval_lengths, 2)
        super().__init__(test_size, validation_size, data_seed)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        return 8 * 3 * (p["test_size"] + p["validation_size"]) * p["length"]

    def running(self, x: torch.Tensor) -> torch.Tensor:
        """The running value at each step of inputs `(n, L)`, `(n, L)`."""
        raise NotImplementedError

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        return self.draw_length(n, self.length, generator)

    def draw_length(self, n: int, length: int, generator: torch.Generator) -> Batch:
        x = torch.randint(0, self.vocab_size, (n, length), generator=generator)  # (n, L)
        y = self.running(x)
        if self.scored == "last":
            y[:, :-1] = IGNORE
        recall = y != IGNORE
        recall[:, 0] = False  # the first answer is the input itself
        return Batch(x, y, recall)

    def test_at(self, length: int):
        """The fresh test set at `length` (an eval_lengths entry), in blocks of rows."""
        return length_blocks(self.draw_length, self.test_size, length, self.data_seed)

    def baseline(self) -> Baseline:
        return self.baseline_at(self.length)

    def baseline_at(self, length: int) -> Baseline:
        """The memoryless baseline of sequences of `length` steps."""
        return running_baseline(length, self.num_classes, self.scored)


@register_task("parity")
class Parity(RunningTask):
    """Parity, or counting mod k: the running sum of the symbols mod `modulus`, at every step.

    Args:
        length: steps a sequence (the training length)
        modulus: k: symbols 0..k-1, answered by their running sum mod k (2: parity of bits)
        scored: every (every step's answer) or last (the final answer only)
        eval_lengths: other lengths to score the trained model at, a comma list such as 256,1024 (none: '')
        test_size: sequences in the fixed test set (and in the test set at each of eval_lengths)
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, and those of eval_lengths)
    """

    summary = "the running sum of the symbols mod `modulus` (2: parity), at every step or the last"

    def __init__(self, length: int = 64, modulus: int = 2, scored: str = "every", eval_lengths: str = "",
                 test_size: int = 1000, validation_size: int = 1000, data_seed: int = 0):
        self.modulus = check_int("modulus", modulus, 2)
        self.scored = check_choice("scored", scored, ("every", "last"))
        self.vocab_size = self.num_classes = modulus
        self.setup(length, eval_lengths, test_size, validation_size, data_seed)

    def params(self) -> dict:
        return {"length": self.length, "modulus": self.modulus, "scored": self.scored,
                "eval_lengths": self.eval_lengths_text, "test_size": self.test_size,
                "validation_size": self.validation_size, "data_seed": self.data_seed}

    def running(self, x: torch.Tensor) -> torch.Tensor:
        return x.cumsum(dim=1) % self.modulus


def permutation_group(name: str) -> tuple[list[tuple[int, ...]], torch.Tensor]:
    """The elements of s3, a5 or s5 (permutations of 0..n-1 in lexicographic order, the alternating group's
    the even ones) and the product table `(G, G)`: `table[a, b]` the index of `i -> a[b[i]]`."""
    n = int(name[1:])
    elements = list(itertools.permutations(range(n)))
    if name[0] == "a":
        elements = [p for p in elements if even(p)]
    index = {p: i for i, p in enumerate(elements)}
    table = torch.tensor([[index[tuple(a[b[i]] for i in range(n))] for b in elements] for a in elements])
    return elements, table


def even(permutation: tuple[int, ...]) -> bool:
    """An even number of inversions."""
    inversions = sum(a > b for a, b in itertools.combinations(permutation, 2))
    return inversions % 2 == 0


def scan_products(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """The running products `x_1 ... x_t` of element indices `(n, L)`, folded from the left: a doubling scan
    (log2 L table look-ups of the whole batch), which is exact because the product is associative."""
    size = table.shape[0]
    flat = table.reshape(-1)
    out = x.clone()
    shift = 1
    while shift < x.shape[1]:
        out[:, shift:] = flat[out[:, :-shift] * size + out[:, shift:]]  # earlier prefix on the left
        shift *= 2
    return out


@register_task("word-problem")
class WordProblem(RunningTask):
    """The word problem of a permutation group: the running product of group elements, at every step.

    Args:
        length: steps a sequence (the training length)
        group: s3 (order 6), a5 (order 60, the even permutations of 5) or s5 (order 120)
        eval_lengths: other lengths to score the trained model at, a comma list such as 256,1024 (none: '')
        test_size: sequences in the fixed test set (and in the test set at each of eval_lengths)
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, and those of eval_lengths)
    """

    summary = "the running product of permutations (s3, a5 or s5), at every step (Merrill et al.'s word problem)"

    def __init__(self, length: int = 64, group: str = "s3", eval_lengths: str = "", test_size: int = 1000,
                 validation_size: int = 1000, data_seed: int = 0):
        self.group = check_choice("group", group, ("s3", "a5", "s5"))
        self.elements, self.table = permutation_group(group)
        self.vocab_size = self.num_classes = len(self.elements)
        self.setup(length, eval_lengths, test_size, validation_size, data_seed)

    def params(self) -> dict:
        return {"length": self.length, "group": self.group, "eval_lengths": self.eval_lengths_text,
                "test_size": self.test_size, "validation_size": self.validation_size, "data_seed": self.data_seed}

    def running(self, x: torch.Tensor) -> torch.Tensor:
        return scan_products(x, self.table)
