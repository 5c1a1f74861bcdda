"""Hyena (seqmem/mixers/hyena.py): the chunked form equals the step-by-step one and the Hyena recurrence written
out from the paper's equations, a stream in pieces equals the whole, no output sees a later input; its settings
refused where bad; it trains from the command line and learns MQAR past the memoryless baseline."""

import json
import math

import mixer_forms as forms
import pytest
import torch
from convolutions import convolve
from torch.utils.flop_counter import FlopCounterMode

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.kernels.stream_conv import fft_flops
from seqmem.mixers.hyena import Hyena

SETTINGS = [{"l_max": 24}, {"l_max": 24, "order": 3, "filter_width": 8}, {"l_max": 64, "short_kernel": 1},
            {"l_max": 30, "filter_features": 5, "frequency": 3.0}]


def hyena_filters(mixer: Hyena, dtype) -> torch.Tensor:
    """Poli et al. 2023, section 3.3: h_t = Window(t) FFN(PositionalEncoding(t)), the FFN's activations sin(f x),
    the window exp(-|alpha| t) with alpha spread from log(1e-2) / 1.5 to log(1e-2) / 0.3 over the channels (the
    values of HazyResearch/safari `src/models/sequence/hyena.py`, `ExponentialModulation`); the encoding t on
    [0, 1], then exp(-i f 2 pi l / l_max) for bands f from 1e-4 to bands - 1 (safari's `PositionalEmbedding`).
    `(order - 1, D, l_max)`: filter o of channel c is the FFN's output c (order - 1) + o (safari's '(v o)')."""
    mlp, L = mixer.filter.mlp, mixer.l_max
    bands = (mlp[0].in_features - 1) // 2
    w = 2 * math.pi * torch.arange(L, dtype=torch.float64)[:, None] / L
    z = torch.exp(-1j * torch.linspace(1e-4, bands - 1, bands, dtype=torch.float64)[None] * w)
    t = torch.linspace(0, 1, L, dtype=torch.float64)[:, None]
    x = torch.cat([t, z.real, z.imag], dim=-1).float().to(dtype)  # float32 numbers, as the references keep them
    frequency = mlp[1].frequency
    for linear in (mlp[0], mlp[2], mlp[4]):
        x = torch.sin(frequency * (x @ linear.weight.T + linear.bias))
    x = x @ mlp[6].weight.T  # (l_max, (order - 1) D)
    alpha = torch.linspace(math.log(1e-2) / 1.5, math.log(1e-2) / 0.3, x.shape[1], dtype=torch.float64)
    h = x * torch.exp(-t.float().to(dtype) * alpha.abs().float().to(dtype))
    return h.T.reshape(mixer.d_model, mixer.order - 1, L).transpose(0, 1)


def reference(mixer: Hyena, u: torch.Tensor) -> torch.Tensor:
    """The Hyena recurrence (Poli et al. 2023, Definition 3.1, as safari's `HyenaOperator.forward` orders it):
    (x_0 .. x_(N-1), v) the in-projection's streams, each through its short causal convolution; then
    v <- h_o * (x_o v) + D_o (x_o v) for o = N-1 .. 1; y = W_out (x_0 v). Every filter zero beyond its length."""
    z = convolve(mixer.in_proj(u), mixer.short.weight[:, 0].flip(-1)) + mixer.short.bias
    *x, v = z.split(mixer.d_model, dim=-1)
    h = hyena_filters(mixer, u.dtype)
    for o, gate in enumerate(reversed(x[1:])):
        gated = gate * v
        v = convolve(gated, h[o]) + mixer.bias[o] * gated
    return mixer.out_proj(x[0] * v)


@pytest.mark.parametrize("settings", SETTINGS)
def test_it_equals_the_hyena_recurrence_written_out(settings):
    mixer = forms.build(Hyena, **settings)
    for length in (17, 40):  # 40: a stream longer than a filter of 24 or 30 taps
        u = forms.inputs(2, length, 16)
        forms.assert_close(mixer(u)[0], reference(mixer, u), "output")
    control = forms.build(Hyena, seed=1, **settings)  # other weights: differs
    assert (control(u)[0] - reference(mixer, u)).abs().max() > 1e-3


