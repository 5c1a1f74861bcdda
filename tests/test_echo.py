"""Echo tasks: layouts against the source notebooks' definitions, baselines, truncated BPTT."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import seqmem
from seqmem.errors import ConfigError
from seqmem.tasks.base import generator_for
from seqmem.training import TrainConfig, train
from seqmem.training.loop import training_chunks
from seqmem.training.metrics import Tally


def notebook_stream_target(x: np.ndarray, echo_step: int) -> np.ndarray:
    """Notebook 002's target: the series rolled `echo_step` steps right, its first `echo_step` entries zeroed."""
    y = np.roll(x, echo_step, axis=1)
    y[:, :echo_step] = 0
    return y


def notebook_letters_target(seq: torch.Tensor, delay: int) -> torch.Tensor:
    """Notebook 004's target for one sequence: `delay` zeros, then the sequence without its last `delay` letters."""
    return torch.cat((torch.zeros(delay), seq[: len(seq) - delay])).long()


@pytest.mark.parametrize("echo_step", [1, 3, 10])
def test_stream_layout_matches_notebook(echo_step):
    task = seqmem.make_task("echo-stream", echo_step=echo_step, series_length=200, streams=5)
    for split in ("train", "test"):
        batch = task.get(split, torch.arange(task.size(split)))
        assert batch.x.shape == (5, 200, 1) and batch.x.dtype == torch.float32
        x = batch.x[..., 0].long().numpy()
        assert set(np.unique(x)) == {0, 1}
        assert np.array_equal(batch.y.numpy(), notebook_stream_target(x, echo_step))
        assert not batch.recall[:, :echo_step].any() and batch.recall[:, echo_step:].all()


def test_stream_sets_are_fixed_and_distinct():
    a = seqmem.make_task("echo-stream", series_length=100, data_seed=3)
    b = seqmem.make_task("echo-stream", series_length=100, data_seed=3)
    assert torch.equal(a.get("train", torch.arange(5)).x, b.get("train", torch.arange(5)).x)
    assert not torch.equal(a.get("train", torch.arange(5)).x, a.get("test", torch.arange(5)).x)


@pytest.mark.parametrize("delay,length", [(4, 15), (3, 9), (0, 6), (14, 15)])
def test_letters_layout_matches_notebook(delay, length):
    task = seqmem.make_task("echo-letters", delay=delay, seq_length=length, test_size=50)
    for batch in (task.get("test", torch.arange(50)), task.sample(50, generator_for(7))):
        assert batch.cond is None
        assert batch.x.min() >= 1 and batch.x.max() <= 26
        for seq, target, recall in zip(batch.x, batch.y, batch.recall, strict=True):
            assert torch.equal(target, notebook_letters_target(seq, delay))
            assert torch.equal(recall, (torch.arange(length) >= delay) & (delay > 0))


def test_variable_delay_layout_matches_notebook():
    task = seqmem.make_task("echo-letters", max_delay=8, seq_length=20, test_size=400)
    batch = task.get("test", torch.arange(400))
    assert task.cond_size == 9 and task.delay is None and task.span == 9
    assert sorted(batch.cond.unique().tolist()) == list(range(9))  # every delay occurs, none above 8
    for seq, delay, target in zip(batch.x, batch.cond.tolist(), batch.y, strict=True):
        assert torch.equal(target, notebook_letters_target(seq, delay))
    assert not batch.recall[batch.cond == 0].any()
    steps = torch.arange(20).expand(400, 20)
    assert torch.equal(batch.recall, (steps >= batch.cond[:, None]) & (batch.cond[:, None] > 0))


def test_letter_params_rebuild_the_task():
    task = seqmem.make_task("echo-letters", max_delay=5, seq_length=12)
    again = seqmem.make_task("echo-letters", **task.params())
    assert torch.equal(task.get("test", torch.arange(10)).y, again.get("test", torch.arange(10)).y)


@pytest.mark.parametrize("params,words", [
    ({"task": "echo-letters", "delay": 15, "seq_length": 15}, "seq_length"),
    ({"task": "echo-letters", "delay": None}, "--max-delay"),
    ({"task": "echo-letters", "max_delay": -1}, "max_delay"),
    ({"task": "echo-stream", "echo_step": 0}, "echo_step"),
    ({"task": "echo-stream", "echo_step": 30, "series_length": 20}, "--series-length"),
])
def test_bad_params_name_the_fix(params, words):
    name = params.pop("task")
    with pytest.raises(ConfigError, match=words):
        seqmem.make_task(name, **params)


def memoryless_logits(batch, task) -> torch.Tensor:
    """The best memoryless answer: the known blank before the delay, the current letter at delay 0, else uniform."""
    logits = torch.zeros(*batch.y.shape, task.num_classes)
    logits[..., 0] = -1e9  # uniform over the letters, never blank where an echo is due
    known = ~batch.recall
    logits[known] = F.one_hot(batch.y[known], task.num_classes).float() * 1e9
    return logits


@pytest.mark.parametrize("params", [{"delay": 4, "seq_length": 15}, {"max_delay": 8, "seq_length": 20}])
def test_letters_baseline_is_what_a_memoryless_answer_scores(params):
    task = seqmem.make_task("echo-letters", test_size=300, **params)
    batch = task.get("test", torch.arange(300))
    tally = Tally()
    tally.add(memoryless_logits(batch, task), batch)
    base = task.baseline()
    assert tally.scores().loss == pytest.approx(base.loss, rel=1e-6)
    # argmax of a uniform guess is one fixed letter, right 1/26 of the time on average
    assert tally.scores().recall_accuracy == pytest.approx(base.recall_accuracy, abs=0.01)
    assert base.recall_accuracy == pytest.approx(1 / 26)


def test_stream_baseline():
    base = seqmem.make_task("echo-stream", echo_step=3, series_length=20).baseline()
    assert base.loss == pytest.approx(17 / 20 * math.log(2))
    assert base.accuracy == pytest.approx((3 + 8.5) / 20)
    assert base.recall_accuracy == 0.5


def test_tbptt_chunks_are_consecutive_pieces_of_each_stream():
    task = seqmem.make_task("echo-stream", series_length=100, streams=5)
    config = TrainConfig(batch_size=5, epochs=2, optimizer="rmsprop")
    model = seqmem.make_model("rnn", task, hidden=4)
    method = seqmem.make_method(model, task, config, "tbptt", chunk_length=20)
    chunks = [next(it) for it in [training_chunks(task, config, method, 0)] for _ in range(10)]
    assert [new for _, new in chunks] == [True, False, False, False, False] * 2
    first = torch.cat([c.x for c, _ in chunks[:5]], dim=1)
    rows = [task.get("train", torch.tensor([i])).x[0] for i in range(5)]
    assert sorted(first[:, :, 0].tolist()) == sorted(r[:, 0].tolist() for r in rows)


def test_tbptt_learns_a_short_echo():
    """A notebook-002 model (ReLU RNN, 4 units) with truncated BPTT learns echo_step 2 past the memoryless 0.5."""
    torch.manual_seed(0)
    task = seqmem.make_task("echo-stream", echo_step=2, series_length=1000, streams=5)
    model = seqmem.make_model("rnn", task, seed=0, hidden=4, nonlinearity="relu")
    config = TrainConfig(batch_size=5, epochs=2, optimizer="rmsprop", lr=1e-2)
    result = train(model, task, config, method={"name": "tbptt", "chunk_length": 20}, progress=False)
    assert result.steps == 100
    assert result.recall_accuracy > 0.95
