"""The device and precision settings: batches, carried state and evaluation follow the model's device, a run
resumes on another device, and a device this machine lacks is refused in one line before anything is written."""

import pytest
import torch
from in_process import interrupted

import seqmem.run.experiment
import seqmem.training.loop
from seqmem import ConfigError, load, run_experiment
from seqmem.cli import main
from seqmem.run import signals
from seqmem.run.rundir import RunDir
from seqmem.training.device import resolve

SMALL = {"task": {"name": "copy-memory", "blank": 3, "recall_length": 2, "test_size": 20, "validation_size": 20},
         "model": {"name": "gru", "hidden": 8},
         "method": {"name": "tbptt", "chunk_length": 3},  # three chunks a batch: the state is carried
         "train": {"steps": 12, "eval_every": 6, "lr": 1e-2, "seed": 1}}
QUIET = {"progress": False, "say": lambda *_: None}
CUDA = torch.cuda.is_available()


def with_train(**settings) -> dict:
    return {**SMALL, "train": {**SMALL["train"], **settings}}


class Seen(Exception):
    """Raised by the hook once it has looked at what a forward received."""


def tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, tuple | list):
        for v in value:
            yield from tensors(v)


def check_devices(model, stop: bool = False) -> list:
    """A hook on `model`'s forward: every tensor it receives must be on the model's device. Returns what it saw."""
    seen = []

    def hook(module, args, kwargs):
        device = next(module.parameters()).device
        got = [t.device for t in tensors([*args, *kwargs.values()])]
        assert all(d == device for d in got), f"forward received tensors on {got}, the model is on {device}"
        seen.append(got)
        if stop:
            raise Seen

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def test_the_hook_catches_a_tensor_on_another_device():
    from seqmem import make_model, make_task

    model = make_model("gru", make_task("copy-memory", blank=3, recall_length=2), hidden=8)
    check_devices(model)
    with pytest.raises(AssertionError, match="meta"):
        model(torch.zeros(2, 7, dtype=torch.long, device="meta"))


def test_cpu_and_auto_name_the_devices_they_should():
    assert resolve("cpu") == torch.device("cpu")
    assert resolve("auto").type == ("cuda" if CUDA else "mps" if torch.backends.mps.is_available() else "cpu")


def test_explicit_cpu_trains_what_the_default_trains_with_every_tensor_on_the_device(tmp_path, monkeypatch):
    default = run_experiment(SMALL, tmp_path / "default", **QUIET)
    built, seen = seqmem.run.experiment.fit, []

    def fit(model, *args):
        seen.append(check_devices(model))
        return built(model, *args)

    monkeypatch.setattr(seqmem.run.experiment, "fit", fit)
    explicit = run_experiment(with_train(device="cpu"), tmp_path / "cpu", **QUIET)
    assert explicit["device"] == default["device"] == "cpu"
    assert explicit["loss"] == default["loss"] and explicit["recall_accuracy"] == default["recall_accuracy"]
    assert len(seen[0]) > 12  # every update's forward and the evaluations' passed the hook


@pytest.mark.filterwarnings("ignore:for .*copying from a non-meta parameter")
def test_a_resumed_run_moves_its_carried_state_and_batches_to_the_models_device(tmp_path, monkeypatch):
    """The run is cut mid-sequence (a carried state in the checkpoint, saved from the CPU), then resumed
    with the device resolved to PyTorch's `meta` device: the first forward must see the batch and the state
    there, though both come from the CPU (the task's generators, the checkpoint)."""
    calls = []
    monkeypatch.setattr(signals, "requested", lambda: calls.append(1) or len(calls) == 3)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(SMALL, tmp_path / "run", **QUIET)
    assert RunDir(tmp_path / "run").read_checkpoint()["state"] is not None  # step 2 of a three-chunk batch
    monkeypatch.setattr(signals, "requested", lambda: False)
    monkeypatch.setattr(seqmem.training.loop, "resolve", lambda name: torch.device("meta"))
    built, seen = seqmem.run.experiment.fit, []

    def fit(model, *args):
        seen.append(check_devices(model, stop=True))
        return built(model, *args)

    monkeypatch.setattr(seqmem.run.experiment, "fit", fit)
    with pytest.raises(Seen):
        run_experiment(SMALL, tmp_path / "run", **QUIET)
    assert len(seen[0][0]) == 2 and {d.type for d in seen[0][0]} == {"meta"}  # the chunk's inputs and the state


