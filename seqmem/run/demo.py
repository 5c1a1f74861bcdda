"""Show what trained models answer: a string for echo-letters runs; otherwise the input in the task's symbols,
the target at the steps that ask for an answer, each run's answers beside it and how many are right."""

from __future__ import annotations

import torch

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.run.denormals import flushed_denormals
from seqmem.run.threads import training_threads
from seqmem.run.user_exit import named_exits
from seqmem.tasks.base import generator_for
from seqmem.tasks.letters import check_echo_letters, decode_text, predict_text, text_delay
from seqmem.training.device import model_device

LONG = 120  # rows longer than this show their first and last LONG // 2 steps, and the answers between
AROUND = 2  # steps shown either side of an answer in a cut row
FAR_ANSWERS = LONG // 4  # at most this many answers between the first and last steps get a window of their own
UNASKED = "."  # a step whose target is no answer
WRONG = "!"  # follows a wrong answer


def shown_steps(length: int, answers: list[int]) -> list[int]:
    """Every step of a short row; of a long one the first and last LONG // 2 and a few steps around each answer
    between them (the first and last FAR_ANSWERS // 2 of them, if there are more)."""
    if length <= LONG:
        return list(range(length))
    keep = set(range(LONG // 2)) | set(range(length - LONG // 2, length))
    far = [t for t in answers if t not in keep]
    if len(far) > FAR_ANSWERS:
        far = far[: FAR_ANSWERS // 2] + far[-FAR_ANSWERS // 2 :]
    for t in far:
        keep.update(range(max(t - AROUND, 0), min(t + AROUND + 1, length)))
    return sorted(keep)


def table(rows: list[tuple[str, list[str]]], steps: list[int]) -> list[str]:
    """Labelled rows of one cell a step, cut to `steps` (`...` where steps are left out), each column as wide as
    its widest cell, so a target stands above its predictions."""
    columns, last = [], -1
    for t in steps:
        if t != last + 1:
            columns.append(["..."] * len(rows))
        columns.append([cells[t] for _, cells in rows])
        last = t
    widths = [max(map(len, column)) for column in columns]
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  " + " ".join(column[i].ljust(w) for column, w in zip(columns, widths, strict=True)).rstrip()
            for i, (label, _) in enumerate(rows)]


def show_input(task, x: torch.Tensor) -> list[str]:
    """One cell a step of input `x` (L,) or (L, C): tokens in the task's symbols; float steps that hold one whole
    number (a token as a float) likewise, others as numbers to two decimals, channels joined by `/`."""
    if not x.is_floating_point():
        return [task.show(int(v)) for v in x]
    if x.dim() == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() == 1 and bool((x == x.round()).all()):
        return [task.show(int(v)) for v in x]
    return ["/".join(f"{round(float(v), 2):g}" for v in torch.atleast_1d(step)) for step in x]


def predictions(run, batch) -> torch.Tensor:
    """The model's answers: a class at each step (or for the sequence), or the number of a regression task."""
    if not batch.y.is_floating_point():
        return run.predict(batch.x, batch.cond)
    with torch.no_grad(), training_threads(), flushed_denormals(), named_exits():
        run.model.eval()
        device = model_device(run.model)
        out, _ = run.model(batch.x.to(device), cond=None if batch.cond is None else batch.cond.to(device))
    return out.reshape(batch.y.shape).cpu()


def answer_cells(task, y: torch.Tensor, asked: torch.Tensor, length: int) -> dict[int, tuple]:
    """The answers of one sequence by step: the step's target, as (the value, its cell). A per-sequence target is
    answered at the last step, where the model is read."""
    if y.dim() == 0:
        return {length - 1: (y, show_answer(task, y))} if asked else {}
    return {t: (y[t], show_answer(task, y[t])) for t in range(length) if asked[t]}


def show_answer(task, value: torch.Tensor) -> str:
    return f"{float(value):.3f}" if value.is_floating_point() else task.show_class(int(value))


def is_right(task, answer: torch.Tensor, target: torch.Tensor) -> bool:
    if target.is_floating_point():
        return abs(float(answer) - float(target)) < task.tolerance
    return int(answer) == int(target)


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
    """Input, target and each run's answers, one line each, then (but for echo-letters) each run's count of
    right answers; all runs must share one task."""
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
    if task.name == "echo-letters":  # letters read as text
        show = decode_text
        lines = [f"{'input':<{width}}  {show(batch.x[0])}", f"{'target':<{width}}  {show(batch.y[0])}"]
        if batch.cond is not None:
            lines.insert(0, f"{'delay':<{width}}  {int(batch.cond[0])}")
        preds = [show(run.predict(batch.x, batch.cond)[0]) for run in runs]
        return lines + [f"{label:<{width}}  {p}" for label, p in zip(labels[2:], preds, strict=True)]
    answers = [(label, predictions(run, batch)[0]) for label, run in zip(labels[2:], runs, strict=True)]
    return answered_lines(task, batch, answers)


def answered_lines(task, batch, answers: list[tuple[str, torch.Tensor]]) -> list[str]:
    """Input in the task's symbols; the target only at the answers (the steps the recall mask marks, which need
    memory), each run's answer beside it, `!` after a wrong one; then each run's count of right answers."""
    x = batch.x[0]
    length = x.shape[0]
    targets = answer_cells(task, batch.y[0], batch.recall[0], length)
    steps = shown_steps(length, sorted(targets))
    rows = [("input", show_input(task, x)), ("target", [targets[t][1] if t in targets else UNASKED for t in range(length)])]
    counts = []
    for label, answer in answers:
        cells, right = [UNASKED] * length, 0
        for t, (target, _) in targets.items():
            given = answer if answer.dim() == 0 else answer[t]
            ok = is_right(task, given, target)
            right += ok
            cells[t] = show_answer(task, given) + ("" if ok else WRONG)
        rows.append((label, cells))
        counts.append((label, right))
    lines = table(rows, steps)
    width = max(len(label) for label, _ in rows)
    hidden = len(targets) - len(set(targets) & set(steps))
    for label, right in counts:
        note = f" ({WRONG} marks a wrong answer)" if right < len(targets) else ""
        lines.append(f"{label:<{width}}  {right} of {len(targets)} answer{'s' * (len(targets) != 1)} right{note}"
                     + (f"; {hidden} answers not shown" if hidden else ""))
    return lines
