"""The contract a model, task or method keeps, checked on a class: what `seqmem check` prints, and the part
that `build` runs on a user's class before any run directory is written (docs/extending.md).

Each check yields `(passed, line)`; a check that the next ones depend on stops them when it fails.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import torch

from seqmem.errors import ConfigError
from seqmem.models import state_numbers
from seqmem.tasks.base import IGNORE, Baseline, Batch
from seqmem.training.methods.shared import task_loss
from seqmem.training.scored import takes_where

Check = tuple[bool, str]


def one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def sample_batch(task, n: int = 2):
    """`n` validation sequences (fixed, so every check sees the same ones)."""
    return task.get("validation", torch.arange(min(n, task.size("validation"))))


def expected_shape(task, batch) -> tuple:
    B = len(batch)
    return (B, batch.x.shape[1], task.num_classes) if task.per_step else (B, task.num_classes)


def model_checks(model, task, full: bool = True, backward: bool = True) -> Iterator[Check]:
    """`model` (built for `task`) against the model contract; `full` adds backward (unless `backward` is
    False), causality and chunks."""
    if not isinstance(model, torch.nn.Module):
        yield False, f"is a {type(model).__name__}: a model is a torch.nn.Module"
        return
    field = getattr(model, "receptive_field", None)
    if isinstance(field, bool) or not isinstance(field, int | float) or not field > 0:
        yield False, (f"receptive_field is {field!r}: give the class a receptive_field, the steps back an output "
                      "can see (math.inf for a recurrent model)")
        return
    yield True, f"receptive_field {field}"
    batch = sample_batch(task)
    try:
        out = model(batch.x, None, cond=batch.cond)
    except Exception as e:
        yield False, f"forward(x, state=None, cond=None) raised {one_line(e)}"
        return
    if not isinstance(out, tuple) or len(out) != 2 or not isinstance(out[0], torch.Tensor):
        yield False, f"forward returned {type(out).__name__}: it must return (logits, state)"
        return
    logits, state = out
    want = expected_shape(task, batch)
    if tuple(logits.shape) != want:
        yield False, f"logits of shape {tuple(logits.shape)}: expected {want} (batch, steps, classes) for {task.name}"
        return
    if not torch.isfinite(logits).all():
        yield False, "logits are not all finite"
        return
    yield True, f"forward: logits {want} for a batch of {len(batch)}" + ("" if state is None else ", and a state")
    if task.per_step and takes_where(model):
        yield from where_check(model, batch)
    if not full:
        return
    if backward:
        yield from backward_check(model, task, batch)
    if task.per_step:
        yield from causality_check(model, batch, field)
        yield from chunk_check(model, batch, state)
    size = state_numbers(model, batch.x.shape[1])
    yield True, f"state_size {size}" if size is not None else "state_size not given (optional)"


def where_check(model, batch) -> Iterator[Check]:
    """A forward that takes `where` gives the whole forward's logits at the marked positions, and those alone
    (what training reads where a task scores a few: seqmem/training/scored.py)."""
    where = torch.zeros(batch.y.shape, dtype=torch.bool)
    where[:, 1::3] = True
    was_training = model.training
    model.eval()  # dropout would make the two forwards differ
    try:
        with torch.no_grad():
            whole = model(batch.x, None, cond=batch.cond)[0][where]
            some = model(batch.x, None, cond=batch.cond, where=where)[0]
    except Exception as e:
        yield False, f"forward(x, where=mask) raised {one_line(e)}"
        return
    finally:
        model.train(was_training)
    if not isinstance(some, torch.Tensor) or some.shape != whole.shape:
        got = tuple(some.shape) if isinstance(some, torch.Tensor) else type(some).__name__
        yield False, (f"forward(x, where=mask) returned logits {got}: expected {tuple(whole.shape)}, the logits at the "
                      "positions the mask marks (row-major), or take no `where`")
        return
    gap = float((some - whole).abs().max()) if whole.numel() else 0.0
    if not gap <= 1e-5:
        yield False, f"forward(x, where=mask) differs from the whole forward's logits there by {gap:.2g}"
        return
    yield True, f"where: the logits at {len(whole)} marked positions alone, the whole forward's there"


def backward_check(model, task, batch) -> Iterator[Check]:
    model.zero_grad(set_to_none=True)
    try:
        task_loss(model(batch.x, None, cond=batch.cond)[0], batch).backward()
    except Exception as e:
        yield False, f"backward raised {one_line(e)}"
        return
    params = list(model.parameters())
    reached = sum(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)
    if not reached:
        yield False, "backward: no parameter has a gradient"
        return
    yield True, f"backward: {reached} of {len(params)} parameter tensors get a gradient"


def perturbed(x, step: int):
    """The inputs with every sequence's `step` changed (another token, or noise on floats)."""
    x = x.clone()
    if x.is_floating_point():
        x[:, step] += torch.randn(x[:, step].shape, generator=torch.Generator().manual_seed(0))
    else:
        x[:, step] = (x[:, step] + 1) % max(int(x.max()) + 1, 2)
    return x


