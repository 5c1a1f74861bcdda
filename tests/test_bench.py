"""The memory profile: every model sized to one parameter count, the grid chosen on validation (never on
test), the solved fraction over settings with its spread over seeds, one resumable sweep."""

import json
from pathlib import Path

import pytest
from in_process import InProcess

from seqmem.errors import ConfigError
from seqmem.run.build import make_task
from seqmem.sweeps.bench import (
    TaskSpec,
    load_suite,
    parse_count,
    parse_grid,
    profile,
    run_bench,
    size_model,
    suite_names,
)

ROOT = Path(__file__).resolve().parents[1]
MIN_GRU = f"{ROOT}/examples/min_gru.py:MinGRU"


@pytest.mark.parametrize("model", ["gru", "lstm", "rnn", "tcn", "s4d", "lru", "mamba", MIN_GRU])
def test_every_model_is_sized_to_the_nearest_count_its_width_allows(model):
    from seqmem.sweeps.bench import built_size, width_key

    task = make_task("associative-recall", layout="zoology", length=32, vocab=64, pairs=2, queries=2)
    settings, achieved = size_model(model, task, 20_000)
    key = width_key(model)
    assert achieved == built_size(model, task, settings)
    width = settings[key]
    for other in (width - 1, width + 1):  # no other width comes nearer
        assert abs(built_size(model, task, {**settings, key: other}) - 20_000) >= abs(achieved - 20_000)
    assert abs(achieved - 20_000) < 0.1 * 20_000


def entry(seed, lr, value, valid, test, baseline=0.125):
    return {"name": f"{lr}-{value}-{seed}", "status": "done",
            "tags": {"bench.model": "m", "bench.task": "t", "bench.setting": value, "bench.seed": seed,
                     "bench.params": 100, "bench.lr": lr, "bench.weight_decay": 0.0},
            "summary": {"at_best": {"valid_recall_accuracy": valid, "recall_accuracy": test},
                        "baseline": {"recall_accuracy": baseline}, "train_seconds": 1.0}}


def test_the_grid_point_is_chosen_on_validation_and_its_test_recall_reported():
    """lr 0.1 has the better test recall but the worse validation: lr 0.01 is chosen, and its test reported."""
    suite = load_suite("quick")
    suite = type(suite)(**{**suite.__dict__, "name": "t", "tasks": (TaskSpec("t", "blank", (5, 9), {}),)})
    entries = [entry(s, 0.01, 5, 1.0, 0.9) for s in (0, 1)] + [entry(s, 0.1, 5, 0.5, 1.0) for s in (0, 1)]
    entries += [entry(0, 0.01, 9, 0.995, 0.97), entry(1, 0.01, 9, 0.6, 0.5)]  # seed 1 fails the harder setting
    entries += [entry(s, 0.1, 9, 0.2, 0.99) for s in (0, 1)]
    task = profile(entries, suite)["models"]["m"]["tasks"]["t"]
    assert task["chosen"] == {"5": {"lr": 0.01, "weight_decay": 0.0}, "9": {"lr": 0.01, "weight_decay": 0.0}}
    assert task["solved"]["values"] == [1.0, 0.5] and task["per_seed"] == {"0": 1.0, "1": 0.5}  # seed 0 solves both settings, seed 1 one of two
    assert task["test_recall"]["values"] == pytest.approx([(0.9 + 0.97) / 2, (0.9 + 0.5) / 2])
    assert task["memoryless_recall"] == 0.125
    assert profile(entries, suite)["models"]["m"]["score"]["mean"] == 0.75


def test_a_profile_runs_as_one_resumable_sweep(tmp_path):
    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text("""
params = 2000
budget = 30
seeds = 1
[grid]
lr = [1e-3, 1e-2]
weight_decay = [0.0]
[train]
batch_size = 16
eval_every = 15
[[tasks]]
name = "copy-memory"
key = "blank"
values = [3]
settings = { convention = "symbols", recall_length = 2, test_size = 40, validation_size = 40 }
""")
    out = tmp_path / "bench"
    result = run_bench(["gru", MIN_GRU], load_suite(str(suite_file)), out, InProcess(), progress=False,
                       say=lambda *_: None)
    assert set(result["models"]) == {"gru", "MinGRU"} and not result["failed"]
    for model in ("gru", "MinGRU"):
        task = result["models"][model]["tasks"]["copy-memory"]
        assert abs(task["parameters"] - 2000) < 200 and task["memoryless_recall"] == 1 / 8
        assert 0 <= task["test_recall"]["mean"] <= 1
    index = json.loads((out / "sweep.json").read_text())
    assert len(index["points"]) == 4 and {p["tags"]["bench.lr"] for p in index["points"]} == {1e-3, 1e-2}
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    again = run_bench(["gru", MIN_GRU], load_suite(str(suite_file)), out, InProcess(), progress=False,
                      say=lambda *_: None)
    assert again == result == json.loads((out / "profile.json").read_text())
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    first, second = sorted(stamps)[:2]  # damaged summaries: named, their points run again from their checkpoints
    first.write_text("{}")
    second.write_text(json.dumps({k: v for k, v in json.loads(second.read_text()).items() if k != "at_best"}))
    assert run_bench(["gru", MIN_GRU], load_suite(str(suite_file)), out, InProcess(), progress=False,
                     say=lambda *_: None) == result
    reported_profile(out, result, tmp_path)


