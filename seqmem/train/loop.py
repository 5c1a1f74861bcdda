"""The one training loop: BPTT, truncated BPTT (chunking is a parameter) and any registered method.

Evaluates on the task's fixed test set every `eval_every` updates, logs each evaluation beside the
memoryless baseline, checkpoints atomically, and resumes exactly from the last checkpoint.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from seqmem.errors import ConfigError
from seqmem.metrics import evaluate
from seqmem.models import count_parameters
from seqmem.runs import RunDir
from seqmem.train.config import TrainConfig
from seqmem.train.methods import make_method


@dataclass
class Result:
    """The final test scores of a run, with the memoryless baseline beside them."""

    task: str
    model: str
    method: str
    steps: int
    train_seconds: float
    loss: float
    accuracy: float
    recall_accuracy: float
    sequence_accuracy: float
    parameters: int
    baseline: dict
    stopped_early: bool = False
    history: list = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        out = asdict(self)
        out.pop("history")
        return out


def total_steps(task, config: TrainConfig) -> int:
    if config.steps is not None:
        return config.steps
    if config.epochs is not None:
        return config.epochs * updates_per_epoch(task, config)
    raise ConfigError("give --steps N (or --epochs N for a task with a fixed training set)")


def chunks_per_batch(task, config: TrainConfig) -> int:
    if config.method != "tbptt":
        return 1
    if not task.per_step:
        raise ConfigError(f"method tbptt needs per-step targets; task {task.name} classifies whole sequences")
    length = task.get("test", torch.arange(1)).y.shape[1]
    return math.ceil(length / config.chunk_length)


def updates_per_epoch(task, config: TrainConfig) -> int:
    return task.steps_per_epoch(config.batch_size) * chunks_per_batch(task, config)


def training_chunks(task, config: TrainConfig, start: int):
    """Yield `(chunk, new_sequence)` for every update from `start` on (a chunk is a whole batch for BPTT)."""
    per_batch = chunks_per_batch(task, config)
    first_batch, first_chunk = divmod(start, per_batch)
    for i, batch in enumerate(task.batches("train", config.batch_size, config.seed, first_batch)):
        if per_batch == 1:
            yield batch, True
            continue
        for c in range(first_chunk if i == 0 else 0, per_batch):
            lo = c * config.chunk_length
            yield batch.time_slice(lo, lo + config.chunk_length), c == 0


def default_eval_every(task, config: TrainConfig, steps: int) -> int:
    if task.size("train") is not None:
        return updates_per_epoch(task, config)
    return max(1, steps // 10)


def train(model, task, config: TrainConfig | None = None, run: RunDir | None = None, progress: bool = True) -> Result:
    """Train `model` on `task`; with `run`, record and checkpoint into it, resuming what is there."""
    config = config or TrainConfig(steps=1000)
    steps = total_steps(task, config)
    eval_every = config.eval_every or default_eval_every(task, config, steps)
    method = make_method(model, task, config)
    baseline = task.baseline().as_dict()
    start, elapsed, state, history, stopped = 0, 0.0, None, [], False
    checkpoint = run.load_checkpoint() if run is not None else None
    rng = torch.get_rng_state()
    torch.manual_seed(config.seed)  # dropout and other in-model draws; restored on exit
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        method.load_state_dict(checkpoint["method"])
        start, elapsed, state = checkpoint["step"], checkpoint["train_seconds"], checkpoint["state"]
        torch.set_rng_state(checkpoint["rng"])
        history = run.metrics()
    model.train()
    bar = tqdm(total=steps, initial=start, disable=None if progress else True, desc=f"{task.name} {model.name}", unit="step",
               dynamic_ncols=True, leave=False)
    try:
        step, running, count, tic = start, 0.0, 0, time.perf_counter()
        stopped = bool(history) and config.stop_at is not None and history[-1]["recall_accuracy"] >= config.stop_at
        chunks = training_chunks(task, config, start)
        while step < steps and not stopped:
            chunk, new_sequence = next(chunks)
            loss, state = method.update(chunk, None if new_sequence else state)
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss became {loss} at step {step + 1}: lower --lr or set --clip")
            step, running, count = step + 1, running + loss, count + 1
            if step % 10 == 0 or step == steps:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            bar.update(1)
            if step % eval_every == 0 or step == steps:
                elapsed += time.perf_counter() - tic
                scores = evaluate(model, task, task.eval_split, config.eval_batch_size)
                record = {"step": step, "train_seconds": round(elapsed, 3), "train_loss": running / count,
                          **scores.as_dict(), "baseline": baseline}
                history.append(record)
                if progress:
                    bar.write(f"step {step:>7}  loss {scores.loss:.4f}  accuracy {scores.accuracy:.4f}  recall "
                              f"{scores.recall_accuracy:.4f}  (memoryless recall {baseline['recall_accuracy']:.4f})")
                stopped = config.stop_at is not None and scores.recall_accuracy >= config.stop_at
                if run is not None:
                    run.log(record)
                    run.save_checkpoint({"model": model.state_dict(), "method": method.state_dict(), "step": step,
                                         "train_seconds": elapsed, "state": state, "rng": torch.get_rng_state()})
                running, count, tic = 0.0, 0, time.perf_counter()
    finally:
        bar.close()
        torch.set_rng_state(rng)
    last = history[-1] if history else {"step": start, "train_seconds": elapsed, **evaluate(model, task, task.eval_split).as_dict()}
    return Result(
        task=task.name, model=model.name, method=config.method, steps=last["step"],
        train_seconds=last["train_seconds"], loss=last["loss"], accuracy=last["accuracy"],
        recall_accuracy=last["recall_accuracy"], sequence_accuracy=last["sequence_accuracy"],
        parameters=count_parameters(model), baseline=baseline, stopped_early=stopped and last["step"] < steps,
        history=history,
    )
