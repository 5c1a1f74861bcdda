"""State tracking and induction learned past their memoryless baselines: a GRU counts parity and keeps it at
four times the training length; attention recalls induction heads (Mamba's vocabulary 16, L=32)."""

import seqmem
from seqmem.training.metrics import evaluate_lengths


def test_a_gru_learns_parity_and_keeps_it_at_longer_lengths():
    task = seqmem.make_task("parity", length=16, test_size=200, validation_size=200)
    model = seqmem.make_model("gru", task, hidden=32, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=300, lr=1e-2, eval_every=300), progress=False)
    assert result.recall_accuracy > 0.99 > 0.6 > task.baseline().recall_accuracy
    assert evaluate_lengths(model, task, (64,))["64"]["recall_accuracy"] > 0.95


def test_attention_learns_induction_heads():
    task = seqmem.make_task("induction-heads", length=32, test_size=300, validation_size=300)
    model = seqmem.make_model("attention", task, d_model=32, layers=2, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=250, lr=3e-3, batch_size=64, eval_every=250),
                          progress=False)
    assert result.recall_accuracy > 0.9 > 0.2 > task.baseline().recall_accuracy
