"""The head only where a task scores: an update of gru and attention on MQAR in zoology's layout with the
head at every position beside the head at the scored positions alone, on the same weights.

MQAR at L=64, 4 pairs (only the 4 queries of the 64 positions scored), vocabulary 256 and zoology's 8192, the
mqar-64 recipes' models (gru: hidden 64, token embedding 64; attention: d_model 64, 2 layers), batch 64, Adam,
clip 1, one thread. An update is what `bptt`'s is (zero the gradients, forward, loss, backward, clip, Adam's
step) with the logits made one of two ways: `full`, the model's `forward` (a head at every position, the loss
skipping the IGNORE targets), or `scored`, `seqmem.training.scored.forward` (the model up to its features, the
head at the scored positions). Before timing, the loss and every gradient of both on one batch are compared
(`max_abs_difference`). The two contenders are copies of one model, each with its own optimizer, their updates
interleaved in rotating order after a warm-up round; `full_over_scored` is the median of the per-round ratios.
`evaluate_seconds` times scoring the 1000-sequence validation split each way (batches of 500, as a run does).

    python benchmarks/scored_head.py            # about a minute
    python benchmarks/scored_head.py --quick    # seconds, for tests; writes nothing
"""

from __future__ import annotations

import copy
import os
import statistics

import torch
from harness import Lines, arguments, load, main, median_ratio, rotated, seconds

NAME = "scored_head"
MODELS = {"gru": {"hidden": 64, "encoder": "embedding", "embedding_dim": 64},
          "attention": {"d_model": 64, "layers": 2}}
QUICK_MODELS = {"gru": {"hidden": 8, "encoder": "embedding", "embedding_dim": 8},
                "attention": {"d_model": 8, "layers": 1}}


def logits_of(model, batch, scored: bool):
    """`(logits, where)` with the head at every position (`where` None) or at the scored ones alone."""
    from seqmem.training.scored import forward

    if scored:
        logits, where, _ = forward(model, batch)
        assert where is not None, "the scored path was not taken"
        return logits, where
    return model(batch.x, cond=batch.cond)[0], None


def update(model, optimizer, batch, scored: bool) -> float:
    """One update as `bptt` makes it, fp32; its loss."""
    from seqmem.training.methods.shared import task_loss

    optimizer.zero_grad(set_to_none=True)
    logits, where = logits_of(model, batch, scored)
    loss = task_loss(logits, batch, where)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


@torch.no_grad()
def evaluate(model, task, scored: bool, batch_size: int) -> None:
    """The validation split scored as `seqmem.training.metrics.evaluate` scores it, the head either way."""
    from seqmem.training.metrics import Tally

    model.eval()
    tally = Tally()
    for batch in task.batches("validation", batch_size):
        logits, where = logits_of(model, batch, scored)
        tally.add(logits, batch, where=where)
    model.train()


def difference(model, batch) -> float:
    """The largest difference between the two ways' loss and gradients on one batch."""
    from seqmem.training.methods.shared import task_loss

    values = []
    for scored in (False, True):
        model.zero_grad(set_to_none=True)
        logits, where = logits_of(model, batch, scored)
        loss = task_loss(logits, batch, where)
        loss.backward()
        values.append([loss.detach()] + [p.grad.clone() for p in model.parameters()])
    model.zero_grad(set_to_none=True)
    return max(float((a - b).abs().max()) for a, b in zip(*values, strict=True))


def compare(name: str, vocab: int, quick: bool, rounds: int) -> list[dict]:
    from seqmem.run.build import make_model, make_task
    from seqmem.training.methods.shared import make_optimizer
    from seqmem.training.train_config import TrainConfig

    size = 16 if quick else 1000
    task = make_task("associative-recall", layout="zoology", length=16 if quick else 64, pairs=2 if quick else 4,
                     queries=2 if quick else 4, vocab=vocab, test_size=size, validation_size=size)
    settings = (QUICK_MODELS if quick else MODELS)[name]
    model = make_model(name, task, seed=0, **settings)
    batch = task.sample(8 if quick else 64, torch.Generator().manual_seed(0))
    common = {"model": name, "vocab": vocab, "length": batch.x.shape[1], "batch": len(batch),
              "scored_share": round(float((batch.y != -100).float().mean()), 4), **settings,
              "threads": torch.get_num_threads(), "load_average": load()}
    records = [{"metric": "max_abs_difference", "value": difference(model, batch), "unit": "loss and gradients"}]
    config = TrainConfig(steps=1, optimizer="adam", lr=1e-3, clip=1.0)
    nets = {way: copy.deepcopy(model) for way in ("full", "scored")}
    optimizers = {way: make_optimizer(net, config) for way, net in nets.items()}
    times = {way: [] for way in nets}
    for i, way in rotated(list(nets), rounds + 1):
        took = seconds(lambda way=way: update(nets[way], optimizers[way], batch, way == "scored"))
        if i:  # the first round warms up
            times[way].append(took)
    for way in nets:
        records.append({"metric": "update_seconds", "value": statistics.median(times[way]), "unit": "s",
                        "contender": way})
    records.append({"metric": "full_over_scored", "value": median_ratio(times["full"], times["scored"]),
                    "unit": "ratio of update times", "numerator": "full", "denominator": "scored"})
    for way in nets:
        records.append({"metric": "evaluate_seconds", "unit": "s", "contender": way, "sequences": size,
                        "value": seconds(lambda way=way: evaluate(nets[way], task, way == "scored", 500))})
    return [{**common, **r} for r in records]


def run(argv=None) -> int:
    parser = arguments(__doc__, NAME)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from seqmem.run.denormals import flushed_denormals

    torch.set_num_threads(1)
    lines = Lines(NAME, omp_num_threads=os.environ.get("OMP_NUM_THREADS"))
    vocabs = (32, 64) if args.quick else (256, 8192)
    with flushed_denormals():  # as training runs
        for name in MODELS:
            for vocab in vocabs:
                lines.extend(compare(name, vocab, args.quick, 1 if args.quick else args.rounds))
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
