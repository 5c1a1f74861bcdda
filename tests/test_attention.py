"""Attention: the mixer equals softmax attention written out as zoology writes it, RoPE equals its formula, the
window equals a masked reference, a stream in chunks equals the whole (values and gradients), no output sees a
later input, and the registered model learns MQAR and trains from the command line."""

import math

import pytest
import torch

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.mixers.attention import Attention, rotate, windowed
from seqmem.models.backbone import Backbone
from seqmem.run.build import ReceptiveFieldError


def reference(mixer: Attention, u: torch.Tensor, window: int | None = None) -> torch.Tensor:
    """Multi-head softmax attention as HazyResearch/zoology's `zoology/mixers/attention.py` computes it
    (`SelfAttention.forward`): scores an einsum of Q and K scaled by 1/sqrt(head dim), a causal mask added,
    softmax, an einsum with V; then the output map. The mixer's own weights; RoPE, if on, by its `rotate`."""
    B, L, D = u.shape
    qkv = mixer.qkv(u).view(B, L, 3, mixer.heads, D // mixer.heads)  # (B, L, 3, H, E)
    q, k, v = qkv.unbind(dim=2)  # (B, L, H, E)
    if mixer.positions == "rope":
        q, k = (rotate(t.transpose(1, 2), 0).transpose(1, 2) for t in (q, k))
    scores = torch.einsum("bthd,bshd->bhts", q, k / math.sqrt(q.shape[-1]))  # (B, H, L, L)
    t, s = torch.arange(L).unsqueeze(-1), torch.arange(L)
    hidden = s > t if window is None else (s > t) | (s <= t - window)
    scores = scores.masked_fill(hidden, float("-inf"))
    context = torch.einsum("bhts,bshd->bthd", torch.softmax(scores, dim=-1), v)  # (B, L, H, E)
    return mixer.out(context.reshape(B, L, D))


def inputs(batch=2, length=12, width=8, seed=1):
    return torch.randn(batch, length, width, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("heads, positions", [(1, "none"), (2, "none"), (2, "rope"), (4, "rope")])
def test_it_equals_attention_written_out_as_zoology_writes_it(heads, positions):
    torch.manual_seed(0)
    mixer = Attention(8, l_max=12, heads=heads, positions=positions)
    u = inputs()
    y, _ = mixer(u)
    assert torch.allclose(y, reference(mixer, u), atol=1e-5)
    control = Attention(8, l_max=12, heads=heads, positions="learned")  # other weights, positions added: differs
    assert not torch.allclose(control(u)[0], reference(mixer, u), atol=1e-3)


def test_rope_turns_each_pair_by_its_position_times_its_frequency():
    """RoFormer (Su et al. 2021, eq. 34): the pair (x_2i, x_2i+1), read as the complex number x_2i + i x_2i+1,
    is multiplied by exp(i m theta_i) at position m, theta_i = 10000^(-2i/E)."""
    x = torch.randn(2, 3, 5, 8, generator=torch.Generator().manual_seed(0))  # (B, H, L, E)
    start = 7
    theta = 10000.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    m = torch.arange(start, start + 5, dtype=torch.float64).unsqueeze(-1)
    z = torch.complex(x[..., 0::2].double(), x[..., 1::2].double()) * torch.exp(1j * m * theta)
    expected = torch.stack([z.real, z.imag], dim=-1).flatten(-2).float()
    assert torch.allclose(rotate(x, start), expected, atol=1e-5)
    assert not torch.allclose(rotate(x, start + 1), expected, atol=1e-3)  # control: the position matters
    odd = torch.cat([x, x[..., :1]], dim=-1)  # an odd width: the pairs turned alike, the last number kept
    assert torch.allclose(rotate(odd, start), torch.cat([expected, x[..., :1]], dim=-1), atol=1e-5)
    q, k = x[:, :, :1], x[:, :, 1:2]  # a rotated query and key meet by their distance alone
    assert torch.allclose((rotate(q, 3) * rotate(k, 1)).sum(-1), (rotate(q, 12) * rotate(k, 10)).sum(-1), atol=1e-5)


@pytest.mark.parametrize("window, positions", [(1, "none"), (3, "none"), (4, "rope"), (12, "rope")])
def test_the_window_equals_attention_masked_to_it(window, positions):
    torch.manual_seed(0)
    mixer = Attention(8, l_max=12, heads=2, positions=positions, window=window)
    u = inputs()
    assert torch.allclose(mixer(u)[0], reference(mixer, u, window), atol=1e-5)
    if window < 12:  # control: the unwindowed reference differs
        assert not torch.allclose(mixer(u)[0], reference(mixer, u), atol=1e-3)


@pytest.mark.parametrize("length, past, window", [(100, 0, 5), (100, 0, 64), (70, 9, 40), (33, 80, 7), (5, 3, 1),
                                                  (64, 0, 64), (130, 64, 64)])
def test_the_blocked_window_equals_the_masked_square_in_values_and_gradients(length, past, window):
    """`windowed` (blocks of queries against the keys they can see) against softmax attention over the whole
    (L, P + L) square masked to the window, float64: lengths not a multiple of a block, a past shorter and
    longer than the window, a window of 1."""
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, length, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    k, v = (torch.randn(2, 3, past + length, 4, generator=gen, dtype=torch.float64, requires_grad=True)
            for _ in range(2))
    t, s = torch.arange(length).unsqueeze(-1) + past, torch.arange(past + length)
    hidden = (s > t) | (s <= t - window)
    scores = (q @ k.transpose(-1, -2) / 2).masked_fill(hidden, float("-inf"))  # 1 / sqrt(4)
    expected = scores.softmax(-1) @ v
    got = windowed(q, k, v, window)
    weights = torch.randn(expected.shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    for a, b in zip(torch.autograd.grad((got * weights).sum(), (q, k, v)),
                    torch.autograd.grad((expected * weights).sum(), (q, k, v)), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    if window > 1:  # control: a window one shorter differs
        assert (windowed(q, k, v, window - 1) - expected).abs().max() > 1e-3


def chunked(model, x, cuts):
    """The model's logits over `x` fed in pieces at `cuts`, the state carried (not detached)."""
    outputs, state = [], None
    for piece in torch.tensor_split(x, cuts, dim=1):
        logits, state = model(piece, state)
        outputs.append(logits)
    return torch.cat(outputs, dim=1)


@pytest.mark.parametrize("settings", [{}, {"heads": 2, "positions": "learned"}, {"positions": "none", "window": 3},
                                      {"window": 5, "state_mixer": "swiglu", "norm": "rmsnorm"}])
def test_a_stream_in_chunks_equals_the_whole_in_values_and_gradients(settings):
    task = seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)
    model = seqmem.make_model("attention", task, d_model=16, allow_short_receptive_field=True, **settings)
    x = task.get("test", torch.arange(3)).x  # (3, 24)
    weights = torch.randn(3, 24, task.num_classes, generator=torch.Generator().manual_seed(2))
    whole = model(x)[0]
    grads_whole = torch.autograd.grad((whole * weights).sum(), list(model.parameters()))
    pieces = chunked(model, x, [5, 6, 17])  # a chunk of one step among them
    grads_pieces = torch.autograd.grad((pieces * weights).sum(), list(model.parameters()))
    assert torch.allclose(pieces, whole, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads_pieces, grads_whole, strict=True))
    assert not torch.allclose(model(x[:, 10:])[0], whole[:, 10:], atol=1e-3)  # control: without the state


def test_no_output_sees_a_later_input():
    task = seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)
    model = seqmem.make_model("attention", task, d_model=16, heads=2)
    x = task.get("test", torch.arange(2)).x
    later = x.clone()
    later[:, 15] = (later[:, 15] + 1) % 32
    with torch.no_grad():
        moved = (model(x)[0] - model(later)[0]).abs().amax(dim=(0, 2))  # (L,)
    assert moved[:15].max() < 1e-6 < moved[15:].min()  # control: from step 15 on, the outputs move


def test_its_state_size_is_the_cache_as_zoology_counts_it():
    assert Attention(16).state_size(sequence_length=100) == 2 * 16 * 100
    assert Attention(16, window=8).state_size(sequence_length=100) == 2 * 16 * 8
    task = seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)
    model = seqmem.make_model("attention", task, d_model=16, layers=3)
    assert model.state_size(sequence_length=24) == 3 * 2 * 16 * 24
    _, (k, v, seen) = model.blocks[0].mixer(torch.randn(2, 24, 16))
    assert k.numel() + v.numel() == 2 * Attention(16).state_size(sequence_length=24)  # a batch of 2
    assert int(seen) == 24


