"""`--log tensorboard`: the event file, read back by TensorBoard's own reader, says what metrics.jsonl says,
also after a resume that follows an evaluation the checkpoint did not cover."""

import importlib.util
import json

import pytest

from seqmem import run_experiment
from seqmem.cli import main
from seqmem.run import signals

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed: pip install seqmem[tensorboard]")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

CONFIG = {"task": {"name": "echo-letters", "test_size": 30, "validation_size": 30},
          "model": {"name": "gru", "hidden": 8},
          "train": {"steps": 12, "eval_every": 3, "log": "tensorboard"}}
QUIET = {"progress": False, "say": lambda *_: None}


def read_back(run) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def logged(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same(run):
    scalars, records = read_back(run), logged(run)
    for tag, key in (("test/recall_accuracy", "recall_accuracy"), ("validation/loss", "valid_loss"),
                     ("train/loss", "train_loss"), ("baseline/recall_accuracy", None)):
        expected = [(r["step"], r[key] if key else r["baseline"]["recall_accuracy"]) for r in records]
        assert [s for s, _ in scalars[tag]] == [s for s, _ in expected], tag
        assert [v for _, v in scalars[tag]] == pytest.approx([v for _, v in expected], rel=1e-6), tag


def test_the_event_file_says_what_metrics_jsonl_says(tmp_path):
    run_experiment(CONFIG, tmp_path / "run", **QUIET)
    assert len(logged(tmp_path / "run")) == 4
    assert_same(tmp_path / "run")


def test_a_resume_purges_what_the_interrupted_process_logged_after_its_checkpoint(tmp_path, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    calls = []
    monkeypatch.setattr(signals, "requested", lambda: calls.append(1) or len(calls) == 5)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(CONFIG, tmp_path / "run", **QUIET)
    orphan = SummaryWriter(str(tmp_path / "run"))  # as a process killed after its checkpoint would leave
    orphan.add_scalar("test/recall_accuracy", 123.0, 6)
    orphan.close()
    monkeypatch.setattr(signals, "requested", lambda: False)
    run_experiment(CONFIG, tmp_path / "run", **QUIET)
    assert_same(tmp_path / "run")  # step 6 once, with the resumed run's value


def test_without_tensorboard_it_is_refused_in_one_line_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else found(name, *a))
    code = main(["train", "echo-letters", "--model", "gru", "--steps", "2", "--log", "tensorboard",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "pip install seqmem[tensorboard]" in err
    assert not (tmp_path / "run").exists()
