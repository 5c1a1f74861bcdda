"""TensorBoard's event files in the run directory, beside metrics.jsonl (`--log tensorboard`): every evaluation's
scores and the memoryless baseline as scalars, stepped by update. Off by default; nothing is imported then.

A resumed run appends a new event file that purges what the interrupted one wrote after its last checkpoint
(SummaryWriter's `purge_step`, TensorBoard's own mechanism), so each step is read once, as in metrics.jsonl. A
run that starts logging part-way writes the evaluations metrics.jsonl already holds first.
"""

from __future__ import annotations

import contextlib
import importlib.util

from seqmem.errors import ConfigError

INSTALL = "pip install seqmem[tensorboard]"
SPLITS = {"test": "", "validation": "valid_"}  # a record's test scores go unprefixed, validation's prefixed
SCORES = ("loss", "accuracy", "recall_accuracy", "sequence_accuracy")


def require() -> None:
    """Refuse `--log tensorboard` in one line where the tensorboard package is missing (checked before any
    file is written)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(f"--log tensorboard needs the tensorboard package: {INSTALL} (or --log none)")


def scalars(record: dict) -> dict[str, float]:
    """A metrics.jsonl record as TensorBoard tags: `train/loss`, `validation/...`, `test/...`, `baseline/...`."""
    out = {"train/loss": record["train_loss"]}
    for split, prefix in SPLITS.items():
        out.update({f"{split}/{k}": record[prefix + k] for k in SCORES if record.get(prefix + k) is not None})
    out.update({f"baseline/{k}": v for k, v in record["baseline"].items() if v is not None})
    return out


class NoLog:
    def log(self, record: dict) -> None:
        pass


class EventLog:
    def __init__(self, writer):
        self.writer = writer

    def log(self, record: dict) -> None:
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, record["step"])
        self.writer.flush()  # as metrics.jsonl is: an evaluation is on disk before its checkpoint


@contextlib.contextmanager
def tensorboard_log(config, run, history: list[dict], start: int):
    """What the loop logs each evaluation to: an event writer in `run`'s directory, or nothing. `start` is the
    step resumed from (its checkpoint's), `history` the evaluations up to it."""
    if config.log != "tensorboard":
        yield NoLog()
        return
    require()
    from torch.utils.tensorboard import SummaryWriter  # here: tensorboard is an optional extra

    earlier = any(run.path.glob("events.out.tfevents.*"))
    writer = SummaryWriter(str(run.path), purge_step=start + 1 if earlier else None)
    log = EventLog(writer)
    try:
        if not earlier:
            for record in history:
                log.log(record)
        yield log
    finally:
        writer.close()
