"""Sequence mixers: `(B, L, D) -> (B, L, D)` layers that move information along the sequence, each built once a
layer inside the backbone (seqmem/models/backbone.py) in zoology's convention, `cls(d_model, layer_idx=...,
l_max=..., **settings)`; a mixer that streams takes `forward(u, state=None)` and returns `(y, state)`."""