def causality_check(model, batch, field) -> Iterator[Check]:
    """No output sees a later input; none sees further back than the receptive field it states."""
    L = batch.x.shape[1]
    step = L // 2
    with torch.no_grad():
        before = model(batch.x, None, cond=batch.cond)[0]
        after = model(perturbed(batch.x, step), None, cond=batch.cond)[0]
    moved = (before - after).abs().amax(dim=(0, 2))  # (L,)
    if moved[:step].max() > 1e-5:
        first = int((moved[:step] > 1e-5).nonzero()[0])
        yield False, f"not causal: the output at step {first} changed when the input at step {step} was changed"
        return
    yield True, f"causal: changing step {step} changes no earlier output"
    if math.isfinite(field) and L - 1 - step >= field and moved[step + int(field):].max() > 1e-5:
        yield False, f"receptive_field {field} is too small: step {step}'s input reaches {int(field)} or more steps on"


def chunk_check(model, batch, state) -> Iterator[Check]:
    """A stream cut in two, the state carried, gives the whole stream's outputs (what truncated BPTT needs)."""
    if state is None:
        yield True, "keeps no state: each chunk of truncated BPTT starts afresh"
        return
    L = batch.x.shape[1]
    cut = L // 2
    with torch.no_grad():
        whole = model(batch.x, None, cond=batch.cond)[0]
        first, carried = model(batch.x[:, :cut], None, cond=batch.cond)
        second, _ = model(batch.x[:, cut:], carried, cond=batch.cond)
    gap = float((torch.cat([first, second], dim=1) - whole).abs().max())
    if gap > 1e-4:
        yield False, f"a stream in two chunks with the state differs from the whole stream by {gap:.2g}"
        return
    yield True, f"carries state: two chunks give the whole stream's outputs (max difference {gap:.1g})"


def task_checks(task) -> Iterator[Check]:
    """A built task against the task contract: its declarations, splits, batches and baseline."""
    problems = [f"{key} must be a positive integer" for key in ("num_classes", "span")
                if not isinstance(getattr(task, key, None), int) or getattr(task, key) < 1]
    if (getattr(task, "vocab_size", None) is None) == (getattr(task, "input_channels", None) is None):
        problems.append("set exactly one of vocab_size (token inputs) and input_channels (float inputs)")
    if problems:
        yield False, "; ".join(problems)
        return
    yield True, f"declares {task.num_classes} classes, span {task.span}, " + (
        f"vocab_size {task.vocab_size}" if task.vocab_size else f"input_channels {task.input_channels}")
    try:
        sizes = {split: task.size(split) for split in ("validation", "test")}
        batch = sample_batch(task, 4)
    except Exception as e:
        yield False, f"validation split: {one_line(e)}"
        return
    if not isinstance(batch, Batch) or not all(isinstance(n, int) and n >= 1 for n in sizes.values()):
        yield False, f"size(split) must be a positive integer and get(split, index) a Batch; got {sizes}, {type(batch).__name__}"
        return
    yield True, f"validation {sizes['validation']} and test {sizes['test']} sequences, fixed"
    B, L = len(batch), batch.x.shape[1] if batch.x.dim() > 1 else 0
    want_x = (B, L) if task.vocab_size else (B, L, task.input_channels)
    want_y = (B, L) if task.per_step else (B,)
    if tuple(batch.x.shape) != want_x or tuple(batch.y.shape) != want_y or batch.recall.shape != batch.y.shape:
        yield False, (f"batch shapes x {tuple(batch.x.shape)}, y {tuple(batch.y.shape)}, recall "
                      f"{tuple(batch.recall.shape)}: expected x (batch, steps" + ("" if task.vocab_size else
                      ", input_channels") + "), y and recall (batch" + (", steps)" if task.per_step else ")"))
        return
    if batch.recall.dtype != torch.bool or not batch.recall.any():
        yield False, "recall must be a bool mask of y's shape marking at least one target that needs memory"
        return
    yield True, f"batch: x {tuple(batch.x.shape)}, y {tuple(batch.y.shape)}, recall marks {int(batch.recall.sum())}"
    try:
        one = next(task.batches("train", 3, seed=1, start=5))
        two = next(task.batches("train", 3, seed=1, start=5))
    except Exception as e:
        yield False, f"training batches: {one_line(e)}"
        return
    if not torch.equal(one.x, two.x) or not torch.equal(one.y, two.y):
        yield False, "training batches are not determined by (seed, step): a resumed run would see others"
        return
    yield True, "training batch i is the same for the same seed"
    try:
        drawn = [batch, *itertools.islice(task.batches("train", 8, seed=0, start=0), 3)]
    except Exception as e:
        yield False, f"training batches: {one_line(e)}"
        return
    problem = next((p for p in map(lambda b: out_of_range(task, b), drawn) if p is not None), None)
    if problem is not None:
        yield False, problem
        return
    yield True, f"tokens, targets and conditions within range in {len(drawn)} batches"
    base = task.baseline()
    if not isinstance(base, Baseline) or not all(0 <= v <= 1 for v in (base.accuracy, base.recall_accuracy)):
        yield False, f"baseline() must return a Baseline with accuracies in [0, 1], got {base!r}"
        return
    yield True, f"memoryless baseline: recall accuracy {base.recall_accuracy:.4g}, loss {base.loss:.4g}"


