"""The task interface: every task hands out the same `Batch`, so loss and metrics read every task alike."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields

import torch

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError

IGNORE = -100  # a target no loss or score reads: cross_entropy's default ignore_index


@dataclass
class Batch:
    """Inputs, per-step (or per-sequence) targets, and the mask of targets that need memory.

    `x` is integer tokens `(B, L)` or floats `(B, L, C)`; `y` is `(B, L)` or `(B,)`; `recall` has `y`'s shape.
    `cond` is an optional per-sequence conditioning tensor `(B,)` (e.g. a delay the model is told).
    A target of `IGNORE` is neither trained on nor scored (layouts that, like their references, score only
    the answers).
    """

    x: torch.Tensor
    y: torch.Tensor
    recall: torch.Tensor
    cond: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def select(self, index: torch.Tensor) -> Batch:
        """The rows `index` of every field."""
        return Batch(*(None if getattr(self, f.name) is None else getattr(self, f.name)[index] for f in fields(self)))

    def time_slice(self, start: int, stop: int) -> Batch:
        """Steps `start:stop` of a per-step batch (a chunk for truncated BPTT)."""
        return Batch(self.x[:, start:stop], self.y[:, start:stop], self.recall[:, start:stop], self.cond)


@dataclass(frozen=True)
class Baseline:
    """What the best predictor that remembers nothing scores: loss (nats), accuracy, recall accuracy."""

    loss: float
    accuracy: float
    recall_accuracy: float
    sequence_accuracy: float | None = None

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Task:
    """A memory task.

    Subclasses set `name`, `num_classes`, `span` (steps a model must see to answer), `per_step`
    (targets at every step, or one class per sequence), and either `vocab_size` (token inputs) or
    `input_channels` (float inputs). Data is either a fixed set per split (`size(split)` is an int and
    `get(split, index)` returns rows) or fresh samples (`size("train")` is None and `sample` draws them).
    The validation and test splits are always fixed, drawn apart from each other: early stopping and any
    choice of a best step read validation, and every model is scored on the same test sequences.
    """

    name: str = ""
    summary: str = ""
    num_classes: int
    span: int
    per_step: bool = True
    vocab_size: int | None = None
    input_channels: int | None = None
    cond_size: int | None = None  # number of values `Batch.cond` can take, if the task conditions on one

    def params(self) -> dict:
        """The constructor arguments that rebuild this task (recorded in config.json)."""
        raise NotImplementedError

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        """Memory the task's fixed data will take with these parameters, before it is made (0: read from disk)."""
        return 0

    def size(self, split: str) -> int | None:
        raise NotImplementedError

    def get(self, split: str, index: torch.Tensor) -> Batch:
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        raise ConfigError(f"task {self.name} has no fresh samples; it trains on its fixed training set")

    def baseline(self) -> Baseline:
        raise NotImplementedError

    def show(self, token: int) -> str:
        """A token as the task writes it (`seqmem demo` shows inputs and answers so): its id, unless the task
        names its symbols. Float inputs whose values are whole numbers (a token as a float) are shown so too."""
        return str(token)

    def show_class(self, label: int) -> str:
        """A target class as the task writes it: the token of the same id, unless classes are not tokens."""
        return self.show(label)

    def steps_per_epoch(self, batch_size: int) -> int:
        n = self.size("train")
        if n is None:
            raise ConfigError(f"task {self.name} draws fresh samples and has no epochs: give --steps instead")
        return math.ceil(n / batch_size)

    def batches(self, split: str, batch_size: int, seed: int = 0, start: int = 0) -> Iterator[Batch]:
        """Training: shuffled epochs of the fixed set, or fresh samples, forever. Test: the fixed set in order.

        Training batch `i` depends only on `(seed, i)`, so a resumed run starts at `start` and sees exactly
        the batches it would have seen without the interruption.
        """
        n = self.size(split)
        if split != "train":
            for first in range(0, n, batch_size):
                yield self.get(split, torch.arange(first, min(first + batch_size, n)))
            return
        step = start
        if n is None:
            generator = torch.Generator()  # reseeded for each batch: one fewer object a batch
            while True:
                yield self.sample(batch_size, generator.manual_seed(seed_for(seed, step)))
                step += 1
        per_epoch = math.ceil(n / batch_size)
        while True:
            epoch, offset = divmod(step, per_epoch)
            order = torch.randperm(n, generator=generator_for(seed, epoch, 1))
            for first in range(offset * batch_size, n, batch_size):
                yield self.get(split, order[first : first + batch_size])
                step += 1


