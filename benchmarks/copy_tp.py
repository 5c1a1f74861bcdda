"""BPTT against target propagation on copy memory (notebook 001's layout): recall accuracy by delay T.

A sweep file: recipes seed-copy-bp and seed-copy-tp over the delay T and the seeds, so both methods see the
same number of training samples (steps x batch size) and are scored on the same fixed 1000 test sequences. A
run stops once its validation recall reaches 0.99; "recall at best valid" is the test recall at the
evaluation with the best validation recall. `seqmem demo` can show any two of its runs.

    seqmem sweep benchmarks/copy_tp.py --out runs/copy_tp     # T = 5, 10, 15, 20, 30 x {bptt, target-prop} x 3 seeds
    seqmem report runs/copy_tp --format jsonl --output benchmarks/results/copy_tp.jsonl
    BENCH_BLANKS=5,10 BENCH_SEEDS=0,1 seqmem sweep benchmarks/copy_tp.py --out runs/copy_tp-small
    BENCH_QUICK=1 seqmem sweep benchmarks/copy_tp.py --out /tmp/copy_tp   # seconds: T=3, a small RNN, 30 steps
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import option  # noqa: E402

from seqmem.config.compose import recipe_config  # noqa: E402
from seqmem.sweeps.sweep import grid  # noqa: E402

RECIPES = ("seed-copy-bp", "seed-copy-tp")
quick = option("quick", False)
blanks = [3] if quick else option("blanks", [5, 10, 15, 20, 30])
seeds = [0] if quick else option("seeds", [0, 1, 2])

shared = [("train.stop_at", "0.99", "stop_at")]
if quick:
    shared += [("task.test_size", "100", ""), ("task.validation_size", "100", ""), ("model.hidden", "16", ""),
               ("train.steps", "30", ""), ("train.eval_every", "30", "")]
tags = {"benchmark": "copy_tp"}
configs = []
for recipe in RECIPES:
    tweaks = shared + ([("method.warmup_steps", "10", "")] if quick and recipe == "seed-copy-tp" else [])
    configs += [{**c.as_dict(), "tags": {"recipe": recipe}}
                for c in grid(recipe_config(recipe), {"task.blank": blanks}, seeds, tweaks)]
