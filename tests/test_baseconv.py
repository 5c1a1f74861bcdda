"""BaseConv (seqmem/mixers/baseconv.py): the chunked form equals the step-by-step one and zoology's BaseConv
written out from its equations, a stream in pieces equals the whole, no output sees a later input; its settings
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
from seqmem.mixers.baseconv import BaseConv

SETTINGS = [{"conv": "short"}, {"conv": "short", "kernel_size": 5}, {"conv": "long", "l_max": 24},
            {"conv": "long", "l_max": 24, "implicit": False}, {"conv": "long", "l_max": 64, "filter_width": 8}]


def zoology_features(l_max: int, features: int) -> torch.Tensor:
    """zoology/mixers/convolution.py's `PositionalEmbedding` (HazyResearch/zoology), re-derived: t on [0, 1], then
    exp(-i f w) for w = 2 pi l / l_max and bands f spread from 1e-4 to bands - 1, real and imaginary parts."""
    t = torch.linspace(0, 1, l_max)[:, None]
    bands = (features - 1) // 2
    w = 2 * math.pi * torch.arange(l_max, dtype=torch.float64)[:, None] / l_max
    z = torch.exp(-1j * torch.linspace(1e-4, bands - 1, bands, dtype=torch.float64)[None] * w)
    return torch.cat([t.double(), z.real, z.imag], dim=-1)


def reference(mixer: BaseConv, u: torch.Tensor) -> torch.Tensor:
    """Zoology (Arora et al. 2023, section 4; zoology/mixers/base_conv.py): y = (u W + b) * conv(u) + u, the short
    convolution a depthwise nn.Conv1d with its bias, a long one h * u + u (zoology's `fft_conv` adds its input),
    the implicit h a ReLU MLP on the positional features; every filter zero beyond its length."""
    if not mixer.long:
        conv = convolve(u, mixer.short.weight[:, 0].flip(-1)) + mixer.short.bias
    else:
        if mixer.implicit:
            first, _, last = mixer.filter_mlp
            features = zoology_features(mixer.l_max, first.in_features).float().to(u.dtype)  # zoology's float32
            hidden = torch.relu(features @ first.weight.T + first.bias)
            h = (hidden @ last.weight.T + last.bias).T  # (D, l_max)
        else:
            h = mixer.filter
        conv = convolve(u, h) + u
    return mixer.projection(u) * conv + u


@pytest.mark.parametrize("settings", SETTINGS)
def test_it_equals_zoologys_baseconv_written_out(settings):
    mixer = forms.build(BaseConv, **settings)
    for length in (17, 40):  # 40: a stream longer than a long filter of 24 taps
        u = forms.inputs(2, length, 16)
        forms.assert_close(mixer(u)[0], reference(mixer, u), "output")
    control = forms.build(BaseConv, seed=1, **settings)  # other weights: differs
    assert (control(u)[0] - reference(mixer, u)).abs().max() > 1e-3


@pytest.mark.parametrize("settings", SETTINGS)
def test_the_chunked_form_equals_the_step_by_step_one_in_values_and_gradients(settings):
    forms.chunked_equals_step_by_step(forms.build(BaseConv, **settings))


@pytest.mark.parametrize("settings", SETTINGS)
def test_a_stream_in_pieces_equals_the_whole(settings):
    forms.stream_in_pieces_equals_whole(forms.build(BaseConv, **settings))


@pytest.mark.parametrize("settings", SETTINGS[::2])
def test_no_output_sees_a_later_input_and_gradients_pass_gradcheck(settings):
    mixer = forms.build(BaseConv, **settings)
    forms.no_output_sees_a_later_input(mixer)
    forms.passes_gradcheck(mixer)


def test_alternate_runs_zoologys_short_then_long_and_sizes_the_state_as_zoology_does():
    short, long = BaseConv(16, layer_idx=0, l_max=50), BaseConv(16, layer_idx=1, l_max=50)
    assert (short.long, long.long) == (False, True)
    assert (short.receptive_field, long.receptive_field) == (3, 50)
    assert short.state_size(sequence_length=40) == 16 * 3  # zoology's ShortConvolution: D k
    assert long.state_size(sequence_length=40) == 16 * 40 and long.state_size(sequence_length=80) == 16 * 50
    _, past = long(torch.randn(2, 7, 16))
    assert past.shape == (2, 49, 16)
    assert short.flops(64) == 2 * 16 * 16 * 64 + 2 * 16 * 64 + 2 * 3 * 16 * 64


def test_short_convolutions_alone_too_short_for_the_task_are_refused():
    task = seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)
    with pytest.raises(ConfigError, match="receptive field 5 < 24 steps"):
        seqmem.make_model("baseconv", task, d_model=16, conv="short")
    assert seqmem.make_model("baseconv", task, d_model=16).receptive_field == 3 + 24 - 1  # alternate: short, long


@pytest.mark.parametrize("layer_idx", [0, 1])
def test_its_flops_are_the_matmuls_pytorch_counts_plus_the_ffts_and_the_gate(layer_idx):
    mixer, L, D = BaseConv(16, layer_idx=layer_idx, l_max=32), 32, 16
    with FlopCounterMode(display=False) as counter:
        mixer(torch.randn(1, L, D))
    ffts = D * (3 * fft_flops(2 * L) + 6 * (L + 1)) if mixer.long else 0  # unseen by the counter, as the gate
    assert mixer.flops(L) == counter.get_total_flops() + ffts + 2 * D * L


@pytest.mark.parametrize("settings, expected", [
    ({"conv": "medium"}, "conv must be one of alternate, short, long, got 'medium'"),
    ({"kernel_size": 0}, "kernel_size must be an integer >= 1"),
    ({"filter_features": 4}, "filter_features must be odd"),
    ({"filter_features": 1}, "filter_features must be an integer >= 3"),
    ({"filter_width": 0}, "filter_width must be an integer >= 1"),
])
def test_bad_settings_name_themselves(settings, expected):
    task = seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)
    with pytest.raises(ConfigError) as error:
        seqmem.make_model("baseconv", task, d_model=16, **settings)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_it_trains_from_the_command_line_with_its_own_flags(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--layout", "zoology", "--length", "24", "--pairs", "3", "--queries",
                 "3", "--vocab", "32", "--model", "baseconv", "--d-model", "16", "--layers", "2", "--kernel-size", "4",
                 "--implicit", "false", "--steps", "3", "--set", "test_size=8", "--set", "validation_size=8",
                 "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["kernel_size"] == 4 and config["model"]["implicit"] is False
    model = seqmem.load(out).model
    assert [block.mixer.long for block in model.blocks] == [False, True]
    assert model.blocks[1].mixer.l_max == 24  # the task's span
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state_size"] == 16 * 4 + 16 * 24


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("baseconv", task, d_model=32, layers=2, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=200, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=200), progress=False)
    assert result.recall_accuracy > 0.3 > 4 * task.baseline().recall_accuracy
