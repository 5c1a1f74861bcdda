"""Recurrent models on PyTorch's own modules: an input encoder, the recurrence, a per-step head.

The state is PyTorch's own (h, or (h, c) for the LSTM) and can be carried between calls, so a long
stream can be fed in chunks (truncated BPTT) or one step at a time and give the same outputs as one call.
A task that tells the model a per-sequence value (`Batch.cond`, e.g. the delay to echo with) is served by
`condition`: `input` appends it one-hot to every step's input, `head` picks one output layer per value,
`both` does both.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.models import register_model
from seqmem.models.encoding import InputEncoder, OutputHead

CONDITIONS = ("input", "head", "both")
INITS = ("default", "orthogonal")


class Recurrent(nn.Module):
    """Shared body of `rnn`, `gru` and `lstm`.

    Args:
        hidden: units of each recurrent layer
        layers: recurrent layers stacked
        condition: how a per-sequence value the task tells (a variable delay) reaches the model: input (one-hot on
            every step), head (one output layer per value) or both
        init: how the recurrent weights start: default (PyTorch's init) or orthogonal
    """

    cell: type
    receptive_field = math.inf

    def __init__(self, task, hidden: int, layers: int, encoder: str, embedding_dim: int, condition: str,
                 init: str, **cell_args):
        super().__init__()
        check_int("hidden", hidden)
        if hidden > 2**20:  # far past any memory here; beyond about 2**30 PyTorch cannot even size the weights
            raise ConfigError(f"hidden must be at most {2**20}, got {hidden}")
        check_int("layers", layers)
        if layers > 256:
            raise ConfigError(f"layers must be at most 256, got {layers}")
        if condition not in CONDITIONS:
            raise ConfigError(f"condition must be one of {', '.join(CONDITIONS)}, got {condition!r}")
        self.encoder = InputEncoder(task, encoder, embedding_dim, use_cond=condition != "head")
        self.rnn = self.cell(self.encoder.features, hidden, num_layers=layers, batch_first=True, **cell_args)
        self.head = OutputHead(hidden, task, task.cond_size if condition != "input" else None)
        if init not in INITS:
            raise ConfigError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        if init == "orthogonal":
            self.orthogonal_recurrence(hidden)

    def orthogonal_recurrence(self, hidden: int) -> None:
        """Each gate's recurrent matrix orthogonal: a state neither shrinks nor grows through it, so the
        gradient from a late target reaches early inputs (PyTorch's default shrinks it every step)."""
        for name, weight in self.rnn.named_parameters():
            if name.startswith("weight_hh"):
                with torch.no_grad():
                    for gate in weight.split(hidden):
                        nn.init.orthogonal_(gate)

    def state_size(self, sequence_length: int) -> int:
        """The numbers a stream carries: h of every layer (and c, for the LSTM)."""
        return self.rnn.num_layers * self.rnn.hidden_size * (2 if isinstance(self.rnn, nn.LSTM) else 1)

    def forward(self, x: torch.Tensor, state=None, cond: torch.Tensor | None = None,
                where: torch.Tensor | None = None):
        """`where`: the logits at the positions it marks alone (seqmem/training/scored.py)."""
        h, state = self.rnn(self.encoder(x, cond), state)
        return self.head(h, cond, where), state


@register_model("rnn")
class RNN(Recurrent):
    """A vanilla RNN.

    Args:
        nonlinearity: tanh or relu
    """

    summary = "vanilla (Elman) RNN, tanh or relu, any number of layers"
    cell = nn.RNN

    def __init__(self, task, hidden: int = 128, layers: int = 1, nonlinearity: str = "tanh",
                 encoder: str = "onehot", embedding_dim: int = 0, condition: str = "input", init: str = "default"):
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"nonlinearity must be tanh or relu, got {nonlinearity!r}")
        super().__init__(task, hidden, layers, encoder, embedding_dim, condition, init, nonlinearity=nonlinearity)


@register_model("gru")
class GRU(Recurrent):
    summary = "gated recurrent unit (Cho et al. 2014)"
    cell = nn.GRU

    def __init__(self, task, hidden: int = 128, layers: int = 1, encoder: str = "onehot", embedding_dim: int = 0,
                 condition: str = "input", init: str = "default"):
        super().__init__(task, hidden, layers, encoder, embedding_dim, condition, init)


@register_model("lstm")
class LSTM(Recurrent):
    """An LSTM.

    Args:
        forget_bias: added to the forget gates' bias after PyTorch's init (3 solved temporal order; 0: PyTorch's)
    """

    summary = "long short-term memory (Hochreiter & Schmidhuber 1997)"
    cell = nn.LSTM

    def __init__(self, task, hidden: int = 128, layers: int = 1, encoder: str = "onehot", embedding_dim: int = 0,
                 condition: str = "input", init: str = "default", forget_bias: float = 0.0):
        super().__init__(task, hidden, layers, encoder, embedding_dim, condition, init)
        self.open_forget_gates(hidden, forget_bias)

    def open_forget_gates(self, hidden: int, forget_bias: float) -> None:
        """Add `forget_bias` to every forget gate's bias. PyTorch starts the gates near 0.5, so a cell keeps
        half its content a step and the gradient from a target 50 steps on is gone; Keras adds 1 by default
        (Jozefowicz et al. 2015), and the 1997 LSTM had no forget gate at all (an infinite bias)."""
        if not math.isfinite(forget_bias):
            raise ConfigError(f"forget_bias must be a finite number, got {forget_bias!r}")
        with torch.no_grad():
            for name, bias in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    bias[hidden:2 * hidden] += forget_bias  # PyTorch's gate order: input, forget, cell, output
