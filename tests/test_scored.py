"""The head only where a task scores (seqmem/training/scored.py): the same loss, gradients and scores as the head
at every position, for every built-in model family; a model without the hook runs whole, as before."""

import copy
import math
from pathlib import Path

import pytest
import torch

import seqmem
from seqmem.models.encoding import OutputHead
from seqmem.models.recurrent import GRU
from seqmem.run.contract import model_checks
from seqmem.tasks.base import IGNORE, Batch
from seqmem.training import scored
from seqmem.training.methods import make_method
from seqmem.training.methods.shared import task_loss
from seqmem.training.metrics import evaluate, evaluate_streamed

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED = {"encoder": "embedding", "embedding_dim": 8}  # float64 through: a one-hot is made float32
MODELS = {
    "rnn": {"hidden": 8, **EMBEDDED}, "gru": {"hidden": 8, **EMBEDDED}, "lstm": {"hidden": 8, **EMBEDDED},
    "tcn": {"levels": 4, "kernel_size": 4, "channels": 8, **EMBEDDED},
    "s4d": {"d_model": 8, "layers": 2, "state_size": 8, "encoder": "embedding"},
    "lru": {"d_model": 8, "layers": 2, "state_size": 8, "encoder": "embedding"},
    "mamba": {"d_model": 8, "layers": 2, "state_size": 4, "encoder": "embedding"},
    "attention": {"d_model": 8, "layers": 2},
    **{mixer: {"d_model": 16, "layers": 1} for mixer in (
        "linear-attention", "based", "retnet", "gla", "deltanet", "gated-deltanet", "mamba2", "mlstm", "baseconv",
        "hyena", "h3")},
}


def mqar(**settings):
    return seqmem.make_task("associative-recall", layout="zoology", length=32, pairs=4, queries=4, vocab=64,
                            test_size=64, validation_size=64, **settings)


def loss_and_gradients(model, batch, only_scored: bool):
    model.zero_grad(set_to_none=True)
    if only_scored:
        logits, where, _ = scored.forward(model, batch)
        assert where is not None and logits.shape == (int(where.sum()), model.head.classes)
    else:
        (logits, _), where = model(batch.x, cond=batch.cond), None  # the head at every position
    loss = task_loss(logits, batch, where)
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", MODELS)
def test_the_head_at_the_scored_positions_gives_the_full_heads_loss_and_every_gradient(name):
    task = mqar()
    model = seqmem.make_model(name, task, seed=1, allow_short_receptive_field=True, **MODELS[name]).double()
    batch = task.sample(8, torch.Generator().manual_seed(0))
    assert scored.takes_where(model)
    full_loss, full = loss_and_gradients(model, batch, only_scored=False)
    loss, grads = loss_and_gradients(model, batch, only_scored=True)
    assert abs(loss - full_loss) < 1e-10 and math.isfinite(loss)
    reached = [n for n, g in full.items() if g is not None and g.abs().sum() > 0]
    assert len(reached) >= len(full) // 2  # the comparison below compares gradients, not Nones
    for n, g in full.items():
        assert (g is None) == (grads[n] is None), n
        if g is not None:
            assert (g - grads[n]).abs().max() < 1e-10, n


def test_a_per_sequence_head_reads_each_positions_own_condition():
    """condition head: one map per delay; each scored position takes its own row's."""
    task = seqmem.make_task("echo-letters", max_delay=3, seq_length=12, test_size=8, validation_size=8)
    model = seqmem.make_model("gru", task, seed=0, hidden=8, condition="head", **EMBEDDED).double()
    batch = task.get("test", torch.arange(8))
    y = torch.full_like(batch.y, IGNORE)
    y[:, 5::4] = batch.y[:, 5::4]  # 2 of 12 scored
    batch = Batch(batch.x, y, y != IGNORE, batch.cond)
    assert batch.cond.unique().numel() > 1
    full_loss, full = loss_and_gradients(model, batch, only_scored=False)
    loss, grads = loss_and_gradients(model, batch, only_scored=True)
    assert abs(loss - full_loss) < 1e-10
    assert all((full[n] - grads[n]).abs().max() < 1e-10 for n in full)
    h = torch.randn(8, 12, 8, dtype=torch.float64)
    assert torch.equal(model.head(h, batch.cond, where=batch.recall), model.head(h, batch.cond)[batch.recall])


def test_the_scored_path_is_taken_only_where_few_targets_count():
    generator = torch.Generator().manual_seed(0)
    assert scored.scored_positions(mqar().sample(4, generator)) is not None  # 4 of 32
    compact = seqmem.make_task("associative-recall", pairs=4, queries=4, test_size=8, validation_size=8)
    assert scored.scored_positions(compact.sample(4, generator)) is None  # every target counts
    adding = seqmem.make_task("adding", length=20, test_size=8, validation_size=8)
    assert scored.scored_positions(adding.get("test", torch.arange(4))) is None  # real-valued targets
    order = seqmem.make_task("temporal-order", test_size=8, validation_size=8)
    assert scored.scored_positions(order.sample(4, generator)) is None  # a class a sequence
    last = seqmem.make_task("parity", length=16, scored="last", test_size=8, validation_size=8)
    assert scored.scored_positions(last.sample(4, generator)).sum() == 4  # the last step of each


