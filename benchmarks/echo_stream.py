"""Echo a binary stream echo_step steps later (notebook 002): which models solve which echo_step.

A sweep file: every model variant (tag `variant`) at every echo_step, trained with truncated BPTT on the
notebook's data (5 training streams of 20000 steps, RMSprop lr 1e-3, batch 5), stopped once validation
recall reaches 0.995, and scored on the fixed test streams (5 x 20000), run whole. Recall accuracy counts the
steps t >= echo_step; the memoryless figure is 0.5. "solved" means test recall accuracy > 0.99.

Settings that differ from the notebook, to fit the grid in minutes on 2 cores: at most 3 (`BENCH_EPOCHS`;
10 for the gated models from echo_step 20 on, `BENCH_GATED_LONG_EPOCHS`) passes over the streams instead of
20; chunks of max(20, 2 * echo_step) steps (truncated BPTT cannot learn an echo longer than its chunk: no
gradient links an input to a target that lies in a later chunk); one thread per worker.

    BENCH_SEEDS=0,1,2 seqmem sweep benchmarks/echo_stream.py --out runs/echo_stream   # docs/echo.md's table
    seqmem report runs/echo_stream --format jsonl --output benchmarks/results/echo_stream.jsonl
    BENCH_QUICK=1 seqmem sweep benchmarks/echo_stream.py --out /tmp/es   # seconds: short streams, echo_step 3, 10
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import option  # noqa: E402

from seqmem.errors import ConfigError  # noqa: E402

VARIANTS = {
    "rnn-relu-4": {"name": "rnn", "hidden": 4, "nonlinearity": "relu"},
    "rnn-relu-60": {"name": "rnn", "hidden": 60, "nonlinearity": "relu"},
    "rnn-relu-6x60": {"name": "rnn", "hidden": 60, "layers": 6, "nonlinearity": "relu"},
    "gru-64": {"name": "gru", "hidden": 64},
    "lstm-64": {"name": "lstm", "hidden": 64},
    "tcn-7x16": {"name": "tcn", "levels": 7, "kernel_size": 2, "channels": 16},  # receptive field 255
}
GATED = ("gru-64", "lstm-64")

quick = option("quick", False)
echo_steps = [3, 10] if quick else option("echo_steps", [3, 10, 20, 50, 100])
variants = ["rnn-relu-4", "gru-64"] if quick else option("models", list(VARIANTS))
unknown = [v for v in variants if v not in VARIANTS]
if unknown:
    raise ConfigError(f"BENCH_MODELS: unknown {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
length = 2000 if quick else option("series_length", 20000)
seeds, lr = option("seeds", [0]), option("lr", 1e-3)


def epochs(variant: str, echo_step: int) -> int:
    if quick:
        return 2
    return option("gated_long_epochs", 10) if variant in GATED and echo_step >= 20 else option("epochs", 3)


tags = {"benchmark": "echo_stream", "series_length": length, "lr": lr}
configs = []
for echo_step in echo_steps:
    chunk = max(20, 2 * echo_step)
    for variant in variants:
        configs += [{"name": f"{variant},echo_step={echo_step},seed={seed}", "tags": {"variant": variant},
                     "task": {"name": "echo-stream", "echo_step": echo_step, "series_length": length, "streams": 5,
                              "data_seed": seed},
                     "model": VARIANTS[variant],
                     "method": {"name": "tbptt", "chunk_length": chunk},
                     "train": {"optimizer": "rmsprop", "lr": lr, "batch_size": 5, "epochs": epochs(variant, echo_step),
                               "eval_every": max(1, -(-length // chunk) // 2), "stop_at": 0.995, "seed": seed}}
                    for seed in seeds]
