"""A sweep's runs and history as DataFrames: a groupby over the frame gives the report's table."""

import json
import statistics

import pytest
from in_process import InProcess

import seqmem
from seqmem.report.collect import collect
from seqmem.report.tables import table_rows
from seqmem.sweeps.sweep import grid, name_points, run_sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    base = {"task": {"name": "echo-letters", "test_size": 40, "validation_size": 40}, "model": {"name": "gru", "hidden": 8},
            "train": {"steps": 12, "eval_every": 4, "lr": 1e-2}}
    run_sweep(name_points(grid(base, {"model.name": ["gru", "lstm"]}, [0, 1])), out, InProcess(), progress=False)
    return out


def test_results_is_a_row_a_run_with_its_config_scores_and_baseline(sweep):
    frame = seqmem.results(sweep)
    assert len(frame) == 4
    assert {"run", "task.delay", "model.name", "model.hidden", "train.seed", "recall_accuracy", "accuracy",
            "baseline.recall_accuracy", "at_best.recall_accuracy"} <= set(frame.columns)
    assert sorted(frame["model.name"]) == ["gru", "gru", "lstm", "lstm"] and set(frame["train.seed"]) == {0, 1}
    section = collect(sweep)
    head, rows = table_rows(section.records, section.table_by)
    shown = {row[0]: row[head.index("recall acc")] for row in rows}
    means = frame.groupby("model.name")["recall_accuracy"].mean()
    for model, text in shown.items():  # the report's cell is the mean (min..max) over seeds
        assert text.startswith(f"{means[model]:.4f}")
    recalls = recalls_on_disk(sweep)  # the expected side, read without the report
    assert {m: sorted(v) for m, v in frame.groupby("model.name")["recall_accuracy"]} == recalls
    assert shown.keys() == recalls.keys()
    for model, values in recalls.items():
        mean, low, high = (f"{v:.4f}" for v in (statistics.fmean(values), min(values), max(values)))
        assert shown[model] == (mean if low == high else f"{mean} ({low}..{high})")


def recalls_on_disk(sweep) -> dict[str, list[float]]:
    """Each model's recall accuracies, sorted, read straight from its runs' config.json and summary.json."""
    recalls: dict[str, list[float]] = {}
    for run in sorted(p for p in sweep.iterdir() if (p / "summary.json").exists()):
        model = json.loads((run / "config.json").read_text())["model"]["name"]
        recalls.setdefault(model, []).append(json.loads((run / "summary.json").read_text())["recall_accuracy"])
    assert sum(map(len, recalls.values())) == 4  # every run was found
    return {m: sorted(v) for m, v in recalls.items()}


def test_history_is_a_row_an_evaluation(sweep):
    frame = seqmem.history(sweep)
    assert len(frame) == 4 * 3 and sorted(set(frame["step"])) == [4, 8, 12]
    last = frame[frame["step"] == 12].set_index("run")["recall_accuracy"]
    runs = seqmem.results(sweep).set_index("run")["recall_accuracy"]
    assert last.sort_index().tolist() == runs.sort_index().tolist()  # the summary's scores are the last evaluation's


def test_a_folder_without_runs_is_refused(tmp_path):
    with pytest.raises(seqmem.ConfigError, match="no finished runs"):
        seqmem.results(tmp_path)
    with pytest.raises(seqmem.ConfigError, match="does not exist"):
        seqmem.history(tmp_path / "nope")
