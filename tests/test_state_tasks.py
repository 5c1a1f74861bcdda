"""Induction heads, parity and the word problem: each generator against its reference re-implemented here
(cited), the exact memoryless baselines against a simulated memoryless predictor, bad settings refused by
name, and scores at other lengths streamed through the state equal to the whole sequence's."""

import itertools
import json
import math

import numpy as np
import pytest
import torch

import seqmem
from seqmem import ConfigError
from seqmem.report.tables import table
from seqmem.tasks.base import IGNORE, generator_for
from seqmem.training import metrics
from seqmem.training.metrics import Tally, evaluate_streamed
from tests.in_process import seqmem_main


def safari_induction_head(rng: np.random.Generator, input_seq_len: int, tokens: int) -> list:
    """HazyResearch/safari `src/dataloaders/synthetics.py` `generate_induction_head` with `induction_len` 1 and
    one trigger, re-implemented: `input_seq_len` uniform ordinary tokens, the copy prefix ("=>", here -1)
    written at a uniform place in [0, input_seq_len - 2), the copy prefix appended, then the token that
    followed the first one. Its example is split as x = example[:-1], label = example[1:], only the last
    label kept in the test set."""
    seq = list(rng.choice(tokens, input_seq_len))
    rng.uniform()  # its draw of the number of triggers, which is 1 either way here
    place = int(rng.integers(input_seq_len - 2))
    to_copy = seq[place + 1]
    seq[place] = -1
    return seq + [-1, to_copy]


def test_induction_heads_match_safaris_generator_in_distribution():
    length, n = 12, 20000
    task = seqmem.make_task("induction-heads", length=length, test_size=n, validation_size=10)
    batch = task.get("test", torch.arange(n))
    rng = np.random.default_rng(0)
    reference = np.array([safari_induction_head(rng, length - 1, 16) for _ in range(n)])  # (n, L + 1)
    ref_x, ref_answer = reference[:, :-1], reference[:, -1]
    ref_x[ref_x == -1] = 16
    assert batch.x.shape == ref_x.shape and (batch.y[:, :-1] == IGNORE).all() and batch.recall[:, -1].all()
    for x, answer in ((batch.x.numpy(), batch.y[:, -1].numpy()), (ref_x, ref_answer)):
        assert (x[:, -1] == 16).all() and ((x[:, :-1] == 16).sum(axis=1) == 1).all()
        first = (x == 16).argmax(axis=1)
        assert (answer == x[np.arange(n), first + 1]).all()
    positions = [np.bincount((x == 16).argmax(axis=1), minlength=length) / n for x in (batch.x.numpy(), ref_x)]
    assert np.abs(positions[0] - positions[1]).max() < 0.02 and positions[0][length - 3:].sum() == 0
    answers = [np.bincount(a, minlength=16) / n for a in (batch.y[:, -1].numpy(), ref_answer)]
    assert np.abs(answers[0] - answers[1]).max() < 0.015 and len(answers[0]) == 16


def abstract_algebra_group(name: str):
    """jopetty/word-problem `src/generate_data.py` builds its groups with alreich/abstract_algebra: S_n's
    elements are `itertools.permutations((1, ..., n))` in order, `p * q` is `i -> p[q[i]]` (`Perm.__mul__` in
    `src/permutations.py`, q applied first), A_n is S_n's commutator subgroup with its elements sorted by their
    index in S_n (`commutator_subalgebra`, `subalgebra_from_elements` in `src/finite_algebras.py`)."""
    n = int(name[1:])
    s_n = list(itertools.permutations(range(1, n + 1)))

    def mul(p, q):
        return tuple(p[q[i] - 1] for i in range(n))

    if name[0] == "s":
        return s_n, mul
    inverse = {p: next(q for q in s_n if mul(p, q) == s_n[0]) for p in s_n}
    closed = {mul(mul(a, b), mul(inverse[a], inverse[b])) for a in s_n for b in s_n}
    while True:  # closure under the product (a finite group's commutators generate a subgroup)
        grown = closed | {mul(a, b) for a in closed for b in closed}
        if grown == closed:
            break
        closed = grown
    return sorted(closed, key=s_n.index), mul


def jopetty_scan(sequence, elements, mul):
    """Its `scanned`: acc = 0 (the identity's index), then acc = index(elements[acc] * elements[x])."""
    acc, out = 0, []
    for x in sequence:
        acc = elements.index(mul(elements[acc], elements[x]))
        out.append(acc)
    return out


