"""One backbone for any sequence mixer: a whole seqmem model in which only the mixer differs.

The task's inputs are encoded as the other models encode them (tokens embedded at d_model, floats projected
to it, the per-sequence condition one-hot on the input or one output map per value), then `layers` pre-norm
residual blocks, each h + mixer(norm(h)) then h + state_mixer(norm(h)), a final norm and the head, as
zoology's `model.py` and mad-lab's backbone stack them. The norms are all `layernorm` or all `rmsnorm`; the
state mixer is an `mlp` (d_model -> 4 d_model, GELU, back), a `swiglu` of about the same parameters, or
`none` (no second sub-block, zoology's `Identity`). Dropout acts on each sub-block's output before it is added.

The mixer is a class built once a layer. One whose constructor takes `d_model` is built in zoology's
convention, `cls(d_model=..., layer_idx=i, l_max=..., **mixer_settings)` (layer_idx and l_max only where its
signature names them or takes **kwargs); one that takes `dim` in mad-lab's, `cls(dim=..., max_length=...)`.
l_max is the task's span. `forward(u)` returns y, both `(B, L, D)`; a mixer whose forward takes `state`
streams: `forward(u, state)` returns `(y, state)`. A tuple from a mixer that does not stream (fla's layers
return `(o, attentions, cache)`) is read as its first element.

The backbone's state is the tuple of its mixers' states where every mixer streams (truncated BPTT, streams,
horizon probes and demo then continue a stream chunk by chunk), and None where one does not (a chunk could
not continue what that mixer saw). `receptive_field`: a mixer that states its own (a windowed attention, a
short convolution) adds `receptive_field - 1` steps a layer; one that states none is taken to see its whole
input, as attention and the state-space layers do (math.inf), and `seqmem check` measures causality either
way. `state_size(sequence_length)` sums the mixers' own counts (None where one gives none).
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.config.user_code import construct
from seqmem.errors import ConfigError
from seqmem.models.encoding import ENCODERS, InputEncoder, OutputHead

STATE_MIXERS = ("mlp", "swiglu", "none")
NORMS = ("layernorm", "rmsnorm")
CONDITIONS = ("input", "head", "both")
OWN = ("d_model", "layer_idx", "l_max", "dim", "max_length")  # what the backbone passes a mixer itself


class MLP(nn.Module):
    """d -> 4 d, GELU, -> d."""

    def __init__(self, d_model: int):
        super().__init__()
        self.up, self.down = nn.Linear(d_model, 4 * d_model), nn.Linear(4 * d_model, d_model)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(h)))


class SwiGLU(nn.Module):
    """d -> two of width ceil(8 d / 3), one through SiLU gating the other, -> d: the MLP's parameters, gated."""

    def __init__(self, d_model: int):
        super().__init__()
        inner = -(-8 * d_model // 3)
        self.up = nn.Linear(d_model, 2 * inner, bias=False)
        self.down = nn.Linear(inner, d_model, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        gate, value = self.up(h).chunk(2, dim=-1)
        return self.down(F.silu(gate) * value)


def make_norm(kind: str, d_model: int) -> nn.Module:
    return nn.LayerNorm(d_model) if kind == "layernorm" else nn.RMSNorm(d_model)


def mixer_arguments(mixer: type, d_model: int, layer_idx: int, l_max: int) -> dict:
    """What the backbone passes `mixer` itself, in zoology's convention (d_model) or mad-lab's (dim)."""
    params = inspect.signature(mixer).parameters
    if "d_model" in params:
        given = {"d_model": d_model, "layer_idx": layer_idx, "l_max": l_max}
    elif "dim" in params:
        given = {"dim": d_model, "max_length": l_max}
    else:
        raise ConfigError(f"mixer {mixer.__name__} takes neither d_model (zoology's convention) nor dim (mad-lab's): "
                          "give its constructor the width as d_model")
    width = next(iter(given))
    return {k: v for k, v in given.items() if k == width or k in params or takes_any(mixer)}


def takes_any(mixer: type) -> bool:
    """Whether the mixer's constructor takes **kwargs."""
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(mixer).parameters.values())


def streams(mixer: nn.Module) -> bool:
    """A mixer streams when its forward takes a `state`: `forward(u, state=None) -> (y, state)`."""
    return "state" in inspect.signature(mixer.forward).parameters


class Block(nn.Module):
    """h + mixer(norm(h)), then h + state_mixer(norm(h)); dropout on each before it is added."""

    def __init__(self, mixer: nn.Module, d_model: int, state_mixer: str, norm: str, dropout: float):
        super().__init__()
        self.mixer, self.streams = mixer, streams(mixer)
        self.mixer_norm = make_norm(norm, d_model)
        self.state_mixer = {"mlp": MLP, "swiglu": SwiGLU}[state_mixer](d_model) if state_mixer != "none" else None
        self.state_norm = make_norm(norm, d_model) if self.state_mixer is not None else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, state=None):
        u = self.mixer_norm(h)  # (B, L, D)
        out = self.mixer(u, state) if self.streams else self.mixer(u)
        if self.streams:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ConfigError(f"mixer {type(self.mixer).__name__} takes a state, so its forward must return "
                                  f"(y, state); it returned {type(out).__name__}")
            y, state = out
        else:
            y, state = out[0] if isinstance(out, tuple) else out, None
        if not isinstance(y, torch.Tensor) or y.shape != u.shape:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ConfigError(f"mixer {type(self.mixer).__name__} returned {got} for an input of {tuple(u.shape)}: "
                              "a mixer maps (batch, steps, d_model) to the same shape")
        h = h + self.dropout(y)
        if self.state_mixer is not None:
            h = h + self.dropout(self.state_mixer(self.state_norm(h)))
        return h, state


