"""The state-space models (s4d, lru, mamba) as mixers on the backbone: what they keep of the frame they had
before it.

Each had its own frame: an encoder of its own width (`embedding_dim`) then a learned map to d_model,
pre-norm residual blocks with no MLP, a final norm and the head. On the backbone only the mixer is theirs
(the S4D and LRU layers with their GELU and GLU mixing, the Mamba block), with `state_mixer none`, the
input map kept where `embedding_dim` is set, and the weights drawn in the old frame's order, so a recipe
trains the same model from the same weights. A checkpoint written by the old frame names and orders its
layers differently (and so does its optimizer's state): it is refused in one line.
"""

from __future__ import annotations

import torch
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.models.backbone import Backbone
from seqmem.models.encoding import InputEncoder, OutputHead

BLOCK_PARTS = ("mixer", "mixer_norm", "state_mixer", "state_norm")  # what a backbone block's keys name
BEFORE = "b4fb6f9"  # the last commit with the old frames


class StateSpaceBackbone(Backbone):
    """The backbone with an encoder of width `embedding_dim` and a learned map to d_model where it is set, its
    weights drawn in the old frame's order (`redraw`: the model's mixers' part of it)."""

    def __init__(self, task, mixer: type, mixer_settings: dict, d_model: int, layers: int, dropout: float,
                 encoder: str, embedding_dim: int):
        check_int("embedding_dim", embedding_dim, 0)
        start = torch.get_rng_state()
        super().__init__(task, mixer, mixer_settings, d_model=d_model, layers=layers, state_mixer="none",
                         norm="layernorm", dropout=dropout, encoder=encoder, condition="input")
        # Drawn again from where the backbone started, in the order the old frame drew them: a seed gives the
        # weights it gave then (tests/test_ssm_frame.py), so a recipe trains from the same start.
        torch.set_rng_state(start)
        if embedding_dim:  # the old frame's input: the encoder at its own width, then always a map to d_model
            self.encoder = InputEncoder(task, encoder, embedding_dim)
            self.input = nn.Linear(self.encoder.features, d_model)
        else:
            self.encoder = InputEncoder(task, encoder, d_model)
            if isinstance(self.input, nn.Linear):
                self.input = nn.Linear(self.encoder.features, d_model)
        if self.encoder.embedding is not None:
            self.encoder.embedding.weight._no_weight_decay = True  # an embedding: decay would pull it to nothing
        self.redraw(d_model, mixer_settings)
        self.head = OutputHead(d_model, task)

    def redraw(self, d_model: int, settings: dict) -> None:
        """The mixers' parts built again in the order the model's old frame built them."""
        raise NotImplementedError

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        if any(written_by_old_frame(k) for k in state_dict):  # kept short: a run's loader quotes 160 characters
            raise ConfigError(f"{self.name} weights from before its move onto the backbone (layers renamed and "
                              f"reordered): train it again, or load it with seqmem at commit {BEFORE}")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def written_by_old_frame(key: str) -> bool:
    """Whether a state-dict key is one only the old frames wrote (`norms.0.weight`, `ssms.0.log_dt`,
    `mixes.0.bias`; `blocks.0.lru.nu_log`, `blocks.0.in_proj.weight`)."""
    parts = key.split(".")
    if parts[0] in ("norms", "ssms", "mixes"):
        return True
    return parts[0] == "blocks" and len(parts) > 2 and parts[2] not in BLOCK_PARTS
