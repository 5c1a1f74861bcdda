"""Echo tasks: repeat the input a fixed (or told) number of steps later.

- `echo-stream`: a long random binary stream, target `y[t] = x[t - echo_step]` and `y[t] = 0` for the first
  `echo_step` steps. The input is one float channel (0.0 or 1.0); the target is one of 2 classes, scored by
  2-class cross-entropy (the same loss path as every task; equal to BCE-with-logits on the logit difference).
  Training uses a fixed set of `streams` rows, meant for truncated BPTT: `--method tbptt --chunk-length 20`
  cuts each stream into consecutive chunks and carries the state across them.
- `echo-letters`: letters 1..26 (blank 0 never appears in the input), target the input `delay` steps later
  with `delay` blanks first. With `max_delay`, each sequence draws its delay in 0..max_delay and the
  model is told it (`Batch.cond`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seqmem.config.settings import check_int, parameter_defaults
from seqmem.errors import ConfigError
from seqmem.tasks import register_task
from seqmem.tasks.base import Baseline, Batch, Task, generator_for

LETTERS = 26
BLANK = 0


def shift(x: torch.Tensor, delay: torch.Tensor | int, fill: int = 0) -> torch.Tensor:
    """`x` (B, L) moved `delay` steps later along time (one delay, or one per row), `fill` before it."""
    n, length = x.shape
    delay = torch.as_tensor(delay).expand(n).reshape(n, 1)
    source = torch.arange(length).expand(n, length) - delay
    return torch.where(source >= 0, x.gather(1, source.clamp(min=0)), torch.full_like(x, fill))


@register_task("echo-stream")
class EchoStream(Task):
    """Echo a random binary stream echo_step steps later.

    Args:
        echo_step: steps between a bit and its echo (the delay to remember across)
        series_length: steps of each stream
        streams: training streams (a fixed set; tbptt cuts each into chunks)
        test_streams: streams in the test set
        data_seed: seed of the fixed data sets (validation, test, and a fixed training set)
        validation_streams: streams in the validation set (what early stopping and the best step read)
    """

    summary = "echo a random binary stream echo_step steps later (truncated BPTT over long streams)"

    num_classes = 2
    input_channels = 1

    def __init__(self, echo_step: int = 3, series_length: int = 20000, streams: int = 5, test_streams: int = 5,
                 data_seed: int = 0, validation_streams: int = 5):
        self.echo_step = check_int("echo_step", echo_step)
        self.series_length = check_int("series_length", series_length)
        if echo_step >= series_length:
            raise ConfigError(f"echo_step ({echo_step}) must be < series_length ({series_length}): raise --series-length")
        self.streams = check_int("streams", streams)
        self.test_streams = check_int("test_streams", test_streams)
        self.validation_streams = check_int("validation_streams", validation_streams)
        self.data_seed = check_int("data_seed", data_seed, 0)
        self.span = echo_step + 1
        self.fixed = {"train": self._draw(streams, generator_for(data_seed, 1)),
                      "test": self._draw(test_streams, generator_for(data_seed, 0)),
                      "validation": self._draw(validation_streams, generator_for(data_seed, 2))}

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        return 8 * (p["streams"] + p["test_streams"] + p["validation_streams"]) * p["series_length"]

    def params(self) -> dict:
        return {name: getattr(self, name) for name in
                ("echo_step", "series_length", "streams", "test_streams", "data_seed", "validation_streams")}

    def _draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, 2, (n, self.series_length), generator=generator)

    def size(self, split: str) -> int:
        if split not in self.fixed:
            raise ConfigError(f"split must be train, validation or test, got {split!r}")
        return len(self.fixed[split])

    def layout(self, bits: torch.Tensor) -> Batch:
        y = shift(bits, self.echo_step)
        recall = torch.zeros_like(bits, dtype=torch.bool)
        recall[:, self.echo_step :] = True
        return Batch(bits.unsqueeze(-1).float(), y, recall)

    def get(self, split: str, index: torch.Tensor) -> Batch:
        self.size(split)
        return self.layout(self.fixed[split][index])

    def baseline(self) -> Baseline:
        """The first echo_step targets are a known 0; every later one is a fair coin: loss ln 2, accuracy 1/2."""
        e, n = self.echo_step, self.series_length
        return Baseline(loss=(n - e) * math.log(2) / n, accuracy=(e + (n - e) / 2) / n, recall_accuracy=0.5,
                        sequence_accuracy=2.0 ** -(n - e))


@register_task("echo-letters")
class EchoLetters(Task):
    """Echo letters a-z `delay` steps later.

    Args:
        delay: steps between a letter and its echo, the same for every sequence (none with max_delay)
        seq_length: letters a sequence (more than the delay)
        max_delay: draw each sequence's delay in 0..max_delay and tell it to the model (instead of delay)
        test_size: sequences in the fixed test set
        data_seed: seed of the fixed data sets (validation, test, and a fixed training set)
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
    """

    summary = "echo letters a-z `delay` steps later (or a per-sequence delay 0..max_delay the model is told)"

    num_classes = LETTERS + 1
    vocab_size = LETTERS + 1

    def __init__(self, delay: int | None = 4, seq_length: int = 15, max_delay: int | None = None,
                 test_size: int = 1000, data_seed: int = 0, validation_size: int = 1000):
        self.seq_length = check_int("seq_length", seq_length)
        self.test_size = check_int("test_size", test_size)
        self.validation_size = check_int("validation_size", validation_size)
        self.data_seed = check_int("data_seed", data_seed, 0)
        if max_delay is not None:
            # The delay is drawn per sequence; a fixed `delay` would be ignored, so it is recorded as null.
            self.max_delay, self.delay = check_int("max_delay", max_delay, 0), None
            self.cond_size, longest = max_delay + 1, max_delay
        elif delay is None:
            raise ConfigError("echo-letters needs --delay D (fixed) or --max-delay M (drawn per sequence)")
        else:
            self.delay, self.max_delay = check_int("delay", delay, 0), None
            self.cond_size, longest = None, delay
        if longest >= seq_length:
            raise ConfigError(f"the delay ({longest}) must be < seq_length ({seq_length}): raise --seq-length")
        self.span = longest + 1
        self.fixed = {"test": self._draw(test_size, generator_for(data_seed, 0)),
                      "validation": self._draw(validation_size, generator_for(data_seed, 2))}

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        return 8 * (p["test_size"] + p["validation_size"]) * (p["seq_length"] + 1)

    def params(self) -> dict:
        return {name: getattr(self, name) for name in
                ("delay", "seq_length", "max_delay", "test_size", "data_seed", "validation_size")}

    def _draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        letters = torch.randint(1, LETTERS + 1, (n, self.seq_length), generator=generator)
        if self.max_delay is None:
            delays = torch.full((n,), self.delay, dtype=torch.long)
        else:
            delays = torch.randint(0, self.max_delay + 1, (n,), generator=generator)
        return letters, delays

    def layout(self, letters: torch.Tensor, delays: torch.Tensor) -> Batch:
        """Targets are the letters `delay` steps later; recall marks the echoed letters (none when delay is 0,
        where the answer is the current input and needs no memory).

        A training batch is laid out every update, and a small model's update takes a few milliseconds, so
        this takes few tensor operations: the letters padded with `longest` blanks on the left and read back
        `delay` steps earlier, and recall wherever that read a letter (letters are never blank)."""
        longest = self.span - 1
        n, length = letters.shape
        if self.max_delay is None:
            y = F.pad(letters[:, : length - longest], (longest, 0), value=BLANK)
        else:
            source = torch.arange(longest, longest + length) - delays[:, None]
            y = F.pad(letters, (longest, 0), value=BLANK).gather(1, source)
        recall = (y != BLANK) & (delays[:, None] > 0)
        return Batch(letters, y, recall, None if self.max_delay is None else delays)

    def size(self, split: str) -> int | None:
        if split not in ("train", "validation", "test"):
            raise ConfigError(f"split must be train, validation or test, got {split!r}")
        return len(self.fixed[split][0]) if split in self.fixed else None

    def get(self, split: str, index: torch.Tensor) -> Batch:
        if split not in self.fixed:
            raise ConfigError("echo-letters trains on fresh samples; only validation and test are fixed sets")
        letters, delays = self.fixed[split]
        return self.layout(letters[index], delays[index])

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self.layout(*self._draw(batch_size, generator))

    def show(self, token: int) -> str:
        """Letters as letters, the blank `_`."""
        return "_" if token == BLANK else chr(ord("a") + token - 1)

    def baseline(self) -> Baseline:
        """A memoryless model knows the step and the delay: blank before the delay, the current letter at delay 0,
        otherwise a uniform guess over 26 letters (loss ln 26, accuracy 1/26). Averaged over the test set's delays."""
        n, k = self.seq_length, LETTERS
        delays = self.fixed["test"][1].tolist()
        echoed = [n - d if d > 0 else 0 for d in delays]
        count = len(delays) * n
        return Baseline(
            loss=sum(echoed) * math.log(k) / count,
            accuracy=(count - sum(echoed) * (1 - 1 / k)) / count,
            recall_accuracy=1 / k,
            sequence_accuracy=sum(k ** -m for m in echoed) / len(delays),
        )
