"""Content-dependent recall: which models solve selective copy and associative recall, at stated sizes.

A sweep file: every model at its default size (tcn, gru, lstm, s4d, lru, mamba, and attention and the mixers on
the backbone at d_model 64, 2 layers) on each task, all with the same settings and budget, tuned for none: Adam
3e-3, clip 1, batch 32, at most 3000 updates (`BENCH_STEPS`) on one thread (`BENCH_MAX_SECONDS` adds a cut in
seconds; none by default, so the machine's load changes the time a run takes, not what it learns), an
evaluation every 250 updates, stopped once validation recall reaches 0.99. The figure is the test recall of the last evaluation, mean (min..max)
over the seeds; "solved" means a mean above 0.99. The memoryless recall is beside it.

    seqmem sweep benchmarks/content_recall.py --out runs/content_recall     # docs/results.md's table (2 workers)
    seqmem report runs/content_recall --format jsonl --output benchmarks/results/content_recall.jsonl
    BENCH_MODELS=mamba,attention seqmem sweep benchmarks/content_recall.py --workers 1 --out runs/cr-mamba
    BENCH_SEEDS=1 seqmem sweep benchmarks/content_recall.py --out runs/cr-seed1   # the seeds listed (default 0,1)
    BENCH_QUICK=1 seqmem sweep benchmarks/content_recall.py --out /tmp/cr   # seconds: tiny tasks, two models
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import option  # noqa: E402

from seqmem.errors import ConfigError  # noqa: E402

TASKS = {
    "selective-copy": {"blank": 64, "recall_length": 8, "alphabet": 8},
    "associative-recall": {"pairs": 8, "queries": 8, "keys": 64, "values": 64},
}
QUICK_TASKS = {
    "selective-copy": {"blank": 8, "recall_length": 2, "alphabet": 4},
    "associative-recall": {"pairs": 2, "queries": 2, "keys": 4, "values": 4},
}
MODELS = ["tcn", "gru", "lstm", "s4d", "lru", "mamba", "attention", "linear-attention", "based", "retnet", "gla",
          "deltanet", "gated-deltanet", "mamba2", "mlstm", "baseconv", "hyena", "h3"]

quick = option("quick", False)
models = ["tcn", "gru"] if quick else option("models", MODELS)
unknown = [m for m in models if m not in MODELS]
if unknown:
    raise ConfigError(f"BENCH_MODELS: unknown {unknown[0]!r}; choose from {', '.join(MODELS)}")
tasks, size = (QUICK_TASKS, 50) if quick else (TASKS, 500)
steps, seeds = (20, [0]) if quick else (option("steps", 3000), option("seeds", [0, 1]))

tags = {"benchmark": "content_recall"}
configs = [{"task": {"name": task, **settings, "test_size": size, "validation_size": size},
            "model": {"name": model},
            "train": {"optimizer": "adam", "lr": 3e-3, "clip": 1.0, "batch_size": 32, "steps": steps,
                      "max_seconds": option("max_seconds", 0.0) or None, "eval_every": min(250, steps), "stop_at": 0.99,
                      "seed": seed}}
           for task, settings in tasks.items() for model in models for seed in seeds]
