"""Selective copy, associative recall, temporal order and adding: layouts against their definitions, exact
memoryless baselines scored through the real metrics, and a model that learns past them."""

import math

import pytest
import torch

import seqmem
from seqmem.tasks.base import generator_for
from seqmem.training.metrics import Tally


def memoryless_logits(batch, classes: int, blank: int) -> torch.Tensor:
    """Certain of the blank off the answers, uniform over the classes on them."""
    logits = torch.full((*batch.y.shape, classes), -1e9)
    logits[..., blank] = 0.0
    logits[batch.recall] = 0.0
    return logits


def test_selective_copy_recalls_the_scattered_symbols_in_order():
    task = seqmem.make_task("selective-copy", blank=30, recall_length=5, test_size=50, validation_size=50)
    batch = task.sample(50, generator_for(3))
    for x, y in zip(batch.x, batch.y, strict=True):
        shown = x[:30][x[:30] != task.blank_token]
        assert torch.equal(y[31:], shown) and x[30] == task.marker and (y[:31] == task.blank_token).all()
    assert not torch.equal(task.get("test", torch.arange(5)).x, task.get("validation", torch.arange(5)).x)


def test_selective_copy_trains_on_a_fixed_set_with_train_size():
    task = seqmem.make_task("selective-copy", layout="mad", blank=20, recall_length=4, train_size=30,
                            test_size=10, validation_size=10)
    first, again = next(task.batches("train", 30, seed=0)), next(task.batches("train", 30, seed=1))
    assert task.size("train") == 30 and task.steps_per_epoch(10) == 3
    assert sorted(map(tuple, first.x.tolist())) == sorted(map(tuple, again.x.tolist()))  # one set, reshuffled
    assert seqmem.make_task("selective-copy", test_size=5, validation_size=5).size("train") is None


def test_associative_recall_answers_each_query_with_its_value():
    task = seqmem.make_task("associative-recall", pairs=6, queries=4, keys=20, values=10, test_size=50,
                            validation_size=50)
    batch = task.get("test", torch.arange(50))
    for x, y in zip(batch.x, batch.y, strict=True):
        table = dict(zip(x[:12:2].tolist(), x[1:12:2].tolist(), strict=True))
        assert len(table) == 6 and all(k < 20 <= v < 30 for k, v in table.items())
        assert y[12:].tolist() == [table[q] for q in x[12:].tolist()]


def test_temporal_order_classes_follow_the_two_marked_symbols():
    task = seqmem.make_task("temporal-order", length=100, test_size=200, validation_size=10)
    batch = task.get("test", torch.arange(200))
    for x, y in zip(batch.x, batch.y, strict=True):
        marked = [(t, s) for t, s in enumerate(x.tolist()) if s in (4, 5)]
        (t1, s1), (t2, s2) = marked
        assert 10 <= t1 < 20 and 50 <= t2 < 60 and x[0] == 6 and x[-1] == 7
        assert y == 2 * (s1 - 4) + (s2 - 4)
    assert set(batch.y.tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("name, params", [
    ("selective-copy", {"blank": 20, "recall_length": 4}),
    ("associative-recall", {"pairs": 4, "queries": 4, "keys": 16, "values": 8}),
])
def test_the_memoryless_baseline_is_what_a_memoryless_predictor_scores(name, params):
    task = seqmem.make_task(name, test_size=2000, validation_size=10, **params)
    tally = Tally()
    batch = task.get("test", torch.arange(2000))
    tally.add(memoryless_logits(batch, task.num_classes, task.blank_token), batch)
    scores, base = tally.scores(), task.baseline()
    choices = round(1 / base.recall_accuracy)
    # uniform logits over every class cost ln(classes) at an answer; the baseline guesses among `choices` only
    answers = batch.recall.sum().item() / batch.y.numel()
    assert scores.loss == pytest.approx(answers * math.log(task.num_classes))
    assert base.loss == pytest.approx(answers * math.log(choices))
    assert scores.accuracy == pytest.approx(1 - answers + answers * scores.recall_accuracy)


def test_adding_targets_and_its_constant_baseline():
    task = seqmem.make_task("adding", length=40, test_size=4000, validation_size=10)
    batch = task.get("test", torch.arange(4000))
    numbers, marks = batch.x[..., 0], batch.x[..., 1]
    assert torch.allclose((numbers * marks).sum(1), batch.y) and (marks.sum(1) == 2).all()
    assert (marks[:, :20].sum(1) == 1).all()
    tally = Tally(task.tolerance)
    tally.add(torch.ones(4000, 1), batch)  # always answer 1
    assert tally.scores().loss == pytest.approx(1 / 6, abs=0.01)
    assert tally.scores().accuracy == pytest.approx(task.baseline().accuracy, abs=0.015)


def test_a_gru_learns_adding_past_the_baseline():
    task = seqmem.make_task("adding", length=50, test_size=300, validation_size=300)
    model = seqmem.make_model("gru", task, hidden=32, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=400, lr=1e-2, clip=1.0, eval_every=400),
                          progress=False)
    assert result.loss < 0.01 < task.baseline().loss and result.accuracy > 0.6 > task.baseline().accuracy


def test_a_gru_learns_temporal_order():
    task = seqmem.make_task("temporal-order", length=30, test_size=300, validation_size=300)
    model = seqmem.make_model("gru", task, hidden=32, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=300, lr=1e-2, clip=1.0, eval_every=300),
                          progress=False)
    assert result.accuracy > 0.9 > task.baseline().accuracy
