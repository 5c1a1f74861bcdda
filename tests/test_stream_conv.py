"""seqmem/kernels/stream_conv.py: a depthwise causal convolution that continues a stream, by FFT, by a depthwise
convolution and a step at a time, each equal to the convolution written out as a matrix (tests/convolutions.py)
in values and gradients, fed whole or in pieces, and with a filter shorter or longer than the stream."""

import pytest
import torch
from convolutions import convolve

from seqmem.kernels import stream_conv


def pieces(form, u, taps, cuts):
    """The outputs of `form` over u fed in pieces at `cuts`, the state carried."""
    ys, past = [], None
    for piece in torch.tensor_split(u, cuts, dim=1):
        y, past = form(piece, taps, past)
        ys.append(y)
    return torch.cat(ys, dim=1), past


FORMS = {
    "fft": stream_conv.long_conv,
    "depthwise": lambda u, taps, past: stream_conv.short_conv(u, taps.flip(-1).unsqueeze(1), None, past),
    "chosen": stream_conv.causal_conv,
    "steps": stream_conv.conv_steps,
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("taps, cuts", [(1, []), (3, [1, 2, 9]), (7, [5]), (25, []), (25, [4, 13]), (40, [10, 11])])
def test_each_form_equals_the_convolution_written_out_in_values_and_gradients(form, taps, cuts):
    g = torch.Generator().manual_seed(taps)
    u = torch.randn(2, 30, 3, generator=g, dtype=torch.float64, requires_grad=True)
    K = torch.randn(3, taps, generator=g, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 30, 3, generator=g, dtype=torch.float64)
    y, past = pieces(FORMS[form], u, K, cuts)
    expected = convolve(u, K)  # a filter of 25 taps over 30 steps: the oldest steps fall out of it
    assert torch.allclose(y, expected, atol=1e-10)
    for got, want in zip(torch.autograd.grad((y * weights).sum(), (u, K)),
                         torch.autograd.grad((expected * weights).sum(), (u, K)), strict=True):
        assert torch.allclose(got, want, atol=1e-10)
    assert past.shape == (2, taps - 1, 3)
    if taps - 1 <= 30:  # the last taps - 1 inputs (else zeros before the stream, then all of it)
        assert torch.equal(past, u[:, 30 - (taps - 1):].detach())


def test_the_state_before_enough_steps_is_zeros_then_the_inputs():
    u = torch.arange(1.0, 7.0).view(1, 6, 1)
    _, past = stream_conv.long_conv(u[:, :2], torch.ones(1, 5))
    assert past.flatten().tolist() == [0, 0, 1, 2]
    _, past = stream_conv.conv_steps(u, torch.ones(1, 5))
    assert past.flatten().tolist() == [3, 4, 5, 6]


def test_a_step_is_a_dot_product_of_the_filter_with_the_inputs_kept():
    taps, past = torch.tensor([[1.0, 10.0, 100.0]]), torch.tensor([[[2.0], [3.0]]])  # u_(t-2) = 2, u_(t-1) = 3
    y, past = stream_conv.conv_step(torch.tensor([[4.0]]), taps, past, torch.tensor([0.5]))
    assert y.item() == 4 + 30 + 200 + 0.5 and past.flatten().tolist() == [3, 4]


def test_the_fft_counts_five_n_log_n():
    assert stream_conv.fft_flops(1024) == 5 * 1024 * 10
