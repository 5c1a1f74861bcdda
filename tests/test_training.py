"""The training loop and the run directory: it learns, clips after backward, records, and resumes exactly."""

import json
import math

import pytest
import torch

import seqmem
from seqmem import ConfigError, TrainConfig, make_model, make_task, run_experiment, train
from seqmem.run import signals
from seqmem.run.rundir import RunDir

SMALL = {
    "task": {"name": "copy-memory", "blank": 5, "recall_length": 3, "test_size": 200},
    "model": {"name": "tcn", "levels": 3, "kernel_size": 3, "channels": 16},
    "train": {"steps": 40, "eval_every": 10, "lr": 5e-3, "batch_size": 32, "clip": 1.0, "seed": 2},
}


def test_a_small_tcn_learns_to_recall_beyond_the_baseline():
    task = make_task("copy-memory", blank=5, recall_length=3, test_size=500)
    model = make_model("tcn", task, levels=3, kernel_size=3, channels=16, seed=0)
    result = train(model, task, TrainConfig(steps=300, lr=5e-3, clip=1.0, eval_every=300), progress=False)
    assert result.recall_accuracy > 0.9 > task.baseline().recall_accuracy
    assert result.loss < task.baseline().loss


def watch_adam_steps(monkeypatch, observe) -> list:
    """What `observe(optimizer)` returns just before each Adam step, in order."""
    seen, original = [], torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(observe(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    return seen


def test_clipping_bounds_the_update_gradient(monkeypatch):
    """Clipping runs after backward(): the gradient the optimizer sees has norm <= clip."""
    task = make_task("copy-memory", blank=5, recall_length=3, test_size=10)
    model = make_model("tcn", task, levels=3, kernel_size=3, channels=8, seed=0)
    norms = watch_adam_steps(monkeypatch, lambda _: torch.linalg.vector_norm(
        torch.stack([p.grad.norm() for p in model.parameters()])).item())
    train(model, task, TrainConfig(steps=5, lr=1e-2, clip=1e-3, eval_every=5), progress=False)
    assert len(norms) == 5 and max(norms) <= 1e-3 * 1.0001


def test_run_directory_records_everything(tmp_path):
    summary = run_experiment(SMALL, tmp_path / "run", progress=False, say=lambda *_: None)
    run = RunDir(tmp_path / "run")
    config = json.loads(run.config_path.read_text())
    assert config["train"]["seed"] == 2 and config["task"]["convention"] == "digits" and config["model"]["dropout"] == 0.0
    metrics = run.metrics()
    assert [m["step"] for m in metrics] == [10, 20, 30, 40]
    seconds = [m["train_seconds"] for m in metrics]
    assert all(0 < a < b for a, b in zip(seconds, seconds[1:], strict=False))  # training time only grows
    last = metrics[-1]
    assert {k: summary[k] for k in ("loss", "accuracy", "recall_accuracy")} == {
        k: last[k] for k in ("loss", "accuracy", "recall_accuracy")}  # the summary is the last evaluation's
    assert (summary["task"], summary["model"], summary["method"], summary["steps"]) == ("copy-memory", "tcn", "bptt", 40)
    task = make_task("copy-memory", blank=5, recall_length=3, test_size=200)  # built apart from the run
    model = make_model("tcn", task, levels=3, kernel_size=3, channels=16)
    assert summary["parameters"] == sum(p.numel() for p in model.parameters())
    baseline = task.baseline()
    assert summary["baseline"]["recall_accuracy"] == pytest.approx(baseline.recall_accuracy)
    assert summary["baseline"]["loss"] == pytest.approx(baseline.loss) == last["baseline"]["loss"]


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    whole = run_experiment(SMALL, tmp_path / "whole", progress=False, say=lambda *_: None)
    # Interrupt after the step-20 checkpoint: keep checkpoint and metrics as they were then.
    cut = {**SMALL, "train": {**SMALL["train"], "steps": 20}}
    run_experiment(cut, tmp_path / "cut", progress=False, say=lambda *_: None)
    config = json.loads((tmp_path / "whole" / "config.json").read_text())
    (tmp_path / "cut" / "config.json").write_text(json.dumps(config))
    (tmp_path / "cut" / "summary.json").unlink()
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as f:  # a line written after the last checkpoint
        f.write(json.dumps({"step": 25, "recall_accuracy": 0.0}) + "\n")
    resumed = run_experiment(SMALL, tmp_path / "cut", progress=False, say=lambda *_: None)
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [m["step"] for m in RunDir(tmp_path / "cut").metrics()] == [10, 20, 30, 40]
    assert resumed["recall_accuracy"] == whole["recall_accuracy"]


def test_a_directory_with_another_config_is_not_overwritten(tmp_path):
    run_experiment(SMALL, tmp_path / "run", progress=False, say=lambda *_: None)
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    other = {**SMALL, "train": {**SMALL["train"], "lr": 1e-3}}
    with pytest.raises(ConfigError, match="another config"):
        run_experiment(other, tmp_path / "run", progress=False, say=lambda *_: None)
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_bad_training_settings_name_themselves():
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="adagrad")
    with pytest.raises(ConfigError, match="method tbptt needs --chunk-length"):
        seqmem.make_config({**SMALL, "method": {"name": "tbptt"}})
    with pytest.raises(ConfigError, match="steps or --epochs"):
        TrainConfig(steps=3, epochs=2)
    with pytest.raises(ConfigError, match="no setting 'learning_rate'"):
        TrainConfig.from_dict({"learning_rate": 1.0})


def test_a_run_recorded_before_a_setting_existed_still_resumes(tmp_path):
    run_experiment(SMALL, tmp_path / "run", progress=False, say=lambda *_: None)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    del config["task"]["validation_size"]  # as if recorded before that setting was added
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    summary = run_experiment(SMALL, tmp_path / "run", progress=False, say=lambda *_: None)
    assert summary["steps"] == 40
    config["train"]["lr"] = 0.5  # a real difference is still refused
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="another config"):
        run_experiment(SMALL, tmp_path / "run", progress=False, say=lambda *_: None)


