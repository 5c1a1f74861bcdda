"""What the tests of every deep sequence model (LRU, S4D, Mamba) check the same way: a bad parameter is
refused naming itself, and the model trains from the command line by BPTT and by truncated BPTT."""

import pytest

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError


def refused_naming(expected: str, model: str, task, **params) -> None:
    with pytest.raises(ConfigError) as error:
        seqmem.make_model(model, task, **params)
    assert expected in str(error.value)


def trains_by_bptt_and_truncated_bptt(model: str, tmp_path, steps: int) -> None:
    base = ["train", "copy-memory", "--model", model, "--blank", "5", "--recall-length", "3", "--d-model", "16",
            "--layers", "1", "--steps", str(steps), "--set", "test_size=20", "--set", "validation_size=20", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "bptt")]) == 0
    assert main([*base, "--method", "tbptt", "--chunk-length", "4", "--out", str(tmp_path / "tbptt")]) == 0


def learns_to_recall_beyond_the_baseline(model: str, task, train: dict, **params) -> None:
    """Trained from seed 0 with `train` (TrainConfig's settings), it recalls > 0.9, above the memoryless baseline."""
    built = seqmem.make_model(model, task, seed=0, **params)
    result = seqmem.train(built, task, seqmem.TrainConfig(**train), progress=False)
    assert result.recall_accuracy > 0.9 > task.baseline().recall_accuracy
