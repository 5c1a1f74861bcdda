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

from seqmem.config.user_code import label
from seqmem.errors import ConfigError, Diverged
from seqmem.models import count_parameters
from seqmem.run import signals
from seqmem.run.denormals import flushed_denormals
from seqmem.run.progress import Progress
from seqmem.run.rundir import RunDir, restore
from seqmem.run.threads import training_threads
from seqmem.training.device import check_precision, place, resolve, to_device
from seqmem.training.methods import make_method
from seqmem.training.metrics import evaluate
from seqmem.training.schedule import lr_factor, set_lr_factor
from seqmem.training.tensorboard import require, tensorboard_log
from seqmem.training.train_config import TrainConfig

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
    device: str = "cpu"
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
    one PyTorch thread unless `seqmem.set_threads` or OMP_NUM_THREADS says otherwise (seqmem.run.threads), on
    `config.device` (the model, and each module the method holds, are moved there), with denormal floats
    flushed to zero on the CPU (seqmem.run.denormals). What it is given is checked here (`prepare`);
    `seqmem.run_experiment` checks it once, in `build`, and calls `fit`.
    """
    config, method, device = prepare(model, task, config, method, run)
    return fit(model, task, config, method, device, run, progress)


def fit(model, task, config: TrainConfig, method, device, run: RunDir | None = None, progress: bool = True) -> Result:
    """The training loop proper, on pieces already checked and built (by `prepare` or `seqmem.build`)."""
    with training_threads(), flushed_denormals():
        place(model, method, device)
        rng = torch.get_rng_state()
        torch.manual_seed(config.seed)  # dropout and other in-model draws; restored on exit
        try:
            session = resume(model, task, config, method, run, device)
            with tensorboard_log(config, run, session.history, session.start) as board:
                run_updates(session, progress, board)
        finally:
            torch.set_rng_state(rng)
        return result(session)


def check_where(config: TrainConfig) -> torch.device:
    """The device the settings name, refused in one line where this machine lacks it (or its precision, or
    the package `--log` needs), so a command refuses before it writes anything."""
    device = resolve(config.device)
    check_precision(config.precision, device)
    if config.log == "tensorboard":
        require()
    return device


def check_method_precision(method, config: TrainConfig) -> None:
    """A method trains in the precisions it lists in `precisions` (bptt and tbptt: all three), others in fp32."""
    if config.precision not in getattr(method, "precisions", ("fp32",)):
        raise ConfigError(f"method {method.name} trains in fp32 only: use --precision fp32")


def prepare(model, task, config, method, run):
    """What `train` is given, checked, and the method made, before any file is read or written."""
    config = TrainConfig(steps=1000) if config is None else config
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"train's config must be a TrainConfig, got {type(config).__name__}: "
                          "use seqmem.TrainConfig(steps=...)")
    if not isinstance(model, torch.nn.Module) or not hasattr(task, "batches"):
        raise ConfigError("train needs a model from make_model and a task from make_task")
    device = check_where(config)
    if config.log != "none" and run is None:
        raise ConfigError(f"--log {config.log} writes into the run directory: give train a run (or use run_experiment)")
    model.to(device)  # before the method is made, so whatever it makes beside the weights is made there
    if isinstance(method, str):
        method = make_method(model, task, config, method)
    elif isinstance(method, dict):
        method = make_method(model, task, config, **method)
    check_method_precision(method, config)
    if config.schedule != "constant" and not hasattr(method, "optimizers"):
        raise ConfigError(f"method {method.name} does not name its optimizers, so --schedule {config.schedule} "
                          "cannot scale them: use --schedule constant")
    return config, method, device


@dataclass
class Session:
    """One call of `train`: what it trains and where it has got to. `saved` is the last step checkpointed."""

    model: torch.nn.Module
    task: object
    config: TrainConfig
    method: object
    run: RunDir | None
    device: torch.device
    steps: int
    eval_every: int
    baseline: dict
    start: int = 0
    step: int = 0
    elapsed: float = 0.0
    state: object = None
    history: list = field(default_factory=list)
    saved: int | None = None
    stopped: bool = False


def resume(model, task, config, method, run, device) -> Session:
    """A session at step 0, or at the run's last checkpoint: weights, optimizers, carried state, random state
    and the metrics logged up to it."""
    steps = total_steps(task, config, method)
    session = Session(model, task, config, method, run, device, steps,
                      config.eval_every or default_eval_every(task, config, method, steps), task.baseline().as_dict())
    checkpoint = run.load_checkpoint() if run is not None else None
    if checkpoint is not None:
        restore(model, checkpoint["model"], run.checkpoint_path)
        restore(method, checkpoint["method"], run.checkpoint_path)
        session.start, session.elapsed = checkpoint["step"], checkpoint["train_seconds"]
        session.state = to_device(checkpoint["state"], device)
        torch.set_rng_state(checkpoint["rng"])
        if device.type == "cuda" and checkpoint.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(checkpoint["cuda_rng"], device)
        session.history, session.saved = run.metrics(), session.start
    session.step = session.start
    history, stop_at = session.history, config.stop_at
    session.stopped = bool(history) and ((stop_at is not None and history[-1].get("valid_recall_accuracy", 0) >= stop_at)
                                         or (config.max_seconds is not None and session.elapsed >= config.max_seconds))
    model.train()
    return session


def save(session: Session, seconds: float) -> None:
    """Checkpoint the session's step: weights, optimizers, the carried state (none where a new sequence starts)."""
    step, device = session.step, session.device
    carried = None if step % chunks_per_batch(session.task, session.method) == 0 else own_tensors(session.state)
    checkpoint = {"model": session.model.state_dict(), "method": session.method.state_dict(), "step": step,
                  "train_seconds": seconds, "state": carried, "rng": torch.get_rng_state()}
    if device.type == "cuda":  # dropout's draws there, so a resumed run on the same GPU is the uninterrupted one
        checkpoint["cuda_rng"] = torch.cuda.get_rng_state(device)
    session.run.save_checkpoint(checkpoint)