def test_order_two_is_the_gated_convolution_of_the_references():
    """Order 2, as zoology/mixers/hyena.py writes it: x1, x2, v = the streams; v * x1, its long convolution with
    its bias, times x2 (seqmem's x_1 is zoology's x1, x_0 its x2)."""
    mixer = forms.build(Hyena, l_max=20)
    u = forms.inputs(2, 20, 16)
    z = convolve(mixer.in_proj(u), mixer.short.weight[:, 0].flip(-1)) + mixer.short.bias
    x2, x1, v = z.split(16, dim=-1)
    k = hyena_filters(mixer, u.dtype)[0]
    y = mixer.out_proj((convolve(v * x1, k) + mixer.bias[0] * v * x1) * x2)
    forms.assert_close(mixer(u)[0], y, "output")


@pytest.mark.parametrize("settings", SETTINGS)
def test_the_chunked_form_equals_the_step_by_step_one_in_values_and_gradients(settings):
    forms.chunked_equals_step_by_step(forms.build(Hyena, **settings))


@pytest.mark.parametrize("settings", SETTINGS[1:3])
def test_a_stream_in_pieces_equals_the_whole(settings):
    forms.stream_in_pieces_equals_whole(forms.build(Hyena, **settings))


@pytest.mark.parametrize("settings", SETTINGS[1:2])
def test_no_output_sees_a_later_input_and_gradients_pass_gradcheck(settings):
    mixer = forms.build(Hyena, **settings)
    forms.no_output_sees_a_later_input(mixer)
    forms.passes_gradcheck(mixer)


def test_a_frequency_not_finite_is_refused_by_the_mixer_too():
    with pytest.raises(ConfigError, match="frequency must be a finite number, got inf"):
        Hyena(16, frequency=float("inf"))


def test_its_state_is_each_convolutions_inputs_and_its_size_zoologys_count_for_each():
    mixer = Hyena(16, l_max=50, order=3, short_kernel=4)
    (short, longs), = [mixer(torch.randn(2, 7, 16))[1]]
    assert short.shape == (2, 3, 4 * 16) and [p.shape for p in longs] == [(2, 49, 16)] * 2
    assert mixer.state_size(sequence_length=30) == 4 * 16 * 4 + 2 * 16 * 30
    assert mixer.state_size(sequence_length=80) == 4 * 16 * 4 + 2 * 16 * 50
    assert mixer.receptive_field == 4 + 2 * 49


@pytest.mark.parametrize("order", [2, 3])
def test_its_flops_are_the_matmuls_pytorch_counts_plus_the_ffts_and_the_gates(order):
    mixer, L, D = Hyena(16, l_max=32, order=order), 32, 16
    with FlopCounterMode(display=False) as counter:
        mixer(torch.randn(1, L, D))
    ffts = (order - 1) * D * (3 * fft_flops(2 * L) + 6 * (L + 1))  # unseen by the counter, as the gates
    assert mixer.flops(L) == counter.get_total_flops() + ffts + order * D * L


@pytest.mark.parametrize("settings, expected", [
    ({"order": 1}, "order must be an integer >= 2"),
    ({"order": 9}, "order must be at most 8"),
    ({"filter_features": 6}, "filter_features must be odd"),
    ({"filter_width": 0}, "filter_width must be an integer >= 1"),
    ({"short_kernel": 0}, "short_kernel must be an integer >= 1"),
    ({"frequency": float("nan")}, "frequency: expected a finite number"),
])
def test_bad_settings_name_themselves(settings, expected):
    task = seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)
    with pytest.raises(ConfigError) as error:
        seqmem.make_model("hyena", task, d_model=16, **settings)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_it_trains_from_the_command_line_with_its_own_flags(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--layout", "zoology", "--length", "24", "--pairs", "3", "--queries",
                 "3", "--vocab", "32", "--model", "hyena", "--d-model", "16", "--layers", "1", "--filter-width", "8",
                 "--order", "3", "--steps", "3", "--set", "test_size=8", "--set", "validation_size=8",
                 "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["filter_width"] == 8 and config["model"]["order"] == 3
    assert seqmem.load(out).model.blocks[0].mixer.l_max == 24  # the task's span


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("hyena", task, d_model=32, layers=2, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=200, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=200), progress=False)
    assert result.recall_accuracy > 0.3 > 4 * task.baseline().recall_accuracy
