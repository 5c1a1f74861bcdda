"""From a config (a recipe, flags, a dict or a sweep point) to a finished run, and back from a run directory.

config.json holds the config as built, every default filled in, so a run can be rebuilt even if defaults
change later.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from seqmem.config.compose import Config, upgrade
from seqmem.config.user_code import label
from seqmem.errors import ConfigError, Diverged
from seqmem.models import count_parameters, state_numbers
from seqmem.run import trust as trusted
from seqmem.run.build import build
from seqmem.run.denormals import flushed_denormals
from seqmem.run.rundir import RunDir, restore
from seqmem.run.threads import training_threads
from seqmem.run.user_exit import named_exits
from seqmem.tasks.letters import predict_text
from seqmem.training.device import model_device, resolve
from seqmem.training.loop import fit
from seqmem.training.metrics import evaluate_lengths
from seqmem.training.train_config import check_device


def default_out(config: Config) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.task['name']}-{config.model['name']}-{stamp}"


def run_experiment(config, out: str | Path | None = None, progress: bool = True, say=print) -> dict:
    """Train a config into a run directory (resuming one that was interrupted, on whatever device is asked
    now); return its summary.

    Everything is checked, the device included, and the task, model and method built, before the directory is
    touched.
    """
    experiment = build(config)
    recorded = experiment.config.as_dict()
    run = RunDir(out or default_out(experiment.config))
    run.check(recorded, upgrade)
    if run.finished():
        summary = run.summary()
        say(f"{run.path}: already finished" + (f" (diverged at step {summary['diverged_at']})"
                                               if summary.get("diverged") else ""))
        return summary
    task, model, method = experiment.task, experiment.model, experiment.method
    with run.lock():
        run.open(recorded, upgrade)
        say(f"{run.path}: {label(task.name)} with {label(model.name)} ({count_parameters(model) / 1000:.2f} K "
            f"parameters, receptive field {model.receptive_field}, span {task.span}), method {label(method.name)}")
        try:
            with named_exits():
                result = fit(model, task, experiment.train, method, experiment.device, run, progress)
        except Diverged as e:
            run.write_summary({"task": task.name, "model": model.name, "method": method.name, "diverged": True,
                               "diverged_at": e.step, "checkpoint_step": e.checkpoint_step, "error": str(e),
                               "run": str(run.path), "baseline": task.baseline().as_dict()})
            raise
        summary = {**result.summary(), "diverged": False, "run": str(run.path), "parameters": count_parameters(model)}
        size = state_numbers(model, task.span)
        if size is not None:  # a model's own count of what it carries (as zoology logs it)
            summary["state_size"] = size
        if getattr(task, "eval_lengths", ()):  # the last weights' test scores at other lengths than training
            with training_threads(), flushed_denormals():
                summary["by_length"] = evaluate_lengths(model, task, task.eval_lengths)
        run.write_summary(summary)
    return summary


@dataclass
class LoadedRun:
    """A trained run, rebuilt from its directory: the task, the model with its last weights, the config."""

    path: Path
    config: dict
    task: object
    model: torch.nn.Module

    @torch.no_grad()
    def predict(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The model's class at each step (or for each sequence) of a batch of inputs, on the inputs' device."""
        self.model.eval()
        device = model_device(self.model)
        with training_threads(), flushed_denormals(), named_exits():  # PyTorch's default threads: a demo many times slower
            logits, _ = self.model(x.to(device), cond=None if cond is None else cond.to(device))
        return logits.argmax(-1).to(x.device)

    def predict_text(self, text: str, delay: int | None = None) -> str:
        """An echo-letters run's answer to `text` (letters a-z), blanks as spaces; `delay` for a variable-delay run."""
        return predict_text(self, text, delay)


def load(path: str | Path, warn=None, device: str = "cpu", trust: bool = False) -> LoadedRun:
    """A run directory's task and model with its last weights, on `device` (the CPU by default, wherever the
    run was trained: cpu, cuda, cuda:N, mps or auto).

    A run that names code of its own (a model, task or method by import path) is loaded only if this user's
    run wrote its config.json and the code is as recorded (seqmem.run.trust), checked before anything is
    imported; `trust=True` loads it anyway, a file that changed since warned of (`warn`, default
    `warnings.warn`) and loaded as it is now: old weights with edited code is a common need, and weights that
    no longer fit are refused by name."""
    if not isinstance(trust, bool):
        raise ConfigError(f"trust must be True or False, got {trust!r}")
    run = RunDir(path)
    if not run.config_path.exists():
        raise ConfigError(f"{path} is not a run directory (no config.json): give a directory made by seqmem train")
    config = run.config
    trusted.check(run.path, config, trust, warn or warnings.warn)
    config.pop("sources", None)
    where = resolve(check_device(device))
    experiment = build(config, check_device=False)
    if not run.checkpoint_path.exists():
        raise ConfigError(f"{path} has no checkpoint.pt yet: train it first")
    restore(experiment.model, run.read_checkpoint()["model"], run.checkpoint_path)
    experiment.model.to(where).eval()
    return LoadedRun(Path(path), experiment.config.as_dict(), experiment.task, experiment.model)