@pytest.mark.parametrize("group, order, rows", [("s3", 6, 50), ("a5", 60, 10), ("s5", 120, 4)])
def test_word_problem_matches_jopettys_element_order_and_product(group, order, rows):
    elements, mul = abstract_algebra_group(group)
    assert len(elements) == order and elements[0] == tuple(range(1, int(group[1]) + 1))
    task = seqmem.make_task("word-problem", group=group, length=40, test_size=rows, validation_size=2)
    assert task.num_classes == task.vocab_size == order
    batch = task.get("test", torch.arange(rows))
    for x, y in zip(batch.x.tolist(), batch.y.tolist(), strict=True):
        assert y == jopetty_scan(x, elements, mul)


def test_parity_and_mod_k_counting_targets():
    for modulus in (2, 5):
        task = seqmem.make_task("parity", length=30, modulus=modulus, test_size=50, validation_size=2)
        batch = task.get("test", torch.arange(50))
        assert batch.x.max() == modulus - 1 and batch.x.min() == 0
        for x, y in zip(batch.x.tolist(), batch.y.tolist(), strict=True):
            assert y == [sum(x[: t + 1]) % modulus for t in range(30)]
        assert not batch.recall[:, 0].any() and batch.recall[:, 1:].all()
    last = seqmem.make_task("parity", length=30, scored="last", test_size=50, validation_size=2).get(
        "test", torch.arange(50))
    assert (last.y[:, :-1] == IGNORE).all() and torch.equal(last.y[:, -1], last.x.sum(dim=1) % 2)


def memoryless_logits(task, batch) -> torch.Tensor:
    """A predictor that sees only the current input (and its step): certain of the first step's answer (the
    input), the input itself guessed elsewhere (as good as any guess: the running value is independent of
    it), with uniform logits, so the loss is a uniform guess's; the special token never guessed."""
    classes = task.num_classes
    logits = torch.zeros(*batch.x.shape, classes)
    guess = batch.x.clamp(max=classes - 2) if task.name == "induction-heads" else batch.x
    logits.scatter_(2, guess.unsqueeze(2), 1e-4)  # argmax: the guess; the loss: uniform's within 1e-4
    if task.name == "induction-heads":
        logits[..., task.special] = -1e9
    else:
        logits[:, 0] = -1e9
        logits[:, 0].scatter_(1, batch.x[:, :1], 0.0)
    return logits


@pytest.mark.parametrize("name, params", [
    ("parity", {"length": 20}), ("parity", {"length": 20, "modulus": 3}),
    ("parity", {"length": 20, "scored": "last"}), ("word-problem", {"length": 20, "group": "s3"}),
    ("word-problem", {"length": 8, "group": "a5"}), ("induction-heads", {"length": 20}),
])
def test_the_memoryless_baseline_is_what_a_memoryless_predictor_scores(name, params):
    task = seqmem.make_task(name, test_size=20000, validation_size=2, **params)
    batch = task.get("test", torch.arange(20000))
    tally = Tally()
    tally.add(memoryless_logits(task, batch), batch)
    scores, baseline = tally.scores(), task.baseline()
    assert scores.loss == pytest.approx(baseline.loss, abs=2e-3)  # float32 sums of 20000 losses
    assert scores.accuracy == pytest.approx(baseline.accuracy, abs=0.01)
    assert scores.recall_accuracy == pytest.approx(baseline.recall_accuracy, abs=0.01)
    if baseline.sequence_accuracy > 1e-3:
        assert scores.sequence_accuracy == pytest.approx(baseline.sequence_accuracy, abs=0.01)


def test_the_baselines_exact_values():
    parity = seqmem.make_task("parity", length=10, test_size=2, validation_size=2).baseline()
    assert parity.accuracy == pytest.approx((1 + 9 / 2) / 10) and parity.loss == pytest.approx(0.9 * math.log(2))
    words = seqmem.make_task("word-problem", length=10, group="a5", test_size=2, validation_size=2).baseline()
    assert words.recall_accuracy == pytest.approx(1 / 60) and words.accuracy == pytest.approx((1 + 9 / 60) / 10)
    heads = seqmem.make_task("induction-heads", test_size=2, validation_size=2).baseline()
    assert heads.accuracy == heads.recall_accuracy == 1 / 16 and heads.loss == pytest.approx(math.log(16))


@pytest.mark.parametrize("name, params, setting", [
    ("parity", {"modulus": 1}, "modulus"), ("parity", {"length": 1}, "length"),
    ("parity", {"scored": "first"}, "scored"), ("parity", {"eval_lengths": "64,x"}, "eval_lengths"),
    ("parity", {"eval_lengths": "1"}, "eval_lengths"), ("word-problem", {"group": "s4"}, "group"),
    ("induction-heads", {"length": 3}, "length"), ("induction-heads", {"vocab": 1}, "vocab"),
    ("induction-heads", {"eval_lengths": "100,3"}, "eval_lengths"),
])
def test_bad_settings_are_refused_by_name(name, params, setting):
    with pytest.raises(ConfigError, match=setting):
        seqmem.make_task(name, test_size=2, validation_size=2, **params)


