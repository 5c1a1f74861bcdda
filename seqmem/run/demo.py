"""Show what trained models answer: a string for echo-letters runs, input / target / prediction rows otherwise."""

from __future__ import annotations

import torch

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.tasks.base import generator_for
from seqmem.tasks.letters import check_echo_letters, decode_text, predict_text, text_delay

LONG = 120  # rows longer than this show their first and last LONG // 2 steps


def row(label: str, values, width: int) -> str:
    values = [str(int(v)) for v in torch.atleast_1d(torch.as_tensor(values))]
    if len(values) > LONG:
        values = values[: LONG // 2] + ["..."] + values[-LONG // 2 :]
    return f"{label:<{width}}  " + " ".join(values)


def sample(task, index: int, seed: int | None):
    """Test sample `index`, or a fresh sample drawn from `seed` for tasks that have fresh samples."""
    if seed is not None:
        check_int("--seed", seed, 0)
        return task.sample(1, generator_for(seed))
    n = task.size("test")
    if not 0 <= index < n:
        raise ConfigError(f"--index must be in 0..{n - 1} (the test set has {n} sequences), got {index}")
    return task.get("test", torch.tensor([index]))


def demo_lines(runs: list, text: str | None = None, delay: int | None = None, index: int = 0,
               seed: int | None = None) -> list[str]:
    """Input, target and each run's prediction, one line each; all runs must share one task."""
    first = runs[0]
    for run in runs[1:]:
        if run.config["task"] != first.config["task"]:
            raise ConfigError(f"{run.path} and {first.path} were trained on different tasks: demo them separately")
    labels = ["input", "target"] + [str(run.path) for run in runs]
    width = max(map(len, labels))
    task = first.task
    if text is not None:
        check_echo_letters(first)
        cond = text_delay(task, delay)
        d = task.delay if cond is None else delay
        target = " " * min(d, len(text)) + text.lower()[: max(len(text) - d, 0)]
        lines = [f"{'input':<{width}}  {text.lower()}", f"{'target':<{width}}  {target}"]
        return lines + [f"{label:<{width}}  {predict_text(run, text, delay)}" for label, run in zip(labels[2:], runs, strict=True)]
    if delay is not None:
        raise ConfigError("--delay goes with TEXT (an echo-letters string); a test sample carries its own delay")
    batch = sample(task, index, seed)
    x = batch.x[0] if batch.x.dim() == 2 else batch.x[0, :, 0]
    if task.name == "echo-letters":
        show = decode_text
        lines = [f"{'input':<{width}}  {show(x)}", f"{'target':<{width}}  {show(batch.y[0])}"]
        if batch.cond is not None:
            lines.insert(0, f"{'delay':<{width}}  {int(batch.cond[0])}")
        preds = [show(run.predict(batch.x, batch.cond)[0]) for run in runs]
        return lines + [f"{label:<{width}}  {p}" for label, p in zip(labels[2:], preds, strict=True)]
    lines = [row("input", x, width), row("target", batch.y[0], width)]
    return lines + [row(label, run.predict(batch.x, batch.cond)[0], width) for label, run in zip(labels[2:], runs, strict=True)]
