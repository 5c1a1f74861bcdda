"""The one training loop: BPTT, truncated BPTT (chunking is the method's option) and any registered method.

Every `eval_every` updates it scores the validation split and the test split and logs both beside the
memoryless baseline; early stopping and the choice of a best step read validation only, and the run's
result is the test scores of the step chosen. It checkpoints atomically and resumes exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from seqmem import interrupt
from seqmem.errors import ConfigError, Diverged
from seqmem.imports import label
from seqmem.metrics import evaluate
from seqmem.models import count_parameters
from seqmem.runs import RunDir, restore
from seqmem.threads import training_threads
from seqmem.training.config import TrainConfig
from seqmem.training.methods import make_method
from seqmem.training.schedule import lr_factor, set_lr_factor

SCORES = ("loss", "accuracy", "recall_accuracy", "sequence_accuracy")


@dataclass
class Result:
    """The test scores of the last evaluation, with the memoryless baseline beside them.

    `at_best` holds the test scores at the evaluation with the best validation recall accuracy.
    """

    task: str
    model: str
    method: str
    steps: int
    train_seconds: float
    loss: float
    accuracy: float
    recall_accuracy: float
    sequence_accuracy: float
    valid_recall_accuracy: float | None
    parameters: int
    baseline: dict
    at_best: dict
    stopped_early: bool = False
    history: list = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        out = asdict(self)
        out.pop("history")
        return out


def total_steps(task, config: TrainConfig, method) -> int:
    if config.steps is not None:
        return config.steps
    if config.epochs is not None:
        return config.epochs * updates_per_epoch(task, config, method)
    raise ConfigError("give --steps N (or --epochs N for a task with a fixed training set)")


def chunk_length(method) -> int | None:
    """Steps a chunk for truncated BPTT; None (or no such attribute, as in a user's method) trains whole sequences."""
    return getattr(method, "chunk_length", None)


def chunks_per_batch(task, method) -> int:
    if chunk_length(method) is None:
        return 1
    if not task.per_step:
        raise ConfigError(f"method {method.name} needs per-step targets; task {task.name} classifies whole sequences")
    length = task.get("test", torch.arange(1)).y.shape[1]
    return math.ceil(length / chunk_length(method))


def updates_per_epoch(task, config: TrainConfig, method) -> int:
    return task.steps_per_epoch(config.batch_size) * chunks_per_batch(task, method)


def training_chunks(task, config: TrainConfig, method, start: int):
    """Yield `(chunk, new_sequence)` for every update from `start` on (a chunk is a whole batch for BPTT)."""
    per_batch = chunks_per_batch(task, method)
    first_batch, first_chunk = divmod(start, per_batch)
    for i, batch in enumerate(task.batches("train", config.batch_size, config.seed, first_batch)):
        if per_batch == 1:
            yield batch, True
            continue
        for c in range(first_chunk if i == 0 else 0, per_batch):
            lo = c * chunk_length(method)
            yield batch.time_slice(lo, lo + chunk_length(method)), c == 0


def default_eval_every(task, config: TrainConfig, method, steps: int) -> int:
    if task.size("train") is not None:
        return updates_per_epoch(task, config, method)
    return max(1, steps // 10)


def own_tensors(state):
    """The carried state with each tensor copied into storage of its own size. A state is often a slice of
    a larger buffer (a TCN's last inputs of a whole sequence's activations), and saving a slice saves its
    whole buffer: a checkpoint hundreds of times the model's size."""
    if isinstance(state, torch.Tensor):
        return state.clone()
    if isinstance(state, tuple | list):
        return type(state)(own_tensors(s) for s in state)
    if isinstance(state, dict):
        return {k: own_tensors(v) for k, v in state.items()}
    return state


def finite(model) -> bool:
    return all(torch.isfinite(p).all() for p in model.parameters())


def score(model, task, batch_size: int) -> dict:
    """Test scores under their own names, validation scores prefixed `valid_`."""
    test = evaluate(model, task, "test", batch_size).as_dict()
    valid = evaluate(model, task, "validation", batch_size).as_dict()
    return {**test, **{f"valid_{k}": v for k, v in valid.items()}}


def best_evaluation(history: list[dict]) -> dict:
    """The evaluation with the highest validation recall accuracy (the earliest of equals): its step, its
    validation recall and its test scores. Never reads a test score to choose."""
    best = max(reversed(history), key=lambda h: h.get("valid_recall_accuracy", -math.inf))
    return {"step": best["step"], "valid_recall_accuracy": best.get("valid_recall_accuracy"),
            **{k: best[k] for k in SCORES}}


def model_name(model) -> str:
    """The name a model was made by (make_model sets it), or its class's for one built by hand."""
    return getattr(model, "name", type(model).__name__)


def train(model, task, config: TrainConfig | None = None, method="bptt", run: RunDir | None = None,
          progress: bool = True) -> Result:
    """Train `model` on `task`; with `run`, record and checkpoint into it, resuming what is there.

    `method` is a method's name, `{"name": ..., **options}`, or a method built by `make_method`. It runs on
    one PyTorch thread unless `seqmem.set_threads` or OMP_NUM_THREADS says otherwise (seqmem.threads).
    """
    with training_threads():
        return train_on_threads(model, task, config, method, run, progress)


def train_on_threads(model, task, config, method, run, progress) -> Result:
    config = TrainConfig(steps=1000) if config is None else config
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"train's config must be a TrainConfig, got {type(config).__name__}: "
                          "use seqmem.TrainConfig(steps=...)")
    if not isinstance(model, torch.nn.Module) or not hasattr(task, "batches"):
        raise ConfigError("train needs a model from make_model and a task from make_task")
    if isinstance(method, str):
        method = make_method(model, task, config, method)
    elif isinstance(method, dict):
        method = make_method(model, task, config, **method)
    steps = total_steps(task, config, method)
    if config.schedule != "constant" and not hasattr(method, "optimizers"):
        raise ConfigError(f"method {method.name} does not name its optimizers, so --schedule {config.schedule} "
                          "cannot scale them: use --schedule constant")
    eval_every = config.eval_every or default_eval_every(task, config, method, steps)
    baseline = task.baseline().as_dict()
    start, elapsed, state, history, stopped = 0, 0.0, None, [], False
    checkpoint = run.load_checkpoint() if run is not None else None
    rng = torch.get_rng_state()
    torch.manual_seed(config.seed)  # dropout and other in-model draws; restored on exit
    if checkpoint is not None:
        restore(model, checkpoint["model"], run.checkpoint_path)
        restore(method, checkpoint["method"], run.checkpoint_path)
        start, elapsed, state = checkpoint["step"], checkpoint["train_seconds"], checkpoint["state"]
        torch.set_rng_state(checkpoint["rng"])
        history = run.metrics()
    model.train()
    bar = tqdm(total=steps, initial=start, disable=None if progress else True, desc=f"{label(task.name)} {label(model_name(model))}",
               unit="step", dynamic_ncols=True, leave=False)
    saved = start if checkpoint is not None else None

    per_batch = chunks_per_batch(task, method)

    def save(step: int, seconds: float) -> None:
        carried = None if step % per_batch == 0 else own_tensors(state)  # a new sequence starts afresh
        run.save_checkpoint({"model": model.state_dict(), "method": method.state_dict(), "step": step,
                             "train_seconds": seconds, "state": carried, "rng": torch.get_rng_state()})

    def diverged(step: int, what: str) -> Diverged:
        kept = f"checkpoint.pt keeps step {saved}, the last with a finite loss and weights" if saved else \
            "no checkpoint was kept"
        return Diverged(f"{what} at step {step}: the run stopped; {kept}. To go on, train again into a new --out "
                        "with a lower --lr or with --clip", step, saved)

    try:
        step, running, count, tic = start, 0.0, 0, time.perf_counter()
        stopped = bool(history) and ((config.stop_at is not None and history[-1].get("valid_recall_accuracy", 0) >= config.stop_at)
                                     or (config.max_seconds is not None and elapsed >= config.max_seconds))
        chunks = training_chunks(task, config, method, start)
        with interrupt.deferred():
            while step < steps and not stopped:
                if interrupt.requested():  # Ctrl-C or SIGTERM: keep this step's weights, then stop
                    if run is not None:
                        save(step, elapsed + time.perf_counter() - tic)
                    raise KeyboardInterrupt
                # one update
                if config.schedule != "constant":
                    set_lr_factor(method.optimizers, lr_factor(config.schedule, step, steps))
                chunk, new_sequence = next(chunks)
                loss, state = method.update(chunk, None if new_sequence else state)
                if not math.isfinite(loss):
                    raise diverged(step + 1, f"loss became {loss}")
                step, running, count = step + 1, running + loss, count + 1
                if step % 10 == 0 or step == steps:
                    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                bar.update(1)
                out_of_time = config.max_seconds is not None and elapsed + time.perf_counter() - tic >= config.max_seconds
                if step % eval_every != 0 and step != steps and not out_of_time:
                    continue
                # evaluate on validation and test, record, checkpoint (finite weights and scores only)
                elapsed += time.perf_counter() - tic
                record = {"step": step, "train_seconds": round(elapsed, 3), "train_loss": running / count,
                          **score(model, task, config.eval_batch_size), "baseline": baseline}
                if not all(math.isfinite(record[k]) for k in ("loss", "valid_loss")) or not finite(model):
                    raise diverged(step, "the weights or the evaluation loss became non-finite")
                history.append(record)
                if progress:
                    bar.write(f"step {step:>7}  loss {record['loss']:.4f}  accuracy {record['accuracy']:.4f}  recall "
                              f"{record['recall_accuracy']:.4f}  valid recall {record['valid_recall_accuracy']:.4f}  "
                              f"(memoryless recall {baseline['recall_accuracy']:.4f})")
                stopped = out_of_time or (config.stop_at is not None and record["valid_recall_accuracy"] >= config.stop_at)
                if run is not None:
                    run.log(record)
                    save(step, elapsed)
                    saved = step
                running, count, tic = 0.0, 0, time.perf_counter()
    finally:
        bar.close()
        torch.set_rng_state(rng)
    if not history:
        history = [{"step": start, "train_seconds": elapsed, **score(model, task, config.eval_batch_size)}]
    last = history[-1]
    return Result(
        task=task.name, model=model_name(model), method=method.name, steps=last["step"],
        train_seconds=last["train_seconds"], **{k: last[k] for k in SCORES},
        valid_recall_accuracy=last.get("valid_recall_accuracy"), parameters=count_parameters(model), baseline=baseline,
        at_best=best_evaluation(history), stopped_early=stopped and last["step"] < steps, history=history,
    )
