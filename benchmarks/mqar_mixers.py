"""MQAR across the mixers on one backbone: test recall against state size, each mixer at its learning rate
chosen on validation from zoology's grid.

A sweep file: MQAR in zoology's layout at (L=64, 4 pairs) or (L=128, 8 pairs) (`BENCH_LENGTH`), vocabulary 256,
every mixer in the backbone at d_model 64, 2 layers with an MLP a block (the models with a frame of their own,
`BENCH_MODELS=gru,lstm,tcn,s4d,lru,mamba`, at width 64, the mqar-64 recipes' sizes before they were matched in
parameters), Adam, clip 1, batch 64, the learning rates logspace(1e-4, 1e-2, 4) (zoology's Figure 2 grid,
`BENCH_LRS`), at most `BENCH_STEPS` updates (600) with an evaluation every 100 and a stop once validation recall reaches 0.99. The budget is in updates, not
seconds, so the load on the machine changes how long a run takes but not what it learns. Each run records its
parameters and state size (zoology's count), so the report draws recall against state size.

    seqmem sweep benchmarks/mqar_mixers.py --out runs/mqar-mixers                       # every mixer, 1 seed
    seqmem report runs/mqar-mixers --choose train.lr --figures docs/img                 # each at its chosen rate
    BENCH_MODELS=gla,mlstm BENCH_SEEDS=3 seqmem sweep benchmarks/mqar_mixers.py --out runs/mqar-mixers
    BENCH_CHOSEN=gla:0.00215,deltanet:0.01 BENCH_SEED_LIST=1,2 seqmem sweep benchmarks/mqar_mixers.py --out runs/mqar-mixers
    BENCH_QUICK=1 seqmem sweep benchmarks/mqar_mixers.py --out /tmp/mq                  # seconds: tiny, two mixers

`BENCH_CHOSEN` (model:lr pairs) runs each model at its one rate only: the rate chosen on validation from a first
pass of one seed over the grid, given more seeds. The points of both passes share a folder, and a rerun skips
what is done.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import option  # noqa: E402

MIXERS = ["attention", "linear-attention", "based", "retnet", "gla", "deltanet", "gated-deltanet", "mamba2",
          "mlstm", "baseconv", "hyena", "h3"]
# The models with a frame of their own at width 64 (the mqar-64 recipes' sizes before they were matched in
# parameters: the tables of docs/results.md were measured so), the LRU at S4D's.
RECIPE_MODELS = {
    "gru": {"hidden": 64, "encoder": "embedding", "embedding_dim": 64},
    "lstm": {"hidden": 64, "encoder": "embedding", "embedding_dim": 64},
    "tcn": {"levels": 5, "kernel_size": 4, "channels": 64, "encoder": "embedding", "embedding_dim": 64},
    "s4d": {"d_model": 64, "layers": 2, "state_size": 64, "encoder": "embedding", "embedding_dim": 64},
    "lru": {"d_model": 64, "layers": 2, "state_size": 64, "encoder": "embedding", "embedding_dim": 64},
    "mamba": {"d_model": 64, "layers": 2, "state_size": 16, "encoder": "embedding", "embedding_dim": 64},
}
LRS = [1e-4, 4.64e-4, 2.15e-3, 1e-2]
SETTINGS = {64: {"length": 64, "pairs": 4, "queries": 4}, 128: {"length": 128, "pairs": 8, "queries": 8}}

quick = option("quick", False)
models = ["attention", "linear-attention"] if quick else option("models", MIXERS)
length = option("length", 64)
task = ({"length": 12, "pairs": 2, "queries": 2, "vocab": 16, "test_size": 16, "validation_size": 16} if quick else
        {**SETTINGS[length], "vocab": 256, "test_size": 1000, "validation_size": 1000})
steps = 3 if quick else option("steps", 600)
lrs = [1e-3] if quick else option("lrs", LRS)
seeds = [0] if quick else option("seed_list", list(range(option("seeds", 1))))  # BENCH_SEED_LIST=1,2: those only

chosen = [pair.split(":") for pair in option("chosen", [])] if not quick else []
pairs = [(model, float(lr)) for model, lr in chosen] or [(model, lr) for model in models for lr in lrs]

tags = {"benchmark": "mqar_mixers"}
configs = [{"task": {"name": "associative-recall", "layout": "zoology", **task},
            "model": {"name": model, **RECIPE_MODELS.get(model, {"d_model": 16 if quick else 64, "layers": 2})},
            "train": {"optimizer": "adam", "lr": lr, "clip": 1.0, "batch_size": 64, "steps": steps,
                      "eval_every": min(100, steps), "stop_at": 0.99, "seed": seed}}
           for model, lr in pairs for seed in seeds]
