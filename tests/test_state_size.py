"""Every built-in model states the numbers it carries (`state_size`, as zoology counts them), and the count is
what its forward hands a stream to continue: the tensors of the returned state, a complex number as two."""

import pytest
import torch

import seqmem
from seqmem.models import MODELS, state_numbers

SIZES = {
    "rnn": {"hidden": 8, "layers": 2},
    "gru": {"hidden": 16, "layers": 2},
    "lstm": {"hidden": 16, "layers": 2},
    "tcn": {"levels": 3, "kernel_size": 3, "channels": 8, "encoder": "embedding", "embedding_dim": 8},
    "s4d": {"d_model": 16, "layers": 2, "state_size": 8},
    "lru": {"d_model": 16, "layers": 2, "state_size": 8},
    "mamba": {"d_model": 16, "layers": 2, "state_size": 4},
    "attention": {"d_model": 16, "layers": 2},
}


def numbers(state) -> int:
    if state is None:
        return 0
    if isinstance(state, torch.Tensor):
        if state.dim() == 0:  # a step counter (attention's positions), not memory
            return 0
        return state[0].numel() * (2 if state.is_complex() else 1)  # one sequence's share
    return sum(numbers(part) for part in state)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_a_models_state_size_is_the_numbers_its_stream_carries(name):
    torch.manual_seed(0)
    task = seqmem.make_task(name="associative-recall", layout="zoology", length=24, pairs=2, queries=2, vocab=32)
    model = MODELS[name](task, **SIZES[name])
    x = task.get("test", torch.arange(1)).x
    _, state = model(x)
    if name in ("rnn", "gru", "lstm"):  # PyTorch's (layers, batch, hidden): the batch is the second dimension
        state = tuple(s.transpose(0, 1) for s in (state if isinstance(state, tuple) else (state,)))
    assert state_numbers(model, task.span) == numbers(state) > 0


def test_the_counts_are_the_papers_for_the_state_space_models():
    task = seqmem.make_task(name="associative-recall", layout="zoology", length=24, pairs=2, queries=2, vocab=32)
    assert MODELS["s4d"](task, d_model=16, layers=2, state_size=8).state_size(24) == 2 * 16 * 8  # N reals a channel
    assert MODELS["lru"](task, d_model=16, layers=2, state_size=8).state_size(24) == 2 * 2 * 8  # N complex a layer
    mamba = MODELS["mamba"](task, d_model=16, layers=2, state_size=4)  # E = 2 D channels, N each, K - 1 inputs
    assert mamba.state_size(24) == 2 * 32 * (4 + 3)
    assert MODELS["lstm"](task, hidden=16, layers=2).state_size(24) == 2 * 2 * 16