class Silenced(GRU):
    """A subclass that rewrites `forward` alone: its logits all 0, so its loss is log(classes) exactly."""

    def forward(self, x, state=None, cond=None):
        logits, state = super().forward(x, state, cond)
        return logits * 0, state


def test_a_model_without_the_hook_runs_whole_and_still_trains():
    task = mqar()
    config = seqmem.TrainConfig(steps=4, batch_size=8, eval_every=4, lr=1e-2)
    user = seqmem.make_model(f"{ROOT}/examples/min_gru.py:MinGRU", task, hidden=8)  # its own nn.Linear head
    assert not scored.takes_where(user)
    before = copy.deepcopy(user.state_dict())
    result = seqmem.train(user, task, config, progress=False)
    assert math.isfinite(result.loss) and any(not torch.equal(before[k], v) for k, v in user.state_dict().items())
    silenced = Silenced(task, hidden=8, encoder="embedding", embedding_dim=8)
    assert not scored.takes_where(silenced)  # its own forward takes no `where`
    method = make_method(silenced, task, config)
    loss, _ = method.update(task.sample(8, torch.Generator().manual_seed(0)))
    assert loss == pytest.approx(math.log(task.num_classes), abs=1e-6)


def test_evaluation_scores_what_the_full_head_scores(monkeypatch):
    """Loss, accuracy, recall and sequence accuracy, whole and streamed through the state in chunks."""
    task = mqar()
    model = seqmem.make_model("gru", task, seed=0, hidden=16, **EMBEDDED)
    seqmem.train(model, task, seqmem.TrainConfig(steps=30, batch_size=16, eval_every=30, lr=1e-2), progress=False)
    blocks = [task.get("validation", torch.arange(64))]
    ours = [evaluate(model, task, "validation", 32), evaluate_streamed(model, blocks, chunk=8)]
    with monkeypatch.context() as m:
        m.setattr(scored, "SPARSE", -1.0)  # no batch is sparse enough: the head at every position
        assert scored.scored_positions(blocks[0]) is None
        full = [evaluate(model, task, "validation", 32), evaluate_streamed(model, blocks, chunk=8)]
    for a, b in zip(ours, full, strict=True):
        assert a.accuracy == b.accuracy and a.recall_accuracy == b.recall_accuracy
        assert a.sequence_accuracy == b.sequence_accuracy and a.loss == pytest.approx(b.loss, rel=1e-6)
    assert 0 < ours[0].recall_accuracy and ours[0].accuracy == ours[0].recall_accuracy  # only the queries count


def test_truncated_bptt_carries_the_state_through_the_scored_head_as_through_the_full_one(monkeypatch):
    task = mqar()
    model = seqmem.make_model("gru", task, seed=0, hidden=8, **EMBEDDED).double()
    batch = task.sample(16, torch.Generator().manual_seed(3))
    chunks = [batch.time_slice(0, 16), batch.time_slice(16, 32)]
    assert all(scored.scored_positions(c) is not None for c in chunks)
    config = seqmem.TrainConfig(steps=2, lr=1e-2, clip=1.0)

    def two_updates(net):
        method, state, losses = make_method(net, task, config, "tbptt", chunk_length=16), None, []
        for chunk in chunks:
            loss, state = method.update(chunk, state)
            losses.append(loss)
        return losses

    ours, theirs = copy.deepcopy(model), copy.deepcopy(model)
    losses = two_updates(ours)
    with monkeypatch.context() as m:
        m.setattr(scored, "SPARSE", -1.0)
        full = two_updates(theirs)
    assert losses == pytest.approx(full, abs=1e-10)
    for (n, a), b in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert (a - b).abs().max() < 1e-10, n


def test_an_output_head_at_positions_is_the_whole_heads_logits_there():
    task = mqar()
    head = OutputHead(8, task)
    h, where = torch.randn(3, 32, 8), torch.rand(3, 32) < 0.2
    assert torch.equal(head(h, where=where), head(h)[where])


class IgnoresWhere(GRU):
    """Takes `where` but returns the logits at every position."""

    def forward(self, x, state=None, cond=None, where=None):
        return super().forward(x, state, cond)


def test_the_contract_holds_a_forward_that_takes_where_to_the_whole_forwards_logits_there():
    task = mqar()
    good = seqmem.make_model("gru", task, hidden=8, **EMBEDDED)
    lines = [line for passed, line in model_checks(good, task) if line.startswith("where")]
    assert lines == ["where: the logits at 22 marked positions alone, the whole forward's there"]
    bad = IgnoresWhere(task, hidden=8, encoder="embedding", embedding_dim=8)
    failed = [line for passed, line in model_checks(bad, task) if not passed]
    assert failed == ["forward(x, where=mask) returned logits (2, 32, 64): expected (22, 64), the logits at the "
                      "positions the mask marks (row-major), or take no `where`"]
