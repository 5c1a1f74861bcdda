"""Model registry: each module in this package registers its models by short name (`@register_model("tcn")`).

Every model is an `nn.Module` built as `cls(task, **hyperparameters)` whose `forward(x, state=None)`
returns `(logits, state)`: logits `(B, L, classes)` for per-step tasks or `(B, classes)` for sequence
classification, and a state to carry into the next chunk (None where the model keeps none). It has a
`receptive_field` (math.inf for recurrent models), and optionally a `state_size`: the numbers it carries, or
as zoology gives it, a method `state_size(sequence_length)`. As for tasks, the names and settings are read from the
modules' source, so only building a model (seqmem.run.build.make_model) imports its module, and PyTorch.

A class named where a model is (a short name of an installed package's, or an import path) whose
constructor takes `d_model` (zoology's convention) or `dim` (mad-lab's) instead of `task` is a sequence
mixer, a `(B, L, D) -> (B, L, D)` layer: it is built once a layer inside the backbone
(seqmem/models/backbone.py), and its settings are the backbone's beside its own.
"""

import functools

from seqmem.config import user_code
from seqmem.config.registry import Registry, settings_lineage
from seqmem.config.settings import Param, read_settings
from seqmem.errors import ConfigError

# Help for the settings every model that encodes token inputs declares (seqmem/models/encoding.py), written once.
SHARED_HELP = {
    "encoder": "how token inputs enter: onehot, embedding (learned, of width embedding_dim) or linear (a learned "
               "input layer of width embedding_dim)",
    "embedding_dim": "width of the embedding or input layer (with encoder embedding or linear)",
}
MIXER_FIRST = ("d_model", "dim")  # what a mixer is built from: zoology's convention, mad-lab's
PASSED = ("d_model", "layer_idx", "l_max", "dim", "max_length")  # what the backbone passes a mixer itself
BACKBONE = "seqmem.models.backbone:Backbone"


class ModelRegistry(Registry):
    """The models, and sequence mixers named where a model is (their settings: the backbone's and their own)."""

    def is_mixer(self, name: str) -> bool:
        first = self.first_argument(name)
        if first in MIXER_FIRST:
            return True
        if first != "task":
            raise ConfigError(f"model {user_code.label(name)}: its constructor takes {first or 'nothing'!r} first: a "
                              "model is built as cls(task, **settings), a sequence mixer as cls(d_model, ...) "
                              "(zoology's convention) or cls(dim, ...) (mad-lab's); see docs/extending.md")
        return False

    def params(self, name: str) -> dict[str, Param]:
        if not self.is_mixer(name):
            return super().params(name)
        own = {k: p for k, p in super().params(name).items() if k not in PASSED}
        frame = backbone_settings()
        clash = sorted(own.keys() & frame.keys())
        if clash:
            raise ConfigError(f"mixer {user_code.label(name)}: its setting {clash[0]!r} is also the backbone's; "
                              "rename it in the mixer")
        return {**frame, **own}


def backbone_settings() -> dict[str, Param]:
    """The backbone's own settings (d_model, layers, state_mixer, norm, ...), read from its source."""
    return dict(read_backbone_settings())


@functools.cache  # read once: a mixer's settings, its build and its size each ask for them
def read_backbone_settings() -> dict[str, Param]:
    node, classes = user_code.read_source(BACKBONE)
    params = read_settings(settings_lineage(node, classes, False), skip=1)
    return {k: p for k, p in params.items() if k not in ("mixer", "mixer_settings")}


# after `task`; the mixers' package registers the built-in mixers (`@register_model("gla")` on a mixer class)
MODELS = ModelRegistry(__name__, "register_model", "model", skip=1, shared_help=SHARED_HELP, also=("seqmem.mixers",))
register_model = MODELS.register


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def state_numbers(model, sequence_length: int):
    """The model's `state_size`: its number, or its method's count after `sequence_length` steps; None if it gives none."""
    size = getattr(model, "state_size", None)
    return size(sequence_length=sequence_length) if callable(size) else size
