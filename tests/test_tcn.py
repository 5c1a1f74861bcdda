"""The TCN: its receptive field is what the gradient says it is, and a too-short one is refused."""

import math
from types import SimpleNamespace

import pytest
import torch

from seqmem import make_model, make_task
from seqmem.models.tcn import TCN, receptive_field
from seqmem.run.build import ReceptiveFieldError


def measured_receptive_field(model, length: int) -> int:
    """How many steps back the last output's gradient reaches, over a few random inputs."""
    model.eval()
    x = torch.randn(4, length, 1, requires_grad=True)
    logits, _ = model(x)
    logits[:, -1].sum().backward()
    reached = (x.grad.abs().sum(dim=(0, 2)) > 0).nonzero()
    return length - reached.min().item()


@pytest.mark.parametrize("levels,kernel_size", [(1, 2), (3, 3), (4, 8), (5, 2)])
def test_receptive_field_matches_the_gradient(levels, kernel_size):
    task = make_task("copy-memory", blank=1, recall_length=1, test_size=1)
    model = make_model("tcn", task, levels=levels, kernel_size=kernel_size, channels=6,
                       allow_short_receptive_field=True)
    length = model.receptive_field + 40
    assert measured_receptive_field(model, length) == model.receptive_field
    assert model.receptive_field == 1 + 2 * (kernel_size - 1) * (2**levels - 1)


def test_notebook_000_tcn_is_refused_with_the_smallest_fix():
    task = make_task("copy-memory", blank=10000, test_size=1)
    with pytest.raises(ReceptiveFieldError) as err:
        make_model("tcn", task, levels=8, kernel_size=8, channels=10)
    message = str(err.value)
    assert "receptive field 3571 < 10020 steps" in message
    assert "--levels 10 (14323)" in message and "--kernel-size 21 (10201)" in message
    assert receptive_field(9, 8) < 10020 <= receptive_field(10, 8)
    assert receptive_field(8, 20) < 10020 <= receptive_field(8, 21)
    model = make_model("tcn", task, levels=8, kernel_size=8, channels=10, allow_short_receptive_field=True)
    assert model.receptive_field == 3571


def test_outputs_never_see_the_future():
    task = make_task("copy-memory", blank=10, test_size=1)
    model = make_model("tcn", task, levels=4, kernel_size=3, channels=5).eval()
    x = torch.randn(2, 30, 1)
    changed = x.clone()
    changed[:, 20:] += 1.0
    a, _ = model(x)
    b, _ = model(changed)
    assert torch.allclose(a[:, :20], b[:, :20]) and not torch.allclose(a[:, 20:], b[:, 20:])


def test_same_seed_same_weights():
    task = make_task("copy-memory", blank=10, test_size=1)
    a = make_model("tcn", task, levels=3, seed=7)
    b = make_model("tcn", task, levels=3, seed=7)
    c = make_model("tcn", task, levels=3, seed=8)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_small_init_survives_weight_norm():
    """`init_std` is applied before weight norm, so the effective weights keep it (locuslab's is undone)."""
    task = make_task("copy-memory", blank=10, test_size=1)
    model = make_model("tcn", task, levels=3, channels=32, kernel_size=4, init_std=0.01)
    w = model.blocks[1].conv1.conv.weight
    assert w.std().item() == pytest.approx(0.01, rel=0.2)
    assert math.isinf(make_model("gru", task, hidden=8).receptive_field)


def test_a_stream_fed_in_chunks_gives_the_whole_stream_outputs():
    """The carried state (each convolution's last inputs) makes chunked and whole runs equal."""
    task = make_task("copy-memory", blank=10, test_size=1)
    model = make_model("tcn", task, levels=3, kernel_size=3, channels=5, seed=1, allow_short_receptive_field=True).eval()
    x = torch.randn(2, 50, 1)
    whole, _ = model(x)
    state, pieces = None, []
    for lo, hi in ((0, 7), (7, 9), (9, 30), (30, 50)):  # chunks shorter and longer than the receptive field
        out, state = model(x[:, lo:hi], state)
        pieces.append(out)
    assert torch.allclose(torch.cat(pieces, dim=1), whole, atol=1e-5)


def classifier_task():
    """What the TCN reads of a sequence-classification task (as the image tasks), without their data."""
    return SimpleNamespace(name="images", vocab_size=None, input_channels=1, num_classes=10, per_step=False,
                           cond_size=None)


@pytest.mark.parametrize("length", [784, 100, 9])
def test_the_last_step_form_gives_the_whole_sequence_logits(length):
    """A classifier runs level i on every 2**i-th step; its logits are those of the full computation."""
    torch.manual_seed(3)
    model = TCN(classifier_task(), levels=8, kernel_size=7, channels=8)
    x = torch.randn(3, length, 1)
    last, state = model(x)
    model.head.per_step = True  # the full computation of every step, read at the last
    full, _ = model(x)
    assert state is None and last.shape == (3, 10)
    torch.testing.assert_close(last, full[:, -1], atol=1e-5, rtol=1e-4)


def test_parameter_names_are_those_of_weight_normed_conv1d():
    """Checkpoints saved before the convolution was our own still load."""
    task = make_task("copy-memory", blank=10, test_size=1)
    keys = set(make_model("tcn", task, levels=2, kernel_size=3, channels=5,
                                allow_short_receptive_field=True).state_dict())
    for block, conv in ((0, "conv1"), (1, "conv2")):
        prefix = f"blocks.{block}.{conv}.conv."
        assert {prefix + "bias", prefix + "parametrizations.weight.original0",
                prefix + "parametrizations.weight.original1"} <= keys
    assert {"blocks.0.downsample.weight", "head.linear.weight"} <= keys
    assert len(keys) == 2 * 2 * 3 + 2 + 2
