"""PyTorch's CPU threads while seqmem trains: one, unless the caller has chosen.

The models here are small: on a 2-core machine PyTorch's default (a thread a core) made 200 updates of a
GRU take 60 s from a script or a notebook against 1 s from the command line, which runs one thread. So
every training (`seqmem.train`, `run_experiment`, the command line) runs on one thread unless the user has
chosen a number, with `seqmem.set_threads(n)` (the command line's `--threads`) or `OMP_NUM_THREADS` in
the environment; the caller's own setting is restored afterwards.
"""

from __future__ import annotations

import contextlib
import os

from seqmem.config.settings import check_int

chosen: int | None = None  # set_threads's number; 0 keeps PyTorch's own


def set_threads(threads: int) -> None:
    """Train on `threads` PyTorch threads from now on (0: PyTorch's default, a thread a core)."""
    global chosen
    chosen = check_int("threads", threads, 0)


@contextlib.contextmanager
def training_threads():
    import torch  # here: the command line sets --threads through this module before PyTorch is needed

    wanted = chosen if chosen is not None else (0 if os.environ.get("OMP_NUM_THREADS") else 1)
    before = torch.get_num_threads()
    if wanted:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(before)
