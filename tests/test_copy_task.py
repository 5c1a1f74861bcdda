"""Copy memory: layouts element by element against the source notebooks, and the exact baseline."""

import math

import pytest
import torch

from seqmem import ConfigError, make_task
from seqmem.training.metrics import Tally


def notebook_000_layout(seq: torch.Tensor, blank: int):
    """Notebook 000 / locuslab's data_generator, given the digits it drew."""
    b, n = seq.shape
    x = torch.cat((seq.float(), torch.zeros(b, blank)[:, :-1], 9 * torch.ones(b, n + 1)), 1)
    y = torch.cat((torch.zeros(b, n), torch.zeros(b, blank), seq.float()), 1).long()
    return x, y


@pytest.mark.parametrize("blank,recall_length", [(10, 10), (37, 3), (1, 10)])
def test_digits_layout_matches_notebook_000(blank, recall_length):
    task = make_task("copy-memory", blank=blank, recall_length=recall_length, test_size=20)
    batch = task.get("test", torch.arange(20))
    digits = batch.x[:, :recall_length, 0].long()
    assert digits.min() >= 1 and digits.max() <= 8
    x, y = notebook_000_layout(digits, blank)
    assert batch.x.shape == (20, blank + 2 * recall_length, 1)
    assert torch.equal(batch.x[..., 0], x)
    assert torch.equal(batch.y, y)
    assert torch.equal(batch.recall, torch.arange(x.shape[1]).expand(20, -1) >= blank + recall_length)


def test_symbols_layout_matches_notebook_001_example():
    """The sample printed in notebook 001 (T=15): symbols 0-7, blank 8, marker 9."""
    task = make_task("copy-memory", blank=15, convention="symbols")
    symbols = torch.tensor([[7, 4, 2, 3, 6, 3, 3, 5, 1, 3]])
    batch = task.layout(symbols)
    expected_x = [7, 4, 2, 3, 6, 3, 3, 5, 1, 3] + [8] * 14 + [9] + [8] * 10
    expected_y = [8] * 25 + [7, 4, 2, 3, 6, 3, 3, 5, 1, 3]
    assert batch.x.tolist() == [expected_x]
    assert batch.y.tolist() == [expected_y]
    assert task.vocab_size == 10 and task.num_classes == 10 and task.span == 35


def test_fixed_sets_have_the_notebook_sizes_and_fresh_samples_are_seeded():
    task = make_task("copy-memory", blank=20, data="fixed")
    assert task.size("train") == 10000 and task.size("test") == 1000
    fresh = make_task("copy-memory", blank=20)
    assert fresh.size("train") is None
    a = next(fresh.batches("train", 8, seed=3, start=5))
    b = next(fresh.batches("train", 8, seed=3, start=5))
    c = next(fresh.batches("train", 8, seed=4, start=5))
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)


def test_training_batches_resume_exactly_from_any_step():
    task = make_task("copy-memory", blank=5, data="fixed", train_size=50)
    stream = task.batches("train", 16, seed=1)
    first = [next(stream).y for _ in range(9)]  # crosses two epoch boundaries (4 batches an epoch)
    resumed = task.batches("train", 16, seed=1, start=6)
    assert all(torch.equal(first[i], next(resumed).y) for i in range(6, 9))


def memoryless_logits(task, batch):
    """Blank for sure until the recall positions, then a uniform guess over the alphabet."""
    n, length = batch.y.shape
    logits = torch.full((n, length, task.num_classes), -1e9)
    logits[..., task.blank_token] = 0.0
    symbols = torch.arange(task.first_symbol, task.first_symbol + task.alphabet)
    logits[:, -task.recall_length :] = -1e9
    logits[:, -task.recall_length :, symbols] = 0.0
    return logits


@pytest.mark.parametrize("convention", ["digits", "symbols"])
def test_baseline_is_what_a_memoryless_predictor_scores(convention):
    task = make_task("copy-memory", blank=30, convention=convention, test_size=1000)
    tally = Tally()
    for batch in task.batches("test", 250):
        tally.add(memoryless_logits(task, batch), batch)
    scores, base = tally.scores(), task.baseline()
    assert scores.loss == pytest.approx(base.loss, rel=1e-6)
    assert base.loss == pytest.approx(10 * math.log(8) / 50)
    # argmax of a uniform guess is one fixed symbol: right 1 time in 8, up to sampling noise (10000 draws)
    assert scores.recall_accuracy == pytest.approx(base.recall_accuracy, abs=4 * math.sqrt(0.125 * 0.875 / 10000))
    assert scores.accuracy == pytest.approx(base.accuracy, abs=0.01)


def test_bad_parameters_name_themselves():
    with pytest.raises(ConfigError, match="blank"):
        make_task("copy-memory", blank=0)
    with pytest.raises(ConfigError, match="convention"):
        make_task("copy-memory", convention="letters")
    with pytest.raises(ConfigError, match="has no parameter 'T'"):
        make_task("copy-memory", T=5)
    with pytest.raises(ConfigError, match="unknown task"):
        make_task("copy")
