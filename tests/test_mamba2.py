"""Mamba-2: its chunked and step-by-step forms agree (values, gradients, streams), it is causal, the whole block
equals mamba2_simple's sequence of operations with the SSD in its quadratic (masked) form, with and without
negative eigenvalues, bad settings name themselves, and the registered mixer trains and learns MQAR."""

import json

import mixer_forms
import pytest
import torch
import torch.nn.functional as F

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.kernels import scalar_decay
from seqmem.mixers.mamba2 import Mamba2

SETTINGS = [{"state_size": 4, "head_dim": 8, "chunk": 8}, {"state_size": 3, "head_dim": 4, "chunk": 16, "conv_size": 2},
            {"state_size": 4, "head_dim": 8, "chunk": 5, "negative_eigenvalues": True}]


@pytest.mark.parametrize("settings", SETTINGS)
def test_chunked_equals_step_by_step_in_values_and_gradients(settings):
    mixer_forms.chunked_equals_step_by_step(mixer_forms.build(Mamba2, **settings))


@pytest.mark.parametrize("settings", SETTINGS)
def test_a_stream_in_pieces_equals_the_whole(settings):
    mixer_forms.stream_in_pieces_equals_whole(mixer_forms.build(Mamba2, **settings))


@pytest.mark.parametrize("settings", SETTINGS)
def test_no_output_sees_a_later_input(settings):
    mixer_forms.no_output_sees_a_later_input(mixer_forms.build(Mamba2, **settings))


def test_gradcheck():
    mixer_forms.passes_gradcheck(mixer_forms.build(Mamba2, d_model=4, state_size=2, head_dim=4, chunk=4,
                                                   negative_eigenvalues=True))


def ssd_quadratic(X, decay, B, C):
    """SSD's quadratic (masked) form, as state-spaces/mamba `mamba_ssm/modules/ssd_minimal.py` computes the
    diagonal blocks of `ssd_minimal_discrete` over one block the whole length: Y = (M o C B^T) X with
    M_ts = prod_{s<r<=t} a_r for s <= t, 0 above (ssd_minimal takes it as exp(segsum(log a)); here the
    product is taken directly, so a negative a is covered). X (b, l, h, p), decay a (b, l, h), B, C (b, l, n)."""
    L = X.shape[1]
    M = torch.zeros(X.shape[0], X.shape[2], L, L, dtype=X.dtype)  # (b, h, t, s)
    for s in range(L):
        M[:, :, s, s] = 1.0
        for t in range(s + 1, L):
            M[:, :, t, s] = M[:, :, t - 1, s] * decay[:, t]
    return torch.einsum("btn,bsn,bhts,bshp->bthp", C, B, M, X)


def segsum(x):
    """ssd_minimal's `segsum`: (..., T) -> (..., T, T), entry (t, s) the sum of x over (s, t], -inf above the
    diagonal (cumulative sums masked before their differences reach exp)."""
    T = x.shape[-1]
    x = x[..., None].expand(*x.shape, T).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(-1), 0)
    return x.cumsum(-2).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))


def test_the_kernel_equals_ssd_minimal_quadratic_form_with_exp_segsum():
    """state-spaces/mamba `ssd_minimal_discrete`'s diagonal-block term over one block the whole length,
    Y = einsum(C, B, exp(segsum(A)), X), against the chunked kernel with B and C shared by the heads."""
    g = torch.Generator().manual_seed(0)
    b, L, h, p, n = 2, 30, 3, 4, 5
    X = torch.randn(b, L, h, p, generator=g, dtype=torch.float64)
    A = -torch.rand(b, L, h, generator=g, dtype=torch.float64)  # dt A, <= 0
    B, C = (torch.randn(b, L, n, generator=g, dtype=torch.float64) for _ in range(2))
    Y = torch.einsum("bln,bsn,bhls,bshp->blhp", C, B, torch.exp(segsum(A.transpose(1, 2))), X)
    o, _ = scalar_decay.chunked(C.unsqueeze(1), B.unsqueeze(1), X.transpose(1, 2), A.transpose(1, 2), chunk=8)
    assert torch.allclose(o.transpose(1, 2), Y, atol=1e-10)
    assert torch.allclose(ssd_quadratic(X, A.exp(), B, C), Y, atol=1e-10)  # the products form used below agrees