def test_evaluation_moves_each_batch_to_the_models_device():
    from seqmem import make_model, make_task
    from seqmem.training.metrics import evaluate

    task = make_task("copy-memory", blank=3, recall_length=2, test_size=20)
    model = make_model("gru", task, hidden=8).to("meta")
    seen = check_devices(model, stop=True)
    with pytest.raises(Seen):
        evaluate(model, task, "test")
    assert {d.type for d in seen[0]} == {"meta"}


def test_a_run_resumes_on_another_device_setting_but_not_in_another_precision(tmp_path, monkeypatch):
    whole = run_experiment(SMALL, tmp_path / "whole", **QUIET)
    interrupted(SMALL, tmp_path / "cut", monkeypatch, checks=8)
    with pytest.raises(ConfigError, match="another config"):
        run_experiment(with_train(precision="bf16"), tmp_path / "cut", **QUIET)
    resumed = run_experiment(with_train(device="auto"), tmp_path / "cut", **QUIET)  # the CPU here, or a GPU
    if not CUDA:
        assert resumed["loss"] == whole["loss"] and resumed["recall_accuracy"] == whole["recall_accuracy"]
    assert load(tmp_path / "cut").model.rnn.weight_hh_l0.device.type == "cpu"


def test_bf16_trains_on_the_cpu_and_the_methods_without_it_are_refused(tmp_path):
    fp32 = run_experiment(SMALL, tmp_path / "fp32", **QUIET)
    bf16 = run_experiment(with_train(precision="bf16"), tmp_path / "bf16", **QUIET)
    assert bf16["loss"] != fp32["loss"] and abs(bf16["loss"] - fp32["loss"]) < 0.05 * fp32["loss"]
    target_prop = {**with_train(precision="bf16"), "model": {"name": "rnn", "hidden": 8, "encoder": "onehot"},
                   "method": {"name": "target-prop"}}
    with pytest.raises(ConfigError, match="target-prop trains in fp32 only"):
        run_experiment(target_prop, tmp_path / "tp", **QUIET)
    assert not (tmp_path / "tp").exists()


@pytest.mark.skipif(CUDA, reason="this machine has CUDA: the refusal is for a machine without it")
@pytest.mark.parametrize("flags,expected", [(["--device", "cuda"], "--device cuda: CUDA is not available here"),
                                            (["--device", "cuda:1"], "--device cuda:1: CUDA is not available here"),
                                            (["--precision", "fp16"], "--precision fp16 needs a GPU")])
def test_an_absent_device_is_refused_in_one_line_writing_nothing(flags, expected, tmp_path, capsys):
    code = main(["train", "copy-memory", "--model", "gru", "--steps", "5", "--out", str(tmp_path / "run"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and expected in err and "Traceback" not in err
    assert "--device cpu" in err or "--precision bf16" in err  # how to choose
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not CUDA, reason="CUDA is not available here (this test trains on a GPU where there is one)")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_a_run_trained_on_cuda_scores_as_on_the_cpu_and_resumes_and_loads_there(precision, tmp_path, monkeypatch):
    cpu = run_experiment(SMALL, tmp_path / "cpu", **QUIET)
    calls = []
    monkeypatch.setattr(signals, "requested", lambda: calls.append(1) or len(calls) == 8)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(with_train(device="cuda", precision=precision), tmp_path / "gpu", **QUIET)
    assert RunDir(tmp_path / "gpu").read_checkpoint()["model"]["rnn.weight_hh_l0"].device.type == "cpu"
    monkeypatch.setattr(signals, "requested", lambda: False)
    if precision == "fp32":
        resumed = run_experiment(with_train(device="cpu"), tmp_path / "gpu", **QUIET)  # resumed on the CPU
        assert resumed["device"] == "cpu" and abs(resumed["loss"] - cpu["loss"]) < 1e-3
    else:
        resumed = run_experiment(with_train(device="cuda", precision=precision), tmp_path / "gpu", **QUIET)
        assert resumed["device"] == "cuda:0" and abs(resumed["loss"] - cpu["loss"]) < 0.05 * cpu["loss"]
    loaded = load(tmp_path / "gpu")
    assert loaded.predict(torch.zeros(1, 7, dtype=torch.long)).device.type == "cpu"
