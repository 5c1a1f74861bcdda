"""The field's task layouts against generators re-implemented from their references' code, and each layout's
memoryless baseline scored through the real metrics by a predictor that remembers nothing."""

import math

import numpy as np
import pytest
import torch

import seqmem
from seqmem.tasks.base import IGNORE
from seqmem.training.methods.shared import task_loss
from seqmem.training.metrics import Tally


def zoology_mqar(n, length, pairs, vocab, power_a, rng):
    """zoology's MQAR, re-implemented from HazyResearch/zoology `zoology/data/multiquery_ar.py`
    (`multiquery_ar`, num_passes=1, random_non_queries=True): inputs (n, length), labels with -100 off the
    queries."""
    context, half = 2 * pairs, vocab // 2
    keys = np.stack([rng.choice(np.arange(1, half), size=pairs, replace=False) for _ in range(n)])
    values = np.stack([rng.choice(np.arange(half, vocab), size=pairs, replace=False) for _ in range(n)])
    space = (length - context) // 2
    p = power_a * np.arange(1, space + 1) ** (power_a - 1)
    p /= p.sum()
    gaps = np.stack([rng.choice(space, size=pairs, replace=False, p=p) for _ in range(n)])
    queries = np.zeros((n, length - context + 1), dtype=np.int64)
    np.put_along_axis(queries, 2 * gaps, keys, axis=1)
    kvs = np.zeros((n, context), dtype=np.int64)
    kvs[:, 0::2], kvs[:, 1::2] = keys, values
    examples = np.concatenate([kvs, queries], axis=1)
    labels = np.full((n, length + 1), -100, dtype=np.int64)
    np.put_along_axis(labels, 2 * gaps + context + 1, values, axis=1)
    inputs, labels = examples[:, :-1], labels[:, 1:]
    zeros = inputs == 0
    inputs[zeros] = rng.integers(0, vocab, size=inputs.shape)[zeros]
    return inputs, labels


