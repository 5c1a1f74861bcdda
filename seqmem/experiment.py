"""From a config (a recipe, flags, or a dict) to a finished run: the one path every entry point takes.

A config is `{"task": {"name": ..., params}, "model": {"name": ..., params}, "train": {...}}` plus
`allow_short_receptive_field`. The recorded config.json holds every parameter, defaults filled in,
so a run can be rebuilt even if defaults change later.
"""

from __future__ import annotations

import copy
import inspect
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from seqmem.errors import ConfigError
from seqmem.models import count_parameters, make_model, model_class
from seqmem.runs import RunDir
from seqmem.tasks import make_task
from seqmem.train import TrainConfig, train


def split_name(section: dict, what: str) -> tuple[str, dict]:
    params = dict(section)
    if "name" not in params:
        raise ConfigError(f"the config names no {what}: give one (e.g. seqmem train copy-memory --model tcn)")
    return params.pop("name"), params


def normalize(config: dict) -> dict:
    """The config with every default filled in, as config.json records it."""
    config = copy.deepcopy(config)
    task_name, task_params = split_name(config.get("task", {}), "task")
    model_name, model_params = split_name(config.get("model", {}), "model")
    task = make_task(task_name, **task_params)
    defaults = {
        k: p.default for k, p in list(inspect.signature(model_class(model_name).__init__).parameters.items())[2:]
    }
    train_config = TrainConfig.from_dict(config.get("train", {}))
    return {
        "task": {"name": task_name, **task.params()},
        "model": {"name": model_name, **defaults, **model_params},
        "train": train_config.as_dict(),
        "allow_short_receptive_field": bool(config.get("allow_short_receptive_field", False)),
    }


def build(config: dict):
    """The task, the model (weights drawn from the training seed) and the training settings of a config."""
    task_name, task_params = split_name(config["task"], "task")
    model_name, model_params = split_name(config["model"], "model")
    train_config = TrainConfig.from_dict(config.get("train", {}))
    task = make_task(task_name, **task_params)
    model = make_model(model_name, task, seed=train_config.seed,
                       allow_short_receptive_field=config.get("allow_short_receptive_field", False), **model_params)
    return task, model, train_config


def default_out(config: dict) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config['task']['name']}-{config['model']['name']}-{stamp}"


def run_experiment(config: dict, out: str | Path | None = None, progress: bool = True, say=print) -> dict:
    """Train a config into a run directory (resuming one that was interrupted); return its summary."""
    config = normalize(config)
    task, model, train_config = build(config)
    run = RunDir(out or default_out(config)).open(config)
    if run.finished():
        say(f"{run.path}: already finished")
        return run.summary()
    say(f"{run.path}: {task.name} with {model.name} ({count_parameters(model) / 1000:.2f} K parameters, "
        f"receptive field {model.receptive_field}, span {task.span}), method {train_config.method}")
    result = train(model, task, train_config, run=run, progress=progress)
    summary = {**result.summary(), "run": str(run.path)}
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
        """The model's class at each step (or for each sequence) of a batch of inputs."""
        self.model.eval()
        logits, _ = self.model(x, cond=cond)
        return logits.argmax(-1)

    def predict_text(self, text: str, delay: int | None = None) -> str:
        """An echo-letters run's answer to `text` (letters a-z), blanks as spaces; `delay` for a variable-delay run."""
        from seqmem.demo import predict_text

        return predict_text(self, text, delay)


def load(path: str | Path) -> LoadedRun:
    run = RunDir(path)
    if not run.config_path.exists():
        raise ConfigError(f"{path} is not a run directory (no config.json): give a directory made by seqmem train")
    config = run.config
    task, model, _ = build(config)
    if not run.checkpoint_path.exists():
        raise ConfigError(f"{path} has no checkpoint.pt yet: train it first")
    model.load_state_dict(torch.load(run.checkpoint_path, weights_only=False)["model"])
    model.eval()
    return LoadedRun(Path(path), config, task, model)
