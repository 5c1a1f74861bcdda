"""A checkpoint holds what it needs and no more: weights, optimizer moments and the carried state, each saved
as its own tensors, so its size is within twice theirs for every model (a saved slice would carry its whole
buffer: a TCN's state is the last steps of a whole sequence's activations)."""

import pytest
import torch

from seqmem.models import MODELS
from seqmem.run.experiment import run_experiment


def tensor_bytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, list | tuple):
        return sum(map(tensor_bytes, value))
    if isinstance(value, dict):
        return sum(map(tensor_bytes, value.values()))
    return 0


SHALLOW = {"tcn": {"levels": 3, "kernel_size": 3, "channels": 32}}  # a state of a few steps, cut from a sequence of 130


@pytest.mark.parametrize("model", sorted(MODELS))
def test_a_checkpoint_is_within_twice_its_weights_optimizer_and_state(tmp_path, model):
    """Truncated BPTT stopped mid-sequence carries its state; BPTT starts each batch afresh and keeps none."""
    config = {"task": {"name": "copy-memory", "blank": 120, "recall_length": 4, "test_size": 8, "validation_size": 8},
              "model": {"name": model, **SHALLOW.get(model, {})}, "method": {"name": "tbptt", "chunk_length": 64},
              "train": {"steps": 1, "eval_every": 1, "batch_size": 8}, "allow_short_receptive_field": True}
    for method, carried in ("tbptt", True), ("bptt", False):
        config["method"] = {"name": "tbptt", "chunk_length": 64} if carried else {"name": "bptt"}
        run_experiment(config, tmp_path / method, progress=False, say=lambda *_: None)
        path = tmp_path / method / "checkpoint.pt"
        checkpoint = torch.load(path, weights_only=True)
        needed = sum(tensor_bytes(checkpoint[k]) for k in ("model", "method", "state", "rng"))
        assert (tensor_bytes(checkpoint["state"]) > 0) == carried  # the bound is not met by leaving it out
        assert path.stat().st_size <= 2 * needed, (method, path.stat().st_size, needed)