class Backbone(nn.Module):
    """Encoder, `layers` pre-norm blocks of [mixer, state mixer], final norm, head; only the mixer differs.

    Args:
        d_model: width of the residual stream (channels a block reads and writes)
        layers: residual blocks stacked
        state_mixer: the block's second half: mlp (4 d_model, GELU), swiglu or none
        norm: the norm before each sub-block and at the end: layernorm or rmsnorm
        dropout: dropout probability on each sub-block's output (0: off)
        encoder: how token inputs enter: embedding (learned, of width d_model), onehot, or linear (a learned
            input layer of width d_model)
        condition: how a per-sequence value the task tells (a variable delay) reaches the model: input (one-hot on
            every step), head (one output map per value) or both
    """

    def __init__(self, task, mixer: type, mixer_settings: dict | None = None, d_model: int = 64, layers: int = 2,
                 state_mixer: str = "mlp", norm: str = "layernorm", dropout: float = 0.0,
                 encoder: str = "embedding", condition: str = "input"):
        super().__init__()
        check_int("d_model", d_model)
        check_int("layers", layers)
        if layers > 256:
            raise ConfigError(f"layers must be at most 256, got {layers}")
        for name, value, choices in (("state_mixer", state_mixer, STATE_MIXERS), ("norm", norm, NORMS),
                                     ("encoder", encoder, ENCODERS), ("condition", condition, CONDITIONS)):
            if value not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
        if not isinstance(mixer, type) or not issubclass(mixer, nn.Module):
            raise ConfigError(f"mixer must be a torch.nn.Module class, got {mixer!r}")
        settings = dict(mixer_settings or {})
        clash = sorted(set(settings) & set(OWN))
        if clash:
            raise ConfigError(f"mixer setting {clash[0]} is the backbone's to pass: set --d-model for the width; "
                              "layer_idx and the sequence length come from the layer and the task")
        unknown = sorted(set(settings) - set(inspect.signature(mixer).parameters))
        if unknown and not takes_any(mixer):
            own = ", ".join(k for k in inspect.signature(mixer).parameters if k not in OWN) or "none"
            raise ConfigError(f"mixer {mixer.__name__} has no setting {unknown[0]!r}; its settings: {own}")
        self.encoder = InputEncoder(task, encoder, d_model, use_cond=condition != "head")
        embedded = (self.encoder.embedding is not None and not self.encoder.cond_size) or self.encoder.linear is not None
        self.input = nn.Identity() if embedded else nn.Linear(self.encoder.features, d_model)
        if self.encoder.embedding is not None:
            self.encoder.embedding.weight._no_weight_decay = True  # an embedding: decay would pull it to nothing
        self.blocks = nn.ModuleList(
            Block(construct(f"mixer {mixer.__name__}", mixer, **mixer_arguments(mixer, d_model, i, task.span),
                            **settings), d_model, state_mixer, norm, dropout)
            for i in range(layers))
        self.norm = make_norm(norm, d_model)
        self.head = OutputHead(d_model, task, task.cond_size if condition != "input" else None)
        self.streams = all(block.streams for block in self.blocks)
        fields = [getattr(block.mixer, "receptive_field", math.inf) for block in self.blocks]
        self.receptive_field = 1 + sum(f - 1 for f in fields) if all(map(math.isfinite, fields)) else math.inf

    def forward(self, x: torch.Tensor, state=None, cond: torch.Tensor | None = None,
                where: torch.Tensor | None = None):
        """`state`: each mixer's state after the last chunk (None: a new stream), where every mixer streams.
        `where`: the logits at the positions it marks alone (seqmem/training/scored.py)."""
        h = self.input(self.encoder(x, cond))  # (B, L, D)
        states = []
        for i, block in enumerate(self.blocks):
            h, layer_state = block(h, None if state is None else state[i])
            states.append(layer_state)
        return self.head(self.norm(h), cond, where), tuple(states) if self.streams else None

    def state_size(self, sequence_length: int) -> int | None:
        """The numbers the mixers carry after `sequence_length` steps (zoology's count); None where a mixer
        gives no count."""
        counts = [getattr(block.mixer, "state_size", None) for block in self.blocks]
        if any(not callable(count) for count in counts):
            return None
        return sum(count(sequence_length=sequence_length) for count in counts)
