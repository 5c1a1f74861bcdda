"""Based: its chunked and step-by-step forms agree (values, gradients, streams), it is causal, the Taylor map
equals its formula, the layer equals BaseConv then Taylor attention (written from the formula, quadratic) plus
windowed softmax attention, bad settings name themselves, and the registered mixer trains and learns MQAR."""

import json
import math

import mixer_forms
import pytest
import torch
import torch.nn.functional as F

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.kernels.feature_maps import feature_map
from seqmem.mixers.attention import rotate
from seqmem.mixers.based import Based

SETTINGS = [{"feature_dim": 4, "window": 6, "chunk": 8}, {"feature_dim": 3, "heads": 2, "window": 64,
                                                          "window_heads": 2, "conv_size": 2, "chunk": 5}]


@pytest.mark.parametrize("settings", SETTINGS)
def test_chunked_equals_step_by_step_in_values_and_gradients(settings):
    mixer_forms.chunked_equals_step_by_step(mixer_forms.build(Based, **settings))


@pytest.mark.parametrize("settings", SETTINGS)
def test_a_stream_in_pieces_equals_the_whole(settings):
    mixer_forms.stream_in_pieces_equals_whole(mixer_forms.build(Based, **settings))


@pytest.mark.parametrize("settings", SETTINGS)
def test_no_output_sees_a_later_input(settings):
    mixer_forms.no_output_sees_a_later_input(mixer_forms.build(Based, **settings))


def test_gradcheck():
    mixer_forms.passes_gradcheck(mixer_forms.build(Based, d_model=4, feature_dim=2, window=3, chunk=4))


def test_the_taylor_map_gives_one_plus_s_plus_half_s_squared():
    """Based (Arora et al. 2024, sec. 4.1; zoology's `TaylorExp`): phi(q) . phi(k) = 1 + s + s^2 / 2 with
    s = q . k / sqrt(d), phi of width 1 + d + d^2."""
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(3, 5, 16, generator=g, dtype=torch.float64), torch.randn(3, 5, 16, generator=g, dtype=torch.float64)
    s = (q * k).sum(-1) / math.sqrt(16)
    phi_q, phi_k = feature_map("taylor", q), feature_map("taylor", k)
    assert phi_q.shape[-1] == 1 + 16 + 16 * 16
    assert torch.allclose((phi_q * phi_k).sum(-1), 1 + s + s ** 2 / 2, atol=1e-10)
    assert torch.allclose(phi_q[..., 0], torch.ones(3, 5, dtype=torch.float64))


def reference(mixer: Based, u: torch.Tensor) -> torch.Tensor:
    """The layer from its formulas: h = u + (W u + b) o conv(u) (F.conv1d padded on the left, zoology's BaseConv);
    Taylor attention quadratic, A_ts = 1 + s + s^2 / 2 for s = q_t . k_s / sqrt(f), s <= t, y = A V / row sums;
    softmax attention over the last `window` steps (RoPE), as tests/test_attention.py writes it out; summed."""
    B, L, D = u.shape
    conv = F.conv1d(F.pad(u.transpose(1, 2), (mixer.conv_size - 1, 0)), mixer.conv.weight, mixer.conv.bias,
                    groups=D).transpose(1, 2)
    h = u + mixer.gate(u) * conv
    la = mixer.linear_attention
    q, k = (p(h).view(B, L, la.heads, -1).transpose(1, 2) for p in (la.q, la.k))  # (B, H, L, f)
    v = la.v(h).view(B, L, la.heads, -1).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    A = (1 + s + s ** 2 / 2).tril()
    y_linear = la.out(((A @ v) / (A.sum(-1, keepdim=True) + 1e-6)).transpose(1, 2).reshape(B, L, D))
    wa = mixer.window_attention
    q, k, v = wa.qkv(h).view(B, L, 3, wa.heads, -1).permute(2, 0, 3, 1, 4)
    scores = rotate(q, 0) @ rotate(k, 0).transpose(-1, -2) / math.sqrt(q.shape[-1])
    t, r = torch.arange(L)[:, None], torch.arange(L)
    scores = scores.masked_fill((r > t) | (r <= t - wa.window), float("-inf"))
    y_window = wa.out((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, L, D))
    return y_linear + y_window


@pytest.mark.parametrize("settings", SETTINGS)
def test_it_equals_baseconv_then_taylor_plus_window_attention(settings):
    mixer = mixer_forms.build(Based, **settings)
    u = mixer_forms.inputs(2, 29, 16)
    expected = reference(mixer, u)
    assert torch.allclose(mixer(u)[0], expected, atol=1e-10)
    mixer.window_attention.window = 2  # control: another window differs
    assert not torch.allclose(mixer(u)[0], expected, atol=1e-4)


def test_state_size_counts_all_three_states():
    mixer = Based(16, feature_dim=4, window=8)
    assert mixer.state_size(100) == 21 * 17 + 2 * 16 * 8 + 2 * 16
    conv, linear, (k, v, _) = mixer(torch.randn(1, 20, 16))[1]
    assert conv.numel() + linear.numel() + k.numel() + v.numel() == mixer.state_size(20)


@pytest.mark.parametrize("params, expected", [
    ({"heads": 3}, "heads must divide d_model (16), got 3"),
    ({"window_heads": 3}, "window_heads must divide d_model (16), got 3"),
    ({"window": 0}, "window must be an integer >= 1"),
    ({"feature_dim": 0}, "feature_dim must be an integer >= 1"),
    ({"conv_size": 0}, "conv_size must be an integer >= 1"),
])
def test_bad_settings_name_themselves(params, expected):
    with pytest.raises(ConfigError) as error:
        Based(16, **params)
    assert expected in str(error.value)


def test_it_trains_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--model", "based", "--feature-dim", "4", "--window", "8",
                 "--d-model", "16", "--layers", "1", "--layout", "zoology", "--length", "24", "--pairs", "3",
                 "--queries", "3", "--vocab", "32", "--steps", "3", "--set", "test_size=8",
                 "--set", "validation_size=8", "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "based" and config["model"]["window"] == 8
    assert json.loads((out / "summary.json").read_text())["state_size"] == 21 * 17 + 2 * 16 * 8 + 2 * 16


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("based", task, d_model=32, layers=2, feature_dim=8, window=4, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=200, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=200), progress=False)
    assert result.recall_accuracy > 0.5 > 0.1 > task.baseline().recall_accuracy