def generator_for(*keys: int) -> torch.Generator:
    """A torch.Generator seeded from a tuple of integers, well mixed, so nearby keys give unrelated streams."""
    return torch.Generator().manual_seed(seed_for(*keys))


MASK = 0xFFFFFFFF


def seed_for(*keys: int) -> int:
    """A 63-bit seed mixed from non-negative integers: NumPy's `SeedSequence(keys).generate_state(2, uint64)[0]
    >> 1`, computed as NumPy does (O'Neill's seed_seq_fe, a pool of four 32-bit words), in plain Python.

    Every fresh training batch is drawn from such a seed; NumPy's own takes 0.1 ms or more once the update
    before it has pushed it out of the cache, a few percent of a small model's update; this takes a third."""
    entropy = []
    for key in map(int, keys):
        if key < 0:
            raise ValueError(f"seed keys must be non-negative, got {key}")
        entropy += [key & MASK] if key <= MASK else [(key >> s) & MASK for s in range(0, key.bit_length(), 32)]
    hash_const = 0x43B0D7E5

    def hashmix(value: int) -> int:
        nonlocal hash_const
        value ^= hash_const
        hash_const = (hash_const * 0x931E8875) & MASK
        value = (value * hash_const) & MASK
        return value ^ (value >> 16)

    def mix(x: int, y: int) -> int:
        result = (0xCA01F9DD * x - 0x4973F715 * y) & MASK
        return result ^ (result >> 16)

    pool = [hashmix(entropy[i] if i < len(entropy) else 0) for i in range(4)]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for value in entropy[4:]:
        for dst in range(4):
            pool[dst] = mix(pool[dst], hashmix(value))
    words, hash_const = [], 0x8B51F9DD
    for value in pool[:2]:
        value ^= hash_const
        hash_const = (hash_const * 0x58F38DED) & MASK
        value = (value * hash_const) & MASK
        words.append(value ^ (value >> 16))
    return (words[0] | words[1] << 32) >> 1


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


class SampledTask(Task):
    """A task drawn by `draw(n, generator)`: validation and test are fixed draws from their own seeds, kept as
    batches (these tasks are small), so every model meets the same sequences; training draws fresh samples,
    or with `train_size` trains on a fixed set of that many drawn once (mad-lab's `num_train_examples`).
    `draw_train` makes training sequences: `draw`'s, unless a task trains on other targets than it scores."""

    def __init__(self, test_size: int, validation_size: int, data_seed: int, train_size: int = 0):
        self.test_size = check_int("test_size", test_size)
        self.validation_size = check_int("validation_size", validation_size)
        self.data_seed = check_int("data_seed", data_seed, 0)
        self.train_size = check_int("train_size", train_size, 0)
        self.fixed = {"test": self.draw(test_size, generator_for(data_seed, 0)),
                      "validation": self.draw(validation_size, generator_for(data_seed, 2))}
        if train_size:
            self.fixed["train"] = self.draw_train(train_size, generator_for(data_seed, 1))

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def draw_train(self, n: int, generator: torch.Generator) -> Batch:
        return self.draw(n, generator)

    def size(self, split: str) -> int | None:
        if split not in ("train", "validation", "test"):
            raise ConfigError(f"split must be train, validation or test, got {split!r}")
        return len(self.fixed[split]) if split in self.fixed else None

    def get(self, split: str, index: torch.Tensor) -> Batch:
        if split not in self.fixed:
            raise ConfigError(f"task {self.name} trains on fresh samples; only validation and test are fixed sets")
        return self.fixed[split].select(index)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self.draw_train(batch_size, generator)
