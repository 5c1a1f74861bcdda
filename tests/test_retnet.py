"""RetNet: its chunked and step-by-step forms agree (values, gradients, streams), it is causal, the block equals
retention in fla's naive quadratic form followed by the paper's group norm, swish gate and output map, bad
settings name themselves, and the registered mixer trains from the command line and learns MQAR."""

import json

import mixer_forms
import pytest
import torch
import torch.nn.functional as F

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.mixers.attention import rotate
from seqmem.mixers.retnet import RetNet

SETTINGS = [{"heads": 2, "chunk": 8}, {"heads": 4, "chunk": 5}, {"heads": 1, "chunk": 64}]


@pytest.mark.parametrize("settings", SETTINGS)
def test_chunked_equals_step_by_step_in_values_and_gradients(settings):
    mixer_forms.chunked_equals_step_by_step(mixer_forms.build(RetNet, **settings))


@pytest.mark.parametrize("settings", SETTINGS)
def test_a_stream_in_pieces_equals_the_whole(settings):
    mixer_forms.stream_in_pieces_equals_whole(mixer_forms.build(RetNet, **settings))


@pytest.mark.parametrize("settings", SETTINGS[:2])
def test_no_output_sees_a_later_input(settings):
    mixer_forms.no_output_sees_a_later_input(mixer_forms.build(RetNet, **settings))


def test_gradcheck():
    mixer_forms.passes_gradcheck(mixer_forms.build(RetNet, d_model=4, heads=2, chunk=4))


def naive_retention(q, k, v):
    """Retention's parallel form as fla-org/flash-linear-attention `fla/ops/retention/naive.py` computes it:
    gamma_h = 1 - 2^(-5-h), D_ts = gamma_h^(t-s) for s <= t (0 above), o = ((q / sqrt(d) k^T) o D) v."""
    _, H, L, d = q.shape
    gamma = 1 - 2.0 ** (-5.0 - torch.arange(H, dtype=torch.float64))
    t = torch.arange(L, dtype=torch.float64)
    D = gamma[:, None, None] ** (t[:, None] - t).clamp(min=0) * (t[:, None] >= t)  # (H, L, L)
    return torch.einsum("bhtd,bhsd,hts->bhts", q * d ** -0.5, k, D) @ v


def block_reference(mixer: RetNet, u: torch.Tensor, rotary: bool = True) -> torch.Tensor:
    """The retention layer of Sun et al. 2023, eq. 8: Y = GroupNorm_h(retention of rotated q, k and v), then
    (swish(X W_G) o Y) W_O; the mixer's weights."""
    B, L, D = u.shape
    q, k, v = (p(u).view(B, L, mixer.heads, -1).transpose(1, 2) for p in (mixer.q, mixer.k, mixer.v))
    q, k = (rotate(q, 0), rotate(k, 0)) if rotary else (q, k)
    y = naive_retention(q, k, v).transpose(1, 2).reshape(B, L, 2 * D)
    y = F.group_norm(y.reshape(B * L, 2 * D), mixer.heads, mixer.group_norm.weight, mixer.group_norm.bias, 1e-5)
    return mixer.out(F.silu(mixer.g(u)) * y.view(B, L, 2 * D))


@pytest.mark.parametrize("settings", SETTINGS)
def test_the_block_equals_naive_retention_group_normed_and_gated(settings):
    mixer = mixer_forms.build(RetNet, **settings)
    with torch.no_grad():  # a group norm with weights and biases of its own, so they are checked too
        mixer.group_norm.weight.normal_()
        mixer.group_norm.bias.normal_()
    u = mixer_forms.inputs(2, 29, 16)
    assert torch.allclose(mixer(u)[0], block_reference(mixer, u), atol=1e-10)
    assert not torch.allclose(mixer(u)[0], block_reference(mixer, u, rotary=False), atol=1e-4)  # control


def test_its_decays_are_the_papers():
    from seqmem.mixers.retnet import log_decays

    assert torch.allclose(log_decays(3, torch.float64).exp(), torch.tensor([1 - 1 / 32, 1 - 1 / 64, 1 - 1 / 128],
                                                                          dtype=torch.float64))


def test_state_size_is_heads_times_key_times_value_width():
    mixer = RetNet(16, heads=2)
    assert mixer.state_size(100) == 2 * 8 * 16
    S, seen = mixer(torch.randn(1, 5, 16))[1]
    assert S.numel() == mixer.state_size(5) and int(seen) == 5


@pytest.mark.parametrize("params, expected", [
    ({"heads": 3}, "heads must divide d_model (16), got 3"),
    ({"heads": 0}, "heads must be an integer >= 1"),
    ({"chunk": 0}, "chunk must be an integer >= 1"),
])
def test_bad_settings_name_themselves(params, expected):
    with pytest.raises(ConfigError) as error:
        RetNet(16, **params)
    assert expected in str(error.value)


def test_it_trains_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--model", "retnet", "--heads", "4", "--chunk", "8",
                 "--d-model", "16", "--layers", "1", "--layout", "zoology", "--length", "24", "--pairs", "3",
                 "--queries", "3", "--vocab", "32", "--steps", "3", "--set", "test_size=8",
                 "--set", "validation_size=8", "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "retnet" and config["model"]["heads"] == 4
    assert json.loads((out / "summary.json").read_text())["state_size"] == 4 * 4 * 8


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("retnet", task, d_model=32, layers=2, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=200, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=200), progress=False)
    assert result.recall_accuracy > 0.4 > 0.1 > task.baseline().recall_accuracy