def test_a_run_recorded_before_methods_owned_their_options_still_resumes(tmp_path):
    """config.json in the older shape (`train.method`, `train.chunk_length`, `train.tp_noise`) is read in today's."""
    cut = {**SMALL, "train": {**SMALL["train"], "steps": 20}}
    run_experiment(cut, tmp_path / "run", progress=False, say=lambda *_: None)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    method = config.pop("method")
    config["train"].update(method=method["name"], chunk_length=None, tp_noise=0.1, tp_warmup_steps=0)
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    (tmp_path / "run" / "summary.json").unlink()
    summary = run_experiment({**SMALL, "train": {**SMALL["train"], "steps": 20}}, tmp_path / "run", progress=False,
                             say=lambda *_: None)
    assert summary["steps"] == 20 and summary["method"] == "bptt"
    with pytest.raises(ConfigError, match="another config"):  # a real difference is still refused
        run_experiment({**SMALL, "method": {"name": "tbptt", "chunk_length": 4}}, tmp_path / "run", progress=False,
                       say=lambda *_: None)


def test_files_keep_the_users_umask(tmp_path):
    import os

    from seqmem.run.atomic import write_json

    old = os.umask(0o027)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640


def test_a_cosine_schedule_takes_the_learning_rate_from_lr_to_zero(monkeypatch):
    task = make_task("copy-memory", blank=5, recall_length=3, test_size=10)
    model = make_model("tcn", task, levels=3, kernel_size=3, channels=8, seed=0)
    rates = watch_adam_steps(monkeypatch, lambda optimizer: optimizer.param_groups[0]["lr"])
    train(model, task, TrainConfig(steps=8, lr=1e-2, schedule="cosine", eval_every=8), progress=False)
    assert rates == pytest.approx([1e-2 * (1 + math.cos(math.pi * k / 8)) / 2 for k in range(8)])
    with pytest.raises(ConfigError, match="schedule must be one of constant, cosine"):
        TrainConfig(schedule="linear")


def test_a_run_interrupted_mid_schedule_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """The schedule is a function of the update's index: a run stopped at update 20 and resumed follows it."""
    config = {**SMALL, "train": {**SMALL["train"], "schedule": "cosine"}}
    whole = run_experiment(config, tmp_path / "whole", progress=False, say=lambda *_: None)
    calls = {"n": 0}

    def requested():
        calls["n"] += 1
        return calls["n"] == 21  # before the 21st update: stop with 20 made
    monkeypatch.setattr(signals, "requested", requested)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "cut", progress=False, say=lambda *_: None)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["step"] == 20
    resumed = run_experiment(config, tmp_path / "cut", progress=False, say=lambda *_: None)
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["recall_accuracy"] == whole["recall_accuracy"]
