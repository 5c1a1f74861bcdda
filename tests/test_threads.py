"""Training runs on one PyTorch thread from Python as from the command line, unless the user has chosen."""

import pytest
import torch
from spy import Spy

import seqmem
from seqmem.run import threads


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "chosen", None)
    torch.set_num_threads(2)
    yield


def spy_trained() -> set:
    task = seqmem.make_task("echo-letters", test_size=20, validation_size=20)
    model = Spy(task, torch.get_num_threads)
    seqmem.train(model, task, seqmem.TrainConfig(steps=2), progress=False)
    return model.seen


def test_train_from_python_runs_one_thread_and_restores_the_callers(two_threads):
    assert spy_trained() == {1}
    assert torch.get_num_threads() == 2


def test_a_number_the_user_chose_is_kept(two_threads, monkeypatch):
    seqmem.set_threads(2)
    assert spy_trained() == {2}
    monkeypatch.setattr(threads, "chosen", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert spy_trained() == {2}
    with pytest.raises(seqmem.ConfigError, match="threads must be an integer >= 0"):
        seqmem.set_threads(-1)


def test_a_loaded_runs_predictions_run_one_thread(two_threads, tmp_path):
    config = seqmem.make_config({"task": {"name": "echo-letters", "test_size": 20, "validation_size": 20},
                                 "model": {"name": "gru", "hidden": 8}, "train": {"steps": 2}})
    seqmem.run_experiment(config, tmp_path / "run", progress=False)
    loaded = seqmem.load(tmp_path / "run")
    seen = set()
    loaded.model.register_forward_pre_hook(lambda *_: seen.add(torch.get_num_threads()))
    loaded.predict_text("abc")
    assert seen == {1}
    assert torch.get_num_threads() == 2
