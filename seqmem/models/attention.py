"""Attention: causal multi-head softmax attention (seqmem/mixers/attention.py) in the backbone, the model
every memory paper is read against."""

from __future__ import annotations

from seqmem.mixers.attention import Attention
from seqmem.models import register_model
from seqmem.models.backbone import Backbone


@register_model("attention")
class AttentionModel(Backbone):
    """Attention: pre-norm blocks of causal softmax attention and an MLP (the backbone's other settings and
    their help are the backbone's).

    Args:
        heads: attention heads a layer (they split d_model)
        positions: how order enters: rope (rotated queries and keys), learned (a vector a position, up to the
            task's length) or none (the causal mask alone)
        window: steps a position sees, itself included (none: every earlier step)
    """

    summary = "attention: causal multi-head softmax attention (RoPE, optional window) in pre-norm blocks with an MLP"

    def __init__(self, task, d_model: int = 64, layers: int = 2, heads: int = 1, positions: str = "rope",
                 window: int | None = None, state_mixer: str = "mlp", norm: str = "layernorm",
                 dropout: float = 0.0, encoder: str = "embedding", condition: str = "input"):
        super().__init__(task, Attention, {"heads": heads, "positions": positions, "window": window}, d_model=d_model,
                         layers=layers, state_mixer=state_mixer, norm=norm, dropout=dropout, encoder=encoder,
                         condition=condition)
        self.layers = layers

    def fix_receptive_field(self, span: int) -> str:
        """The smallest window through which the stacked layers see `span` steps (each adds window - 1)."""
        return f"--window {1 + -(-(span - 1) // self.layers)} or --window none"
