"""A causal dilated 1-d convolution whose backward is three forward convolutions.

On CPU, PyTorch's `convolution_backward` for a dilated `Conv1d` costs three to four times the forward
convolution, where the work is twice the forward's. Both gradients are themselves plain convolutions,
which oneDNN's forward kernels run at full speed:

- the input's: the output gradient, padded on the right, convolved with the taps flipped and with the
  channel axes swapped (the same convolution run backwards in time);
- the weight's: the padded input with batch and channels swapped, convolved with the output gradient
  (swapped likewise) as a kernel as long as the sequence, stride = the dilation.

The padded input is rebuilt in the backward instead of saved, so a step holds no more than `nn.Conv1d` would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _padded(x: torch.Tensor, past: torch.Tensor | None, left: int) -> torch.Tensor:
    return F.pad(x, (left, 0)) if past is None else torch.cat([past, x], dim=2)


class _CausalConv1d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, past, weight, bias, dilation):
        left = (weight.shape[2] - 1) * dilation
        ctx.save_for_backward(x, past, weight)
        ctx.dilation, ctx.has_bias = dilation, bias is not None
        return F.conv1d(_padded(x, past, left), weight, bias, dilation=dilation)

    @staticmethod
    def backward(ctx, grad):
        x, past, weight = ctx.saved_tensors
        d = ctx.dilation
        left = (weight.shape[2] - 1) * d
        grad = grad.contiguous()
        grad_x = grad_past = grad_w = grad_b = None
        taps = weight.flip(2).transpose(0, 1)
        if ctx.needs_input_grad[1]:  # the carried steps too: the whole padded input's gradient
            whole = F.conv1d(F.pad(grad, (left, left)), taps, dilation=d)
            grad_past, grad_x = whole[:, :, :left], whole[:, :, left:]
        elif ctx.needs_input_grad[0]:
            grad_x = F.conv1d(F.pad(grad, (0, left)), taps, dilation=d)
        if ctx.needs_input_grad[2]:
            xp = _padded(x, past, left)
            grad_w = F.conv1d(xp.transpose(0, 1), grad.transpose(0, 1), stride=d).transpose(0, 1)
        if ctx.has_bias and ctx.needs_input_grad[3]:
            grad_b = grad.sum(dim=(0, 2))
        return grad_x, grad_past, grad_w, grad_b, None


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, dilation: int = 1,
                  past: torch.Tensor | None = None) -> torch.Tensor:
    """`F.conv1d` of `x` (B, C_in, L) padded on the left by `(K - 1) dilation` zeros, or by `past`
    (B, C_in, (K - 1) dilation), the steps before `x`: output (B, C_out, L), step t seeing only steps <= t."""
    return _CausalConv1d.apply(x, past, weight, bias, dilation)