def out_of_range(task, batch) -> str | None:
    """What in a batch lies outside what the task declares (a token >= vocab_size, a class target >=
    num_classes other than IGNORE, a cond >= cond_size), or None: a model's embedding or the loss would
    fail on it an update or an epoch into training."""
    def bad(values, size, allowed=()):
        outside = (values < 0) | (values >= size)
        for value in allowed:
            outside &= values != value
        return values[outside][0].item() if outside.any() else None

    if task.vocab_size is not None:
        if batch.x.is_floating_point():
            return f"x is {batch.x.dtype} but the task declares vocab_size {task.vocab_size} (token inputs are integers)"
        found = bad(batch.x, task.vocab_size)
        if found is not None:
            return f"a token {found} in x is outside 0..{task.vocab_size - 1} (vocab_size {task.vocab_size})"
    if not batch.y.is_floating_point():
        found = bad(batch.y, task.num_classes, (IGNORE,))
        if found is not None:
            return (f"a target {found} in y is outside 0..{task.num_classes - 1} (num_classes {task.num_classes}; "
                    f"{IGNORE} marks a target no loss reads)")
    cond_size = getattr(task, "cond_size", None)
    if batch.cond is not None and cond_size is not None and not torch.is_floating_point(batch.cond):
        found = bad(batch.cond, cond_size)
        if found is not None:
            return f"a cond {found} is outside 0..{cond_size - 1} (cond_size {cond_size})"
    return None


def method_checks(method, model, task) -> Iterator[Check]:
    """A built method: it names its optimizers, an update changes the weights, its state round-trips."""
    optimizers = getattr(method, "optimizers", None)
    if not isinstance(optimizers, list) or not optimizers:
        yield False, "optimizers must be a non-empty list (what a learning-rate schedule scales)"
        return
    yield True, f"optimizers: {len(optimizers)}"
    before = [p.detach().clone() for p in model.parameters()]
    try:
        loss, _ = method.update(sample_batch(task, 4), None)
    except Exception as e:
        yield False, f"update(batch, state=None) raised {one_line(e)}"
        return
    if not isinstance(loss, float) or not math.isfinite(loss):
        yield False, f"update returned loss {loss!r}: it must return (a finite float, state)"
        return
    if all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True)):
        yield False, "update changed no weight"
        return
    yield True, f"update: loss {loss:.4g}, weights changed"
    try:
        method.load_state_dict(method.state_dict())
    except Exception as e:
        yield False, f"state_dict() does not load back: {one_line(e)}"
        return
    yield True, "state_dict() loads back (a checkpoint resumes it)"


def refuse(what: str, checks: Iterator[Check]) -> None:
    """Raise a ConfigError naming `what` and the first check it fails (build's check of a user's class)."""
    for passed, line in checks:
        if not passed:
            raise ConfigError(f"{what}: {line} (see docs/extending.md; `seqmem check` runs every check)")
