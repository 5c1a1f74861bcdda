"""Training and prediction flush denormal floats to zero on the CPU, and leave the caller's setting as it was."""

import torch
from spy import Spy

import seqmem
from seqmem.run.denormals import DENORMAL, flushed_denormals, flushing


def test_a_denormal_is_kept_by_default_and_flushed_inside():
    assert torch.tensor([DENORMAL]).item() != 0 and not flushing()
    with flushed_denormals():
        assert flushing() and (torch.tensor([DENORMAL]) * 1.0).item() == 0.0
    assert not flushing()


def test_training_flushes_them_and_restores_the_callers_setting(tmp_path):
    task = seqmem.make_task("echo-letters", test_size=20, validation_size=20)
    model = Spy(task, flushing)
    seqmem.train(model, task, seqmem.TrainConfig(steps=2), progress=False)
    assert model.seen == {True} and not flushing()
    torch.set_flush_denormal(True)
    try:
        with flushed_denormals():
            pass
        assert flushing()  # a caller who flushes keeps flushing
    finally:
        torch.set_flush_denormal(False)


def test_a_loaded_run_predicts_with_them_flushed(tmp_path):
    from seqmem.run.experiment import LoadedRun

    task = seqmem.make_task("echo-letters", test_size=20, validation_size=20)
    run = LoadedRun(tmp_path, {}, task, Spy(task, flushing))
    run.predict(task.get("test", torch.arange(2)).x)
    assert run.model.seen == {True} and not flushing()
