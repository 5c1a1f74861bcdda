"""Linear attention: its chunked and step-by-step forms agree (values, gradients, streams), it is causal, its core
equals the quadratic causal form (phi(Q) phi(K)^T masked) V over its row sums, the Taylor map equals its formula,
bad settings name themselves, and the registered mixer trains from the command line and learns MQAR."""

import json
import math

import mixer_forms
import pytest
import torch

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.kernels.feature_maps import feature_map
from seqmem.mixers.linear_attention import LinearAttention

SETTINGS = [{"feature_map": "elu", "heads": 2, "chunk": 8}, {"feature_map": "identity", "chunk": 5},
            {"feature_map": "taylor", "feature_dim": 3, "heads": 4, "chunk": 16}]


@pytest.mark.parametrize("settings", SETTINGS)
def test_chunked_equals_step_by_step_in_values_and_gradients(settings):
    mixer_forms.chunked_equals_step_by_step(mixer_forms.build(LinearAttention, **settings))


@pytest.mark.parametrize("settings", SETTINGS)
def test_a_stream_in_pieces_equals_the_whole(settings):
    mixer_forms.stream_in_pieces_equals_whole(mixer_forms.build(LinearAttention, **settings))


@pytest.mark.parametrize("settings", SETTINGS)
def test_no_output_sees_a_later_input(settings):
    mixer_forms.no_output_sees_a_later_input(mixer_forms.build(LinearAttention, **settings))


def test_gradcheck():
    mixer_forms.passes_gradcheck(mixer_forms.build(LinearAttention, d_model=4, heads=2, feature_dim=2, chunk=4))


def quadratic(mixer: LinearAttention, u: torch.Tensor) -> torch.Tensor:
    """Linear attention's quadratic causal form (Katharopoulos et al. 2020, eq. 4; zoology's `Based.forward`
    without the cumsum): A = phi(Q) phi(K)^T masked to s <= t, y_t = sum_s A_ts v_s / (sum_s A_ts + eps), with
    the mixer's own projections."""
    B, L, D = u.shape
    H = mixer.heads
    q, k = (feature_map(mixer.feature_map, p(u).view(B, L, H, -1).transpose(1, 2)) for p in (mixer.q, mixer.k))
    v = mixer.v(u).view(B, L, H, -1).transpose(1, 2)
    A = (q @ k.transpose(-1, -2)).masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), 0.0)  # (B, H, L, L)
    y = (A @ v) / (A.sum(-1, keepdim=True) + 1e-6) if mixer.normalised else A @ v
    return mixer.out(y.transpose(1, 2).reshape(B, L, D))


@pytest.mark.parametrize("settings", SETTINGS)
def test_it_equals_the_quadratic_causal_form(settings):
    mixer = mixer_forms.build(LinearAttention, **settings)
    u = mixer_forms.inputs(2, 29, 16)
    y, _ = mixer(u)
    assert torch.allclose(y, quadratic(mixer, u), atol=1e-10)
    other = mixer_forms.build(LinearAttention, seed=1, **settings)  # control: other weights differ
    assert not torch.allclose(other(u)[0], quadratic(mixer, u), atol=1e-4)


def test_the_taylor_map_gives_the_second_order_expansion_of_exp():
    """Based (Arora et al. 2024, sec. 4): phi(q) . phi(k) = 1 + s + s^2 / 2, s = q . k / sqrt(d)."""
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 7, 16, generator=g, dtype=torch.float64), torch.randn(2, 7, 16, generator=g, dtype=torch.float64)
    s = (q * k).sum(-1) / math.sqrt(16)
    phi_q, phi_k = feature_map("taylor", q), feature_map("taylor", k)
    assert phi_q.shape[-1] == 1 + 16 + 256
    assert torch.allclose((phi_q * phi_k).sum(-1), 1 + s + s ** 2 / 2, atol=1e-10)
    assert not torch.allclose((phi_q * phi_k).sum(-1), torch.exp(s), atol=1e-3)  # control: not exp itself


def test_state_size_counts_the_matrix_and_normaliser():
    assert LinearAttention(16, heads=2, feature_map="elu", feature_dim=8).state_size(100) == 2 * 8 * (8 + 1)
    assert LinearAttention(16, feature_map="identity", feature_dim=8).state_size(100) == 8 * 16
    assert LinearAttention(16, feature_map="taylor", feature_dim=4).state_size(100) == 21 * 17
    _, S = LinearAttention(16, heads=2, feature_dim=8)(torch.randn(1, 5, 16))
    assert S.numel() == LinearAttention(16, heads=2, feature_dim=8).state_size(5)


@pytest.mark.parametrize("params, expected", [
    ({"heads": 3}, "heads must divide d_model (16), got 3"),
    ({"feature_map": "relu"}, "feature_map must be one of identity, elu, taylor, got 'relu'"),
    ({"feature_dim": 0}, "feature_dim must be an integer >= 1"),
    ({"chunk": 0}, "chunk must be an integer >= 1"),
])
def test_bad_settings_name_themselves(params, expected):
    with pytest.raises(ConfigError) as error:
        LinearAttention(16, **params)
    assert expected in str(error.value)


def test_it_trains_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--model", "linear-attention", "--feature-map", "taylor",
                 "--feature-dim", "4", "--heads", "2", "--d-model", "16", "--layers", "1", "--layout", "zoology",
                 "--length", "24", "--pairs", "3", "--queries", "3", "--vocab", "32", "--steps", "3",
                 "--set", "test_size=8", "--set", "validation_size=8", "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "linear-attention" and config["model"]["feature_map"] == "taylor"
    assert json.loads((out / "summary.json").read_text())["state_size"] == 2 * 21 * 9


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("linear-attention", task, d_model=32, layers=2, feature_map="taylor",
                              feature_dim=8, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=200, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=200), progress=False)
    assert result.recall_accuracy > 0.5 > 0.1 > task.baseline().recall_accuracy  # 0.7 measured; attention 0.9+