def diverged(session: Session, step: int, what: str) -> Diverged:
    saved = session.saved
    kept = f"checkpoint.pt keeps step {saved}, the last with a finite loss and weights" if saved else \
        "no checkpoint was kept"
    return Diverged(f"{what} at step {step}: the run stopped; {kept}. To go on, train again into a new --out "
                    "with a lower --lr or with --clip", step, saved)


def run_updates(session: Session, progress: bool, board) -> None:
    """Update until the last step or a stop, evaluating every `eval_every` updates; Ctrl-C or SIGTERM checkpoints
    the last whole update and stops."""
    config, steps = session.config, session.steps
    bar = Progress(steps, session.start, f"{label(session.task.name)} {label(model_name(session.model))}", "step",
                   enabled=progress, leave=False)
    try:
        running, count, tic = 0.0, 0, time.perf_counter()
        chunks = training_chunks(session.task, config, session.method, session.start)
        with signals.deferred():
            while session.step < steps and not session.stopped:
                if signals.requested():  # Ctrl-C or SIGTERM: keep this step's weights, then stop
                    if session.run is not None:
                        save(session, session.elapsed + time.perf_counter() - tic)
                    raise KeyboardInterrupt
                loss = update(session, *next(chunks))
                running, count = running + loss, count + 1
                if session.step % 10 == 0 or session.step == steps:
                    bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                bar.update(1)
                out_of_time = config.max_seconds is not None and \
                    session.elapsed + time.perf_counter() - tic >= config.max_seconds
                if session.step % session.eval_every != 0 and session.step != steps and not out_of_time:
                    continue
                session.elapsed += time.perf_counter() - tic
                record = evaluation(session, running / count)
                if progress:
                    bar.write(progress_line(record))
                session.stopped = out_of_time or (config.stop_at is not None
                                                  and record["valid_recall_accuracy"] >= config.stop_at)
                if session.run is not None:
                    session.run.log(record)
                    board.log(record)
                    save(session, session.elapsed)
                    session.saved = session.step
                running, count, tic = 0.0, 0, time.perf_counter()
    finally:
        bar.close()


def update(session: Session, chunk, new_sequence: bool) -> float:
    """One update on one chunk (on the device, the state carried unless a new sequence starts); its loss."""
    config, method = session.config, session.method
    if config.schedule != "constant":
        set_lr_factor(method.optimizers, lr_factor(config.schedule, session.step, session.steps))
    loss, session.state = method.update(to_device(chunk, session.device), None if new_sequence else session.state)
    if not math.isfinite(loss):
        raise diverged(session, session.step + 1, f"loss became {loss}")
    session.step += 1
    return loss


def evaluation(session: Session, train_loss: float) -> dict:
    """Score validation and test at this step; refuse non-finite weights or scores (nothing checkpointed)."""
    record = {"step": session.step, "train_seconds": round(session.elapsed, 3), "train_loss": train_loss,
              **score(session.model, session.task, session.config.eval_batch_size), "baseline": session.baseline}
    if not all(math.isfinite(record[k]) for k in ("loss", "valid_loss")) or not finite(session.model):
        raise diverged(session, session.step, "the weights or the evaluation loss became non-finite")
    session.history.append(record)
    return record


def progress_line(record: dict) -> str:
    """One evaluation as training prints it beside the progress bar (and `seqmem train --quiet` after it)."""
    return (f"step {record['step']:>7}  loss {record['loss']:.4g}  accuracy {record['accuracy']:.4f}  recall "
            f"{record['recall_accuracy']:.4f}  valid recall {record['valid_recall_accuracy']:.4f}  "
            f"(memoryless recall {record['baseline']['recall_accuracy']:.4f})")


def result(session: Session) -> Result:
    """The run's result: the last evaluation's test scores (a run with none is scored now), the best step's beside."""
    model, task, history = session.model, session.task, session.history
    if not history:
        history = [{"step": session.start, "train_seconds": session.elapsed,
                    **score(model, task, session.config.eval_batch_size)}]
    last = history[-1]
    return Result(
        task=task.name, model=model_name(model), method=session.method.name, steps=last["step"],
        train_seconds=last["train_seconds"], **{k: last[k] for k in SCORES},
        valid_recall_accuracy=last.get("valid_recall_accuracy"), parameters=count_parameters(model),
        baseline=session.baseline, at_best=best_evaluation(history),
        stopped_early=session.stopped and last["step"] < session.steps, history=history, device=str(session.device),
    )
