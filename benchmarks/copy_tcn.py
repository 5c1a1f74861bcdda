"""Copy memory T=1000 with the TCN paper's setting (recipe copy-tcn-1000): updates and seconds to recall >= 0.99.

A sweep file of two points, one per initialisation (tag `init`): PyTorch's default (seqmem's default, and
what locuslab's TCN effectively trains with, since its weight norm undoes its N(0, 0.01) init) and N(0, 0.01)
applied before weight norm, so that it holds. Each evaluates the 1000 validation and 1000 test sequences
every 100 updates and stops once validation recall reaches 0.99; the figures are the test scores at that
step, and the two rows' `steps` give the ratio of updates. Seconds are training time only (evaluation
excluded); the points run side by side, one thread each.

    seqmem sweep benchmarks/copy_tcn.py --out runs/copy_tcn
    seqmem report runs/copy_tcn --format jsonl --output benchmarks/results/copy_tcn.jsonl
    BENCH_QUICK=1 seqmem sweep benchmarks/copy_tcn.py --out /tmp/copy_tcn   # seconds: T=20, a small TCN
"""

import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import option  # noqa: E402

from seqmem.config.compose import recipe_config  # noqa: E402

INITS = {"default": 0.0, "paper": 0.01}

base = recipe_config("copy-tcn-1000")
base["train"].pop("epochs")
base["train"].update(steps=option("max_steps", 6000), eval_every=option("eval_every", 100), stop_at=0.99)
if option("quick", False):
    base["task"].update(blank=20, train_size=2000, test_size=200, validation_size=200)
    base["model"].update(levels=4, kernel_size=4)
    base["train"].update(steps=60, eval_every=20, lr=5e-3)

tags = {"benchmark": "copy_tcn", "target": 0.99}
configs = []
for init in option("init", list(INITS)):
    config = copy.deepcopy(base)
    config["model"]["init_std"] = INITS[init]
    configs.append({**config, "name": f"init={init}", "tags": {"init": init}})