def test_test_sets_at_other_lengths_are_fixed_fresh_and_in_blocks():
    task = seqmem.make_task("parity", length=16, eval_lengths="64, 32,64", test_size=30, validation_size=2)
    assert task.eval_lengths == (64, 32)
    first, again = list(task.test_at(64)), list(task.test_at(64))
    assert sum(len(b) for b in first) == 30 and all(b.x.shape[1] == 64 for b in first)
    assert all(torch.equal(a.x, b.x) for a, b in zip(first, again, strict=True))
    assert not torch.equal(next(iter(task.test_at(32))).x, first[0].x[:, :32])
    blocks = list(task.test_at(2**17))  # 2^21 tokens a block: 16 rows each
    assert [len(b) for b in blocks] == [16, 14]


@pytest.mark.parametrize("model_name", ["gru", "attention"])
def test_scores_streamed_through_the_state_equal_the_whole_sequences(model_name, monkeypatch):
    torch.manual_seed(0)
    task = seqmem.make_task("parity", length=16, test_size=40, validation_size=2)
    model = seqmem.make_model(model_name, task, seed=0, **({"hidden": 16} if model_name == "gru" else
                                                          {"d_model": 16, "layers": 1}))
    blocks = list(task.test_at(100))
    whole = evaluate_streamed(model, blocks, chunk=1000)
    chunked = evaluate_streamed(model, blocks, chunk=7)
    assert chunked.as_dict() == pytest.approx(whole.as_dict(), rel=1e-5)
    assert 0 < whole.sequence_accuracy or whole.recall_accuracy < 1
    monkeypatch.setattr(metrics, "WHOLE_PAIRS", 3 * 100 * 100)  # a model without state: 3 rows a forward
    assert evaluate_streamed(model, blocks, chunk=1000).as_dict() == pytest.approx(whole.as_dict(), rel=1e-5)


@pytest.mark.parametrize("name, params", [
    ("parity", ["--length", "8", "--modulus", "3"]), ("word-problem", ["--length", "8", "--group", "a5"]),
    ("induction-heads", ["--length", "12"]),
])
def test_each_task_trains_from_the_command_line_and_records_scores_by_length(tmp_path, name, params):
    done = seqmem_main("train", name, *params, "--eval-lengths", "20,40", "--test-size", "20",
                       "--validation-size", "20", "--model", "gru", "--hidden", "8", "--steps", "2", "--quiet",
                       "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(summary["by_length"]) == {"20", "40"}
    assert all(0 <= s["recall_accuracy"] <= 1 for s in summary["by_length"].values())
    at_40 = summary["by_length"]["40"]["baseline"]  # the memoryless baseline at that length
    expected = {"parity": (1 + 39 / 3) / 40, "word-problem": (1 + 39 / 60) / 40, "induction-heads": 1 / 16}[name]
    assert at_40["accuracy"] == pytest.approx(expected)
    frame = seqmem.results(tmp_path / "run")
    assert frame.loc[0, "by_length.40.recall_accuracy"] == summary["by_length"]["40"]["recall_accuracy"]


def test_the_report_shows_recall_at_each_length_within_100_columns():
    records = [{"run": f"runs/parity-{m}", "task": "parity", "model": m, "method": "bptt", "recall_accuracy": 1.0,
                "baseline": {"recall_accuracy": 0.5}, "steps": 300, "train_seconds": 4.0, "parameters": 50946,
                "by_length": {str(n): {"recall_accuracy": r} for n, r in zip((65536, 256, 1024), recalls,
                                                                             strict=True)}}
               for m, recalls in (("gru", (0.75, 1.0, 0.875)), ("lstm", (0.5, 0.625, 0.5)))]
    text = table(records)
    lines = text.splitlines()
    lines = lines[lines.index("recall accuracy at other lengths than training:"):]
    assert max(map(len, lines)) <= 100  # the table of lengths; the one above it is the usual one
    head = next(line for line in lines if "L=256" in line)
    assert head.index("L=256") < head.index("L=1024") < head.index("L=65536")
    assert any(line.startswith("runs/parity-gru") and line.split()[-3:] == ["1.0000", "0.8750", "0.7500"]
               for line in lines)
    assert "L=" not in table([{k: v for k, v in records[0].items() if k != "by_length"}])


def test_seeds_apart_from_the_fixed_sets():
    task = seqmem.make_task("word-problem", length=10, test_size=5, validation_size=5)
    assert not torch.equal(task.get("test", torch.arange(5)).x, task.get("validation", torch.arange(5)).x)
    assert torch.equal(task.sample(3, generator_for(1)).x, task.sample(3, generator_for(1)).x)
