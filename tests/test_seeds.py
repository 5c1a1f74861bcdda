"""Seeds: the plain-Python mixer is NumPy's SeedSequence, so every seed gives the batches it always gave."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import seqmem
from seqmem.tasks.base import generator_for, seed_for


def numpy_seed(*keys: int) -> int:
    return int(np.random.SeedSequence(list(keys)).generate_state(2, np.uint64)[0] >> np.uint64(1))


@given(st.lists(st.one_of(st.integers(0, 3), st.integers(0, 2**32), st.integers(0, 2**130)), min_size=1, max_size=7))
def test_seed_for_is_numpys_seed_sequence(keys):
    assert seed_for(*keys) == numpy_seed(*keys)


def test_seed_for_refuses_a_negative_key_as_numpy_does():
    with pytest.raises(ValueError):
        seed_for(1, -1)


def test_fresh_training_batches_are_drawn_from_the_seed_and_step():
    task = seqmem.make_task("echo-letters", delay=4, seq_length=15, test_size=10, validation_size=10)
    batches = task.batches("train", 8, seed=5, start=3)
    for step in (3, 4, 5):
        expected = task.sample(8, generator_for(5, step))
        got = next(batches)
        assert torch.equal(got.x, expected.x) and torch.equal(got.y, expected.y)
