"""Model registry: each module in this package registers its models by short name (`@register_model("tcn")`).

Every model is an `nn.Module` built as `cls(task, **hyperparameters)` whose `forward(x, state=None)`
returns `(logits, state)`: logits `(B, L, classes)` for per-step tasks or `(B, classes)` for sequence
classification, and a state to carry into the next chunk (None where the model keeps none). It has a
`receptive_field` (math.inf for recurrent models), and optionally a `state_size`: the numbers it carries, or
as zoology gives it, a method `state_size(sequence_length)`. As for tasks, the names and settings are read from the
modules' source, so only building a model (seqmem.run.build.make_model) imports its module, and PyTorch.
"""

from seqmem.config.registry import Registry

# Help for the settings every model that encodes token inputs declares (seqmem/models/encoding.py), written once.
SHARED_HELP = {
    "encoder": "how token inputs enter: onehot, embedding (learned, of width embedding_dim) or linear (a learned "
               "input layer of width embedding_dim)",
    "embedding_dim": "width of the embedding or input layer (with encoder embedding or linear)",
}

MODELS = Registry(__name__, "register_model", "model", skip=1, shared_help=SHARED_HELP)  # after `task`
register_model = MODELS.register


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def state_numbers(model, sequence_length: int):
    """The model's `state_size`: its number, or its method's count after `sequence_length` steps; None if it gives none."""
    size = getattr(model, "state_size", None)
    return size(sequence_length=sequence_length) if callable(size) else size