def block_reference(mixer: Mamba2, u: torch.Tensor) -> torch.Tensor:
    """mamba2_simple's `forward` without the fused path, written out: in_proj; split z, xBC, dt; dt =
    softplus(dt + dt_bias); the depthwise conv (F.conv1d, padded K - 1 both sides, cut to L) then SiLU; split x,
    B, C; SSD with X = x dt and a = exp(dt A) (or 2 exp(dt A) - 1), plus D x; RMSNorm of y SiLU(z); out_proj."""
    b, L, _ = u.shape
    E, N, H, P = mixer.inner, mixer.d_state, mixer.heads, mixer.head_dim
    z, xBC, dt = mixer.in_proj(u).split([E, E + 2 * N, H], dim=-1)
    dt = F.softplus(dt + mixer.dt_bias)  # (b, l, h)
    conv = F.conv1d(xBC.transpose(1, 2), mixer.conv.weight, mixer.conv.bias, padding=mixer.conv_size - 1,
                    groups=E + 2 * N)[..., :L]
    x, B, C = F.silu(conv.transpose(1, 2)).split([E, N, N], dim=-1)
    x = x.reshape(b, L, H, P)
    a = torch.exp(dt * -torch.exp(mixer.A_log))
    if mixer.negative_eigenvalues:
        a = 2 * a - 1
    y = ssd_quadratic(x * dt[..., None], a, B, C) + mixer.D[:, None] * x  # (b, l, h, p)
    g = y.reshape(b, L, E) * F.silu(z)
    return mixer.out_proj(g / torch.sqrt(g.pow(2).mean(-1, keepdim=True) + 1e-5) * mixer.norm_weight)


@pytest.mark.parametrize("settings", SETTINGS)
def test_the_block_equals_mamba2_simple_with_the_quadratic_ssd(settings):
    mixer = mixer_forms.build(Mamba2, **settings)
    with torch.no_grad():
        mixer.dt_bias.add_(2.0)  # steps near 1-2: decays far from 1, so a wrong decay shows
    u = mixer_forms.inputs(2, 21, 16)
    y, _ = mixer(u)
    assert torch.allclose(y, block_reference(mixer, u), atol=1e-10)
    mixer.negative_eigenvalues = not mixer.negative_eigenvalues  # control: the other decay differs
    assert not torch.allclose(y, block_reference(mixer, u), atol=1e-4)


def test_negative_eigenvalues_reach_negative_decays():
    mixer = mixer_forms.build(Mamba2, state_size=4, head_dim=8, negative_eigenvalues=True)
    log_a, sign = mixer.decay(torch.full((1, 4, 3), 5.0, dtype=torch.float64))  # dt A <= -5: a near -1
    assert (sign == -1).all() and torch.allclose(log_a, torch.zeros_like(log_a), atol=0.02)
    log_a, sign = mixer.decay(torch.full((1, 4, 3), 1e-6, dtype=torch.float64))  # a near +1
    assert (sign == 1).all() and log_a.abs().max() < 1e-4


def test_state_size_counts_the_ssm_state_and_the_conv_inputs():
    mixer = Mamba2(64)
    assert mixer.heads == 4 and mixer.state_size(100) == 128 * 64 + 3 * (128 + 2 * 64)
    conv, ssm = mixer(torch.randn(1, 5, 64))[1]
    assert conv.numel() + ssm.numel() == mixer.state_size(5)


@pytest.mark.parametrize("params, expected", [
    ({"head_dim": 24}, "head_dim must divide expand x d_model (32), got 24"),
    ({"state_size": 0}, "state_size must be an integer >= 1"),
    ({"expand": 0}, "expand must be an integer >= 1"),
    ({"dt_min": 0.5}, "need 0 < dt_min <= dt_max"),
    ({"negative_eigenvalues": "yes"}, "negative_eigenvalues must be true or false"),
    ({"chunk": 0}, "chunk must be an integer >= 1"),
])
def test_bad_settings_name_themselves(params, expected):
    with pytest.raises(ConfigError) as error:
        Mamba2(16, **params)
    assert expected in str(error.value)


def test_it_trains_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--model", "mamba2", "--state-size", "8", "--head-dim", "8",
                 "--negative-eigenvalues", "true", "--d-model", "16", "--layers", "1", "--layout", "zoology",
                 "--length", "24", "--pairs", "3", "--queries", "3", "--vocab", "32", "--steps", "3",
                 "--set", "test_size=8", "--set", "validation_size=8", "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "mamba2" and config["model"]["negative_eigenvalues"] is True
    assert json.loads((out / "summary.json").read_text())["state_size"] == 32 * 8 + 3 * (32 + 16)


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("mamba2", task, d_model=32, layers=2, state_size=16, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=200, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=200), progress=False)
    assert result.recall_accuracy > 0.4 > 0.1 > task.baseline().recall_accuracy  # 0.5 measured; attention 0.9+
