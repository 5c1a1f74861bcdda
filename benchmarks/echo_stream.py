"""Echo a binary stream echo_step steps later (notebook 002): which models solve which echo_step.

Every cell trains with truncated BPTT on the notebook's data (5 training streams of 20000 steps, RMSprop
lr 1e-3, batch 5) and is scored on the fixed test streams (5 x 20000), run whole. Recall accuracy counts
the steps t >= echo_step; the memoryless figure is 0.5. "solved" means recall accuracy > 0.99.

Settings that differ from the notebook, to fit 25 cells in about ten minutes on 2 cores: at most
`--epochs` (default 3) passes over the streams instead of 20, stopping once a cell is solved; chunks of
max(20, 2 * echo_step) steps (truncated BPTT cannot learn an echo longer than its chunk: no gradient links
an input to a target that lies in a later chunk); one thread per process.

    python benchmarks/echo_stream.py            # the table docs/echo.md quotes
    python benchmarks/echo_stream.py --quick    # seconds: short streams, echo_step 3 and 10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from seqmem import TrainConfig, make_model, make_task, train
from seqmem.runs import write_jsonl

MODELS = {
    "rnn-relu-4": ("rnn", {"hidden": 4, "nonlinearity": "relu"}),
    "rnn-relu-60": ("rnn", {"hidden": 60, "nonlinearity": "relu"}),
    "rnn-relu-6x60": ("rnn", {"hidden": 60, "layers": 6, "nonlinearity": "relu"}),
    "gru-64": ("gru", {"hidden": 64}),
    "lstm-64": ("lstm", {"hidden": 64}),
    "tcn-7x16": ("tcn", {"levels": 7, "kernel_size": 2, "channels": 16}),  # receptive field 255
}


def cell(echo_step: int, label: str, series_length: int, epochs: int, seed: int, lr: float) -> dict:
    name, params = MODELS[label]
    task = make_task("echo-stream", echo_step=echo_step, series_length=series_length, streams=5, data_seed=seed)
    model = make_model(name, task, seed=seed, **params)
    chunk = max(20, 2 * echo_step)
    per_epoch = -(-series_length // chunk)
    config = TrainConfig(method="tbptt", chunk_length=chunk, optimizer="rmsprop", lr=lr, batch_size=5,
                         epochs=epochs, eval_every=max(1, per_epoch // 2), stop_at=0.995, seed=seed)
    tic = time.perf_counter()
    result = train(model, task, config, progress=False)
    return {"benchmark": "echo_stream", "metric": "recall_accuracy", "value": round(result.recall_accuracy, 4),
            "unit": "fraction", "echo_step": echo_step, "model": label, "solved": result.recall_accuracy > 0.99,
            "memoryless_recall_accuracy": task.baseline().recall_accuracy, "updates": result.steps,
            "train_seconds": result.train_seconds, "wall_seconds": round(time.perf_counter() - tic, 1),
            "chunk_length": chunk, "series_length": series_length, "max_epochs": epochs, "optimizer": "rmsprop",
            "lr": lr, "seed": seed, "threads": torch.get_num_threads()}


def table(rows: list[dict]) -> str:
    """Markdown: echo_step down, models across, recall accuracy in each cell (bold when > 0.99)."""
    labels = [m for m in MODELS if any(r["model"] == m for r in rows)]
    steps = sorted({r["echo_step"] for r in rows})
    out = ["| echo_step | " + " | ".join(labels) + " |", "|---:|" + "---:|" * len(labels)]
    for e in steps:
        cells = []
        for m in labels:
            r = next((r for r in rows if r["echo_step"] == e and r["model"] == m), None)
            cells.append("-" if r is None else (f"**{r['value']:.3f}**" if r["solved"] else f"{r['value']:.3f}"))
        out.append(f"| {e} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds: 2000-step streams, echo_step 3 and 10")
    parser.add_argument("--echo-steps", default="3,10,20,50,100")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--series-length", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-3, help="RMSprop learning rate (the notebook's 1e-3)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="default benchmarks/results/echo_stream[-quick].jsonl")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps = [int(s) for s in args.echo_steps.split(",")]
    models = args.models.split(",")
    for m in models:
        if m not in MODELS:
            parser.error(f"--models: unknown {m!r}; choose from {', '.join(MODELS)}")
    length, epochs = args.series_length, args.epochs
    if args.quick:
        steps, models, length, epochs = [3, 10], ["rnn-relu-4", "gru-64"], 2000, 2
    out = Path(args.out or Path(__file__).parent / "results" / f"echo_stream{'-quick' if args.quick else ''}.jsonl")
    rows = []
    for e in steps:
        for m in models:
            rows.append(cell(e, m, length, epochs, args.seed, args.lr))
            print(json.dumps(rows[-1]), flush=True)
            write_jsonl(out, rows)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
