"""causal_conv1d and Mamba's depthwise_causal_conv against F.conv1d on the left-padded input: outputs and
every gradient (the depthwise one's backward is written by hand, so gradcheck too)."""

import pytest
import torch
import torch.nn.functional as F

from seqmem.kernels import causal_conv
from seqmem.kernels.causal_conv import causal_conv1d, depthwise_causal_conv

TOL = {"atol": 1e-5, "rtol": 1e-4}  # float32: the two sum the same products in different orders


def reference(x, weight, bias, dilation, past):
    left = (weight.shape[2] - 1) * dilation
    padded = F.pad(x, (left, 0)) if past is None else torch.cat([past, x], dim=2)
    return F.conv1d(padded, weight, bias, dilation=dilation)


def leaves(*shapes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=gen, requires_grad=True) for s in shapes]


@pytest.mark.parametrize("c_in,c_out,kernel,dilation,length", [
    (1, 10, 8, 1, 50), (10, 10, 8, 16, 100), (30, 30, 7, 4, 64), (3, 5, 2, 32, 20), (4, 4, 3, 8, 5),
])
@pytest.mark.parametrize("with_past", [False, True])
def test_outputs_and_gradients_match_conv1d(c_in, c_out, kernel, dilation, length, with_past):
    left = (kernel - 1) * dilation
    x, w, b, past, g = leaves((2, c_in, length), (c_out, c_in, kernel), (c_out,), (2, c_in, left),
                              (2, c_out, length))
    past = past if with_past else None
    ours = causal_conv1d(x, w, b, dilation, past)
    ours_grads = torch.autograd.grad(ours, [t for t in (x, w, b, past) if t is not None], g)
    theirs = reference(x, w, b, dilation, past)
    theirs_grads = torch.autograd.grad(theirs, [t for t in (x, w, b, past) if t is not None], g)
    assert ours.shape == (2, c_out, length)
    torch.testing.assert_close(ours, theirs, **TOL)
    for a, e in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(a, e, **TOL)


def test_no_bias_and_a_constant_past():
    x, w = leaves((2, 3, 12), (4, 3, 3), seed=1)
    past = torch.randn(2, 3, 4)  # carried state: no gradient wanted
    gx, gw = torch.autograd.grad(causal_conv1d(x, w, None, 2, past).square().sum(), [x, w])
    ex, ew = torch.autograd.grad(reference(x, w, None, 2, past).square().sum(), [x, w])
    torch.testing.assert_close(gx, ex, **TOL)
    torch.testing.assert_close(gw, ew, **TOL)


@pytest.mark.parametrize("with_past", [False, True])
def test_gradcheck_in_float64(with_past):
    gen = torch.Generator().manual_seed(2)
    x, w, b, past = (torch.randn(*s, generator=gen, dtype=torch.float64, requires_grad=True)
                     for s in ((2, 2, 7), (3, 2, 3), (3,), (2, 2, 4)))
    if with_past:
        assert torch.autograd.gradcheck(lambda x, w, b, p: causal_conv1d(x, w, b, 2, p), (x, w, b, past))
    else:
        assert torch.autograd.gradcheck(lambda x, w, b: causal_conv1d(x, w, b, 2), (x, w, b))


@pytest.mark.parametrize("channels, kernel, length", [(8, 4, 30), (3, 1, 5), (5, 6, 2)])
def test_the_depthwise_convolution_and_its_gradients_match_conv1d(channels, kernel, length):
    padded, w, b, g = leaves((2, kernel - 1 + length, channels), (channels, 1, kernel), (channels,),
                             (2, length, channels), seed=3)
    ours = depthwise_causal_conv(padded, w, b)  # (B, K-1+L, C) in, (B, L, C) out
    theirs = F.conv1d(padded.transpose(1, 2), w, b, groups=channels).transpose(1, 2)
    torch.testing.assert_close(ours, theirs, **TOL)
    for a, e in zip(torch.autograd.grad(ours, [padded, w, b], g), torch.autograd.grad(theirs, [padded, w, b], g),
                    strict=True):
        torch.testing.assert_close(a, e, **TOL)


def test_the_depthwise_convolutions_backward_passes_gradcheck_in_float64():
    gen = torch.Generator().manual_seed(4)
    padded, w, b = (torch.randn(*s, generator=gen, dtype=torch.float64, requires_grad=True)
                    for s in ((2, 9, 3), (3, 1, 4), (3,)))
    assert torch.autograd.gradcheck(depthwise_causal_conv, (padded, w, b))


@pytest.mark.parametrize("block", [1, 2])  # batch elements a block: each alone, and two with one left over
def test_the_depthwise_taps_gradient_summed_by_blocks_of_the_batch_equals_one_sum(block, monkeypatch):
    channels, kernel, length = 5, 4, 7
    padded, w, b, g = leaves((3, kernel - 1 + length, channels), (channels, 1, kernel), (channels,),
                             (3, length, channels), seed=5)
    expected = torch.autograd.grad(F.conv1d(padded.transpose(1, 2), w, b, groups=channels).transpose(1, 2), w, g)[0]
    monkeypatch.setattr(causal_conv, "BLOCK", block * length * channels)
    torch.testing.assert_close(torch.autograd.grad(depthwise_causal_conv(padded, w, b), w, g)[0], expected, **TOL)