def layout_facts(x, y, pairs):
    """What both generators must agree on, row by row: keys asked once each, answered with their value."""
    context = 2 * pairs
    keys, values = x[:, 0:context:2], x[:, 1:context:2]
    gaps = []
    for row in range(len(x)):
        asked = np.flatnonzero(y[row] != -100)
        assert len(asked) == pairs and ((asked - context) % 2 == 0).all() and asked.min() >= context
        table = dict(zip(keys[row].tolist(), values[row].tolist(), strict=True))
        assert len(set(keys[row])) == pairs and len(set(values[row])) == pairs
        assert [table[k] for k in x[row, asked]] == y[row, asked].tolist()
        gaps.append([(asked[x[row, asked] == k][0] - context) // 2 for k in keys[row]])  # key j's gap
    return keys, values, np.array(gaps)


@pytest.mark.parametrize("length, pairs", [(64, 4), (128, 8)])
def test_zoology_layout_matches_zoology_multiquery_ar(length, pairs):
    n, vocab = 600, 8192
    task = seqmem.make_task("associative-recall", layout="zoology", length=length, pairs=pairs, queries=pairs,
                            test_size=n, validation_size=10)
    batch = task.get("test", torch.arange(n))
    x, y = batch.x.numpy(), batch.y.numpy()
    ref_x, ref_y = zoology_mqar(n, length, pairs, vocab, 0.01, np.random.default_rng(0))
    assert x.shape == ref_x.shape == (n, length) and task.span == length and task.vocab_size == vocab
    assert task.num_classes == vocab and 0 <= x.min() and x.max() < vocab
    keys, values, gaps = layout_facts(x, y, pairs)
    ref_keys, ref_values, ref_gaps = layout_facts(ref_x, ref_y, pairs)
    for ours, theirs in ((keys, ref_keys), (values, ref_values)):
        assert ours.min() >= theirs.min() - 5 and ours.max() <= theirs.max() + 5  # the same token ranges
    assert keys.min() >= 1 and keys.max() < vocab // 2 <= values.min()
    # the power-law gaps: key j's mean gap and how often it is asked first agree within sampling error
    spread = ref_gaps.std(axis=0) / math.sqrt(n)
    assert (abs(gaps.mean(axis=0) - ref_gaps.mean(axis=0)) < 4 * spread + 0.05).all()
    assert abs((gaps == 0).mean() - (ref_gaps == 0).mean()) < 0.04
    # only the queries are scored: the recall mask is exactly the scored targets
    assert torch.equal(batch.recall, batch.y != IGNORE) and batch.recall.sum(1).eq(pairs).all()
    # the filler is random tokens, not a blank
    filler = x[:, 2 * pairs:][y[:, 2 * pairs:] == -100]
    assert len(np.unique(filler)) > vocab // 4


def test_compact_stays_the_default_and_zoology_refuses_what_zoology_asserts():
    assert seqmem.make_task("associative-recall", test_size=5, validation_size=5).params()["layout"] == "compact"
    with pytest.raises(seqmem.ConfigError, match="queries"):
        seqmem.make_task("associative-recall", layout="zoology", pairs=4, queries=8, test_size=5, validation_size=5)
    with pytest.raises(seqmem.ConfigError, match="length"):
        seqmem.make_task("associative-recall", layout="zoology", pairs=8, length=24, test_size=5, validation_size=5)


def uniform_over(classes, batch, num_classes: int, blank: int | None = None) -> torch.Tensor:
    """Logits of a predictor that remembers nothing: uniform over `classes` at an answer (a recall target),
    certain of `blank` elsewhere."""
    logits = torch.full((*batch.y.shape, num_classes), -1e9)
    if blank is not None:
        logits[..., blank] = 0.0
    answer = torch.full((num_classes,), -1e9)
    answer[torch.as_tensor(classes)] = 0.0
    logits[batch.recall] = answer
    return logits


def check_memoryless(task, batch, logits) -> None:
    """The baseline is what the predictor scores: its loss through the real metrics (which count only the
    scored targets), its accuracies as expectations (the probability it gives each scored target)."""
    tally = Tally(getattr(task, "tolerance", None))
    tally.add(logits, batch)
    scored = batch.y != IGNORE
    right = logits.softmax(-1).gather(-1, batch.y.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    base = task.baseline()
    assert tally.targets == scored.sum().item() and tally.recalls == batch.recall.sum().item()
    assert tally.scores().loss == pytest.approx(base.loss, rel=1e-4)
    assert task_loss(logits, batch).item() == pytest.approx(base.loss, rel=1e-4)  # training reads the same targets
    assert right[scored].mean().item() == pytest.approx(base.accuracy, rel=1e-4)
    assert right[batch.recall].mean().item() == pytest.approx(base.recall_accuracy, rel=1e-4)


def test_zoology_memoryless_baseline_is_a_uniform_guess_over_the_values():
    task = seqmem.make_task("associative-recall", layout="zoology", pairs=4, queries=4, vocab=512, test_size=500,
                            validation_size=10)
    batch = task.get("test", torch.arange(500))
    check_memoryless(task, batch, uniform_over(range(256, 512), batch, task.num_classes))


def s4_copying(n, L, M, A, seed):
    """The S4 repository's selective copying, re-implemented from state-spaces/s4
    `src/dataloaders/datasets/copying.py` (`torch_copying_data`, variable=True): tokens 1..A-2 at sorted
    random places among L+M steps of noise 0, then M markers A-1; the targets are the tokens (the model's
    last M outputs)."""
    torch.manual_seed(seed)
    tokens = torch.randint(1, A - 1, (n, M))
    places = torch.stack([torch.randperm(L + M)[:M] for _ in range(n)]).sort(dim=1).values
    x = torch.zeros(n, L + M, dtype=torch.long).scatter_(1, places, tokens)
    return torch.cat([x, torch.full((n, M), A - 1)], dim=1), tokens


def mad_selective_copying(n, vocab_size, seq_len, num_tokens_to_copy, rng):
    """mad-lab's selective copying, re-implemented from athms/mad-lab `mad/data/instances.py`
    (`generate_copying_instance`, selective=True): symbols 0..V-3 with V-3.. blanks V-2 inserted before
    randomly chosen symbols, the copy token V-1, then as many blanks as symbols; targets -100 but there."""
    copy, blank, r = vocab_size - 1, vocab_size - 2, num_tokens_to_copy
    blanks = seq_len - 2 * r - 1
    xs, ys = [], []
    for _ in range(n):
        to_copy = rng.choice(vocab_size - 2, size=r)
        inputs = np.insert(to_copy, rng.integers(0, r, blanks), [blank] * blanks).tolist() + [copy] + [blank] * r
        xs.append(inputs)
        ys.append([-100] * (r + blanks + 1) + to_copy.tolist())
    return np.array(xs), np.array(ys)


def test_s4_layout_matches_the_s4_copying_generator():
    n, blank, r, alphabet = 2000, 40, 6, 8
    task = seqmem.make_task("selective-copy", layout="s4", blank=blank, recall_length=r, alphabet=alphabet,
                            test_size=n, validation_size=10)
    batch = task.get("test", torch.arange(n))
    theirs_x, theirs_y = s4_copying(n, blank, r, alphabet + 2, seed=0)
    # the same tokens under a relabelling: their noise 0 is our blank, their k our k-1, their marker ours
    ours = batch.x.clone()
    relabelled = torch.where(ours == task.blank_token, 0, torch.where(ours == task.marker, alphabet + 1, ours + 1))
    assert relabelled.shape == theirs_x.shape == (n, blank + 2 * r) and task.span == blank + 2 * r
    assert torch.equal(relabelled[:, -r:], theirs_x[:, -r:])
    for x, y in ((relabelled, batch.y[:, -r:] + 1), (theirs_x, theirs_y)):
        context = x[:, :-r]
        assert (context != 0).sum(1).eq(r).all() and torch.equal(context[context != 0].view(n, r), y)
        assert y.min() == 1 and y.max() == alphabet
    place = lambda x: (x[:, :-r] != 0).int().argmax(1).float()  # noqa: E731 (the first symbol's step)
    spread = place(theirs_x).std() / math.sqrt(n)
    assert abs(place(relabelled).mean() - place(theirs_x).mean()) < 4 * spread
    assert torch.equal(batch.recall, batch.y != IGNORE) and batch.recall[:, -r:].all()  # only the markers


def test_mad_layout_matches_mad_labs_selective_copying():
    n, blank, r, alphabet = 2000, 40, 6, 8
    task = seqmem.make_task("selective-copy", layout="mad", blank=blank, recall_length=r, alphabet=alphabet,
                            test_size=n, validation_size=10)
    batch = task.get("test", torch.arange(n))
    x, y = batch.x.numpy(), batch.y.numpy()
    theirs_x, theirs_y = mad_selective_copying(n, alphabet + 2, blank + 2 * r + 1, r, np.random.default_rng(0))
    assert x.shape == theirs_x.shape and task.span == x.shape[1]
    for a, b in ((x, y), (theirs_x, theirs_y)):
        assert (a[:, blank + r] == alphabet + 1).all() and (a[:, -r:] == alphabet).all()
        assert (a[:, blank + r - 1] < alphabet).all()  # the last symbol is next to the copy token
        context = a[:, :blank + r]
        assert ((context < alphabet).sum(1) == r).all()
        assert (context[context < alphabet].reshape(n, r) == b[:, -r:]).all() and (b[:, :-r] == -100).all()
    first = lambda a: (a[:, :blank + r] < alphabet).argmax(1)  # noqa: E731 (blanks before the first symbol)
    spread = first(theirs_x).std() / math.sqrt(n)
    assert abs(first(x).mean() - first(theirs_x).mean()) < 4 * spread


@pytest.mark.parametrize("layout", ["s4", "mad", "compact"])
def test_selective_copy_memoryless_baseline_for_each_layout(layout):
    task = seqmem.make_task("selective-copy", layout=layout, blank=30, recall_length=5, test_size=400,
                            validation_size=10)
    batch = task.get("test", torch.arange(400))
    check_memoryless(task, batch, uniform_over(range(task.alphabet), batch, task.num_classes, task.blank_token))


def test_hochreiter_temporal_order_draws_lengths_100_to_110_and_marks_at_10_20_and_50_60():
    """Hochreiter and Schmidhuber (1997), Long Short-Term Memory, section 5.6, experiment 6a (no code was
    published; the paper's text is the reference): length drawn between 100 and 110, E first and B last,
    X or Y at a position drawn between 10 and 20 and another between 50 and 60, distractors a-d elsewhere."""
    task = seqmem.make_task("temporal-order", layout="hochreiter", test_size=3000, validation_size=10)
    batch = task.get("test", torch.arange(3000))
    assert batch.x.shape == (3000, 110) and task.span == 110 and task.vocab_size == 9
    lengths, firsts, seconds = set(), set(), set()
    for x, y in zip(batch.x.tolist(), batch.y.tolist(), strict=True):
        start = x.index(6)
        seq = x[start:]
        assert set(x[:start]) <= {8} and seq[-1] == 7 and 8 not in seq and seq.count(6) == 1
        marked = [(t + 1, s) for t, s in enumerate(seq) if s in (4, 5)]  # positions counted from 1, E at 1
        (t1, s1), (t2, s2) = marked
        assert 10 <= t1 <= 20 and 50 <= t2 <= 60 and y == 2 * (s1 - 4) + (s2 - 4)
        assert set(seq[1:-1]) - {4, 5} <= {0, 1, 2, 3}
        lengths.add(len(seq)), firsts.add(t1), seconds.add(t2)
    assert lengths == set(range(100, 111)) and firsts == set(range(10, 21)) and seconds == set(range(50, 61))
    assert seqmem.make_task("temporal-order", test_size=5, validation_size=5).span == 100  # fixed stays the default


@pytest.mark.parametrize("layout", ["fixed", "hochreiter"])
def test_temporal_order_memoryless_baseline_for_each_layout(layout):
    task = seqmem.make_task("temporal-order", layout=layout, test_size=400, validation_size=10)
    batch = task.get("test", torch.arange(400))
    check_memoryless(task, batch, uniform_over(range(4), batch, task.num_classes))


def tcn_adding(n, length, rng):
    """The TCN paper's adding problem, re-implemented from locuslab/TCN `TCN/adding_problem/utils.py`
    (`data_generator`): numbers uniform in [0, 1], two distinct marked steps drawn anywhere, their sum."""
    numbers = rng.random((n, length))
    marks = np.zeros((n, length))
    for row in range(n):
        marks[row, rng.choice(length, size=2, replace=False)] = 1
    return numbers, marks, (numbers * marks).sum(1)


@pytest.mark.parametrize("marks", ["anywhere", "halves"])
def test_adding_marks_match_their_reference(marks):
    n, length = 4000, 40
    task = seqmem.make_task("adding", length=length, marks=marks, test_size=n, validation_size=10)
    batch = task.get("test", torch.arange(n))
    numbers, marked = batch.x[..., 0].numpy(), batch.x[..., 1].numpy()
    assert (marked.sum(1) == 2).all() and np.allclose((numbers * marked).sum(1), batch.y.numpy())
    apart = lambda m: np.ptp(np.argwhere(m)[:, 1].reshape(-1, 2), axis=1)  # noqa: E731 (steps between the marks)
    same_half = lambda m: (m[:, : length // 2].sum(1) != 1).mean()  # noqa: E731
    if marks == "halves":  # Arjovsky et al.: one mark in each half
        assert same_half(marked) == 0
        return
    _, theirs, _ = tcn_adding(n, length, np.random.default_rng(0))
    assert abs(apart(marked).mean() - apart(theirs).mean()) < 4 * apart(theirs).std() / math.sqrt(n)
    assert abs(same_half(marked) - same_half(theirs)) < 0.04 and same_half(marked) > 0.4
    assert abs(marked.mean(0) - theirs.mean(0)).max() < 0.03  # every step as likely to be marked


@pytest.mark.parametrize("marks, scale, within", [("anywhere", "sum", 0.0784), ("halves", "hochreiter", 0.1536)])
def test_adding_memoryless_baseline_for_each_layout(marks, scale, within):
    """Always answering 1 (the sum's mean) scores the baseline's MSE 1/6 and its share within tolerance."""
    n = 20000
    task = seqmem.make_task("adding", length=20, marks=marks, tolerance_scale=scale, test_size=n, validation_size=10)
    batch = task.get("test", torch.arange(n))
    tally = Tally(task.tolerance)
    tally.add(torch.ones(n, 1), batch)
    base = task.baseline()
    assert base.accuracy == pytest.approx(within) and base.loss == pytest.approx(1 / 6)
    assert tally.scores().loss == pytest.approx(base.loss, abs=4 * 0.197 / math.sqrt(n))
    assert tally.scores().accuracy == pytest.approx(base.accuracy, abs=4 * math.sqrt(within / n))
    assert task.params()["tolerance"] == 0.04 and task.tolerance == (0.08 if scale == "hochreiter" else 0.04)


def test_lstm_forget_bias_opens_only_the_forget_gates():
    task = seqmem.make_task("temporal-order", test_size=5, validation_size=5)
    plain = seqmem.make_model("lstm", task, hidden=8, layers=2, seed=0)
    opened = seqmem.make_model("lstm", task, hidden=8, layers=2, seed=0, forget_bias=3.0)
    for (name, a), b in zip(plain.named_parameters(), opened.parameters(), strict=True):
        difference = b - a
        if name.startswith("rnn.bias_ih"):
            assert torch.allclose(difference[8:16], torch.full((8,), 3.0))
            difference = torch.cat([difference[:8], difference[16:]])
        assert not difference.any(), name