def reported_profile(out, result, tmp_path):
    """`seqmem report` on the bench folder: the profile's table in the text, on the page, and its figure: a
    panel a task with a bar a model at its test recall, the memoryless recall drawn, and the score panel."""
    from seqmem.report.collect import collect
    from seqmem.report.command import report
    from seqmem.report.plots import draw_profile

    models, printed = list(json.loads((out / "profile.json").read_text())["models"]), []  # as the file has them
    report([str(out)], html=str(tmp_path / "page.html"), figures=str(tmp_path / "figures"), say=printed.append,
           err=printed.append)
    assert printed[0].split(":\n", 1)[1].startswith("memory profile, suite")  # the profile first; runs on request
    profile_lines = printed[0].split("memory profile, suite")[1].splitlines()
    assert profile_lines[-1].startswith("(") and "runs: --wide shows them" in profile_lines[-1]
    assert [line.split()[0] for line in profile_lines[2:-1]] == models and set(models) == {"gru", "MinGRU"}
    page = (tmp_path / "page.html").read_text()
    assert "<h3>Memory profile</h3>" in page and page.count('alt="profile"') == 1
    assert (tmp_path / "figures" / "bench-profile.png").read_bytes()[:4] == b"\x89PNG"
    task_panel, score_panel = draw_profile(collect(out)).axes
    heights = [bar.get_height() for bar in task_panel.patches]
    assert heights == pytest.approx([result["models"][m]["tasks"]["copy-memory"]["test_recall"]["mean"]
                                     for m in models])
    assert [line.get_ydata()[0] for line in task_panel.lines if line.get_gid() == "memoryless"] == [1 / 8]
    assert [bar.get_height() for bar in score_panel.patches] == [result["models"][m]["score"]["mean"] for m in models]


def test_the_shipped_suites_load_and_bad_input_is_named():
    assert {"quick", "standard"} <= set(suite_names())
    for name in suite_names():
        assert load_suite(name).tasks
    assert parse_count("50k") == 50_000 and parse_count("1.5M") == 1_500_000 and parse_count("300") == 300
    assert parse_grid("lr=1e-3,3e-3,wd=0,0.1") == {"lr": [1e-3, 3e-3], "weight_decay": [0.0, 0.1]}
    for bad, text in ((lambda: parse_count("lots"), "--params must be a count"),
                      (lambda: parse_grid("momentum=0.9"), "tune lr and wd"),
                      (lambda: parse_grid("lr=fast"), "expected a number"),
                      (lambda: load_suite("nope"), "unknown suite 'nope': choose one of")):
        with pytest.raises(ConfigError, match=text):
            bad()


def test_the_shipped_reference_is_what_the_current_code_configures():
    """Every run of the quick reference is a point the current code makes for its model (its config, with
    the defaults of settings added since filled in), and every built-in model's point is there."""
    from seqmem.config.compose import make_config
    from seqmem.sweeps.bench import REFERENCE_MODELS, bench_points, reference_entries

    suite = load_suite("quick")
    points, _ = bench_points(list(REFERENCE_MODELS), suite, say=lambda *_: None)
    shipped = {e["name"]: e for e in reference_entries(suite, set())}
    assert set(shipped) == {p.name for p in points}
    for point in points:
        assert make_config(shipped[point.name]["config"]).as_dict() == point.config.as_dict(), point.name
        assert shipped[point.name]["tags"] == json.loads(json.dumps(point.tags))
    result = profile(list(shipped.values()), suite)
    assert set(result["models"]) == set(REFERENCE_MODELS)
    for model in result["models"].values():  # every score beside its memoryless recall, above it or not
        assert all(t["memoryless_recall"] < 0.2 for t in model["tasks"].values())


@pytest.mark.parametrize("args, expected", [
    (["--suite", "nope"], "unknown suite 'nope': choose one of"),
    (["--against", "reference", "--budget", "5"], "--against reference compares at the suite's own"),
    (["--against", "others"], "--against must be reference"),
    (["--params", "lots"], "--params must be a count"),
    (["--budget", "0"], "--budget must be an integer >= 1"),
])
def test_bad_bench_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, expected):
    from seqmem.cli import main

    assert main(["bench", "gru", *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "out").exists()