@pytest.mark.parametrize("params, expected", [
    ({"heads": 3}, "heads must divide d_model (16), got 3"),
    ({"heads": 0}, "heads must be an integer >= 1"),
    ({"positions": "alibi"}, "positions must be one of rope, learned, none, got 'alibi'"),
    ({"window": 0}, "window must be an integer >= 1"),
    ({"state_mixer": "moe"}, "state_mixer must be one of mlp, swiglu, none"),
    ({"norm": "batchnorm"}, "norm must be one of layernorm, rmsnorm"),
    ({"dropout": 1.0}, "dropout must be in [0, 1)"),
    ({"d_model": 0}, "d_model must be an integer >= 1"),
])
def test_bad_settings_name_themselves(params, expected):
    task = seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)
    with pytest.raises(ConfigError) as error:
        seqmem.make_model("attention", task, **{"d_model": 16, **params})
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_learned_positions_refuse_a_stream_past_their_table():
    mixer = Attention(8, l_max=10, positions="learned")
    _, state = mixer(torch.randn(1, 6, 8))
    with pytest.raises(ConfigError, match="positions learned covers 10 steps"):
        mixer(torch.randn(1, 6, 8), state)


def test_a_window_too_short_for_the_task_is_refused_with_the_window_that_fits():
    task = seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)
    with pytest.raises(ReceptiveFieldError, match=r"receptive field 9 < 24 steps: use --window 13 or --window none"):
        seqmem.make_model("attention", task, d_model=16, window=5)
    assert seqmem.make_model("attention", task, d_model=16, window=13).receptive_field == 25


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("attention", task, d_model=32, layers=2, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=200, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=200), progress=False)
    assert result.recall_accuracy > 0.9 > 0.1 > task.baseline().recall_accuracy


def test_it_trains_from_the_command_line_with_its_own_flags(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--model", "attention", "--heads", "2", "--window", "16",
                 "--d-model", "16", "--layout", "zoology", "--length", "24", "--pairs", "3", "--queries", "3",
                 "--vocab", "32", "--steps", "3", "--set", "test_size=8", "--set", "validation_size=8",
                 "--quiet", "--out", str(out)]) == 0
    import json

    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "attention" and config["model"]["heads"] == 2 and config["model"]["window"] == 16
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state_size"] == 2 * 2 * 16 * 16  # two layers, each a window of 16 keys and values of 16


def test_the_backbone_refuses_a_setting_that_is_its_own():
    task = seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)
    with pytest.raises(ConfigError, match="mixer setting d_model is the backbone's to pass"):
        Backbone(task, Attention, {"d_model": 8})
