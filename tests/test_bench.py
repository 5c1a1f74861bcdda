"""The memory profile: every model sized to one parameter count, the grid chosen on validation (never on
test), the solved fraction over settings with its spread over seeds, one resumable sweep."""

import json
from pathlib import Path

import pytest
from in_process import InProcess

from seqmem.errors import ConfigError
from seqmem.report.profile import profile_text
from seqmem.run.build import make_task
from seqmem.sweeps.bench import (
    REFERENCE_MODELS,
    TaskSpec,
    load_suite,
    model_label,
    parse_count,
    parse_grid,
    parse_model,
    profile,
    run_bench,
    size_model,
    split_models,
    suite_names,
)
from seqmem.sweeps.scores import ranked, updates_to_solve

ROOT = Path(__file__).resolve().parents[1]
MIN_GRU = f"{ROOT}/examples/min_gru.py:MinGRU"


@pytest.mark.parametrize("model", ["gru", "lstm", "rnn", "tcn", "s4d", "lru", "mamba", "attention", "deltanet", "mamba2", MIN_GRU])
def test_every_model_is_sized_to_the_nearest_count_its_width_allows(model):
    from seqmem.sweeps.bench import built_size, width_key, width_step

    task = make_task("associative-recall", layout="zoology", length=32, vocab=64, pairs=2, queries=2)
    settings, achieved = size_model(model, task, 20_000)
    key = width_key(model)
    assert achieved == built_size(model, task, settings)
    width = settings[key]
    step = width_step(model, task, {}, key)  # heads split a mixer's width: a multiple of the smallest that builds
    assert width % step == 0 and step == {"deltanet": 4, "mamba2": 16}.get(model, 1)
    for other in {max(step, width - step), width + step} - {width}:  # no other width it builds at comes nearer
        assert abs(built_size(model, task, {**settings, key: other}) - 20_000) >= abs(achieved - 20_000)
    assert abs(achieved - 20_000) < (0.25 if model == "mamba2" else 0.1) * 20_000  # Mamba-2: widths 16 apart


def test_a_model_whose_width_splits_into_heads_is_sized_on_the_widths_it_builds_at():
    """Mamba-2 builds at multiples of 16 (expand 2 x d_model in heads of 32), DeltaNet at multiples of its 4 heads:
    the search walks those and lands on the nearest count among them; a model that builds at no width says why."""
    from seqmem.sweeps.bench import built_size, width_step

    task = make_task("parity", length=16)
    for model, step in (("mamba2", 16), ("deltanet", 4), ("gru", 1)):
        assert width_step(model, task, {}, "hidden" if model == "gru" else "d_model") == step
    for model, target in (("mamba2", 40_000), ("deltanet", 30_000)):
        settings, achieved = size_model(model, task, target, {"layers": 1})
        width, step = settings["d_model"], width_step(model, task, {"layers": 1}, "d_model")
        assert width % step == 0 and achieved == built_size(model, task, settings)
        for other in (width - step, width + step):
            assert abs(built_size(model, task, {**settings, "d_model": other}) - target) >= abs(achieved - target)
    with pytest.raises(ConfigError, match="heads"):
        size_model("deltanet", task, 20_000, {"heads": 0})


def entry(seed, lr, value, valid, test, baseline=0.125, model="m", solved_step=None):
    run = {"name": f"{model}-{lr}-{value}-{seed}", "status": "done",
           "tags": {"bench.model": model, "bench.task": "t", "bench.setting": value, "bench.seed": seed,
                    "bench.params": 100, "bench.lr": lr, "bench.weight_decay": 0.0},
           "summary": {"at_best": {"valid_recall_accuracy": valid, "recall_accuracy": test},
                       "baseline": {"recall_accuracy": baseline}, "train_seconds": 1.0}}
    return run if solved_step is None else {**run, "solved_step": solved_step}


def one_task_suite(values=(5, 9)):
    suite = load_suite("quick")
    return type(suite)(**{**suite.__dict__, "name": "t", "tasks": (TaskSpec("t", "blank", values, {}),)})


def test_the_grid_point_is_chosen_on_validation_and_its_test_recall_reported():
    """lr 0.1 has the better test recall but the worse validation: lr 0.01 is chosen, and its test reported."""
    suite = one_task_suite()
    entries = [entry(s, 0.01, 5, 1.0, 0.9) for s in (0, 1)] + [entry(s, 0.1, 5, 0.5, 1.0) for s in (0, 1)]
    entries += [entry(0, 0.01, 9, 0.995, 0.97), entry(1, 0.01, 9, 0.6, 0.5)]  # seed 1 fails the harder setting
    entries += [entry(s, 0.1, 9, 0.2, 0.99) for s in (0, 1)]
    task = profile(entries, suite)["models"]["m"]["tasks"]["t"]
    assert task["chosen"] == {"5": {"lr": 0.01, "weight_decay": 0.0}, "9": {"lr": 0.01, "weight_decay": 0.0}}
    assert task["solved"]["values"] == [1.0, 0.5] and task["per_seed"] == {"0": 1.0, "1": 0.5}  # seed 0 solves both settings, seed 1 one of two
    assert task["test_recall"]["values"] == pytest.approx([(0.9 + 0.97) / 2, (0.9 + 0.5) / 2])
    assert task["memoryless_recall"] == 0.125
    assert profile(entries, suite)["models"]["m"]["score"]["mean"] == 0.75
    # per cell: each seed at the chosen point, recall above the memoryless 1/8 as a fraction of the way to 1
    cell = task["cells"]["9"]
    assert cell["solved"] == {"0": True, "1": False} and cell["test_recall"] == {"0": 0.97, "1": 0.5}
    assert cell["recall_score"] == pytest.approx({"0": (0.97 - 0.125) / 0.875, "1": (0.5 - 0.125) / 0.875})
    assert task["recall_score"]["per_seed"] == pytest.approx(
        {"0": ((0.9 - 0.125) / 0.875 + (0.97 - 0.125) / 0.875) / 2, "1": ((0.9 - 0.125) / 0.875 + (0.5 - 0.125) / 0.875) / 2})


def at_lengths(run, recalls, memoryless=0.0625):
    """A run scored at other lengths than training (a task's eval_lengths): its summary's by_length."""
    run["summary"]["by_length"] = {str(n): {"recall_accuracy": r, "baseline": {"recall_accuracy": memoryless}}
                                   for n, r in recalls.items()}
    return run


def test_a_cell_carries_the_recall_at_each_other_length_of_its_chosen_point_and_the_text_shows_it():
    """The chosen grid point's runs give their recall at each length, per seed, with the memoryless recall there;
    the text adds a table of them, a column a length in order, within 100 columns; no table where no run has one."""
    suite = one_task_suite(values=(256,))
    lengths = (64, 128, 512, 1024, 2048, 4096, 8192, 16384)
    entries = [at_lengths(entry(s, 0.01, 256, 1.0, 0.99), {n: 1.0 - n / 40000 - s / 100 for n in lengths})
               for s in (0, 1)]
    entries += [at_lengths(entry(s, 0.1, 256, 0.3, 0.3), {n: 0.5 for n in lengths}) for s in (0, 1)]
    result = json.loads(json.dumps(profile(entries, suite)))
    cell = result["models"]["m"]["tasks"]["t"]["cells"]["256"]
    assert list(cell["by_length"]) == [str(n) for n in lengths]  # in order of length, not of the text
    assert cell["by_length"]["16384"] == {"recall": {"0": pytest.approx(1 - 16384 / 40000),
                                                     "1": pytest.approx(1 - 16384 / 40000 - 0.01)},
                                          "memoryless": 0.0625}
    from seqmem.sweeps.scores import profile_shaped

    assert profile_shaped(result)
    result["models"]["m2"] = result["models"]["m"] | {"rank": 2}
    task = result["models"]["m"]["tasks"].pop("t") | {"key": "length"}  # the longest labels a shipped suite gives
    result["models"]["m"]["tasks"]["induction-heads"] = task
    task["cells"]["256"]["width"] = 64
    lines = profile_text(result).splitlines()
    assert max(map(len, lines)) <= 100
    at = lines.index(next(x for x in lines if x.startswith("task") and x.split()[3:4] == ["64"]))
    assert lines[at].split() == ["task", "setting", "trained", *map(str, lengths), "memoryless"]
    row = lines[at + 3].split()
    assert row == ["induction-heads", "256/64", "0.99", *(f"{1 - n / 40000 - 0.005:.2f}" for n in lengths), "0.06"]
    assert "0.59 (0.58..0.59)" in profile_text(result, wide=True)  # 2^14: the spread over seeds
    from seqmem.report.profile import profile_tables

    assert [head[3:6] for head, _, _ in profile_tables(result)][-1] == ["trained", "64", "128"]  # the page's too
    assert "trained" not in profile_text(profile([{**e, "summary": {k: v for k, v in e["summary"].items() if k != "by_length"}}
                                             for e in entries], suite))


def test_the_window_counts_the_grid_points_that_solve_and_an_edge_choice_is_flagged():
    """Four rates on the grid: a setting solved at two inner rates has a window of 2/4 and no flag, though its
    best mean is at the largest; one whose best is the largest rate, solved nowhere inside, is flagged."""
    suite, grid = one_task_suite(), {"lr": [1e-4, 1e-3, 1e-2, 1e-1], "weight_decay": [0.0]}
    means = {5: {1e-4: 0.2, 1e-3: 0.995, 1e-2: 0.999, 1e-1: 1.0}, 9: {1e-4: 0.1, 1e-3: 0.2, 1e-2: 0.5, 1e-1: 0.9}}
    entries = [entry(s, lr, value, valid + (0.004 if s else -0.004), 0.5) for value, by_lr in means.items()
               for lr, valid in by_lr.items() for s in (0, 1)]
    cells = profile(entries, suite, grid)["models"]["m"]["tasks"]["t"]["cells"]
    assert cells["5"]["window"] == {"solving": 3, "grid": 4, "lr": [1e-3, 1e-2, 1e-1]}
    assert cells["5"]["chosen"]["lr"] == 1e-1 and cells["5"]["edge"] is None  # solved inside the grid too
    assert cells["9"]["window"] == {"solving": 0, "grid": 4, "lr": []} and cells["9"]["edge"] == "largest"
    # a grid point that failed on every seed (diverged) is in the window's grid, not among those that solve
    cells = profile([e for e in entries if e["tags"]["bench.lr"] != 1e-4], suite, grid)["models"]["m"]["tasks"]["t"]["cells"]
    assert cells["5"]["window"]["grid"] == 4 and cells["9"]["edge"] == "largest"
    smallest = [entry(s, lr, 5, 0.5 if lr == 1e-4 else 0.1, 0.5) for lr in grid["lr"] for s in (0, 1)]
    assert profile(smallest, one_task_suite((5,)), grid)["models"]["m"]["tasks"]["t"]["cells"]["5"]["edge"] == "smallest"


def test_updates_to_solve_per_run_and_per_cell():
    """The step validation first reached 0.99: from the run's evaluations where the bench read them; from the
    summary where the run stopped at a target at or below it (a shipped reference keeps no evaluations);
    never solved where its best evaluation stayed below; unknown otherwise, and the cell says so."""
    stopped = {"config": {"train": {"stop_at": 0.99}}}
    run = entry(0, 0.01, 5, 0.995, 0.99)
    run["summary"].update(steps=300, valid_recall_accuracy=0.995)
    assert updates_to_solve({**run, **stopped}) == 300
    assert updates_to_solve({**run, "solved_step": 200}) == 200
    assert updates_to_solve(run) == "unknown"  # no stop_at and no evaluations: when, it cannot tell
    assert updates_to_solve({**run, "config": {"train": {"stop_at": 0.999}}}) == "unknown"
    assert updates_to_solve({**entry(0, 0.01, 5, 0.98, 0.97), **stopped}) is None
    entries = [entry(0, 0.01, 5, 1.0, 1.0, solved_step=400), entry(1, 0.01, 5, 1.0, 1.0, solved_step=200),
               entry(2, 0.01, 5, 0.5, 0.5, solved_step=None)]
    result = profile(entries, one_task_suite((5,)))
    cell = result["models"]["m"]["tasks"]["t"]["cells"]["5"]
    assert cell["updates"] == {"0": 400, "1": 200, "2": None}
    assert [line for line in profile_text(result).splitlines() if line.startswith("t ")][0].split()[-1] == "300"
    entries[1].pop("solved_step")  # seed 1 solved, but when is not known
    text = profile_text(profile(entries, one_task_suite((5,))))
    assert [line for line in text.splitlines() if line.startswith("t ")][0].split()[-1] == "400?"
    assert "updates ?: a run solved, but its evaluations were not at hand" in text


def test_models_are_ranked_on_recall_above_the_memoryless_recall():
    """A model that nearly solves both settings ranks above one that solves one and guesses on the other, and
    both above one that guesses: the solved fraction alone would rank the first last of the three but one."""
    entries = [entry(s, 0.01, v, 0.98, 0.97, model="near") for v in (5, 9) for s in (0, 1)]
    entries += [entry(s, 0.01, 5, 1.0, 1.0, model="half") for s in (0, 1)]
    entries += [entry(s, 0.01, 9, 0.125, 0.125, model="half") for s in (0, 1)]
    entries += [entry(s, 0.01, v, 0.1, 0.1, model="guess") for v in (5, 9) for s in (0, 1)]
    result = json.loads(json.dumps(profile(entries, one_task_suite())))  # as profile.json has it: keys sorted
    assert ranked(result) == ["near", "half", "guess"]
    models = result["models"]
    assert models["near"]["score"]["mean"] == 0 < models["half"]["score"]["mean"] == 0.5
    assert models["near"]["recall_score"]["mean"] == pytest.approx((0.97 - 0.125) / 0.875)
    assert models["guess"]["recall_score"]["mean"] == 0  # below the memoryless recall counts as none above it
    ranking = profile_text(result).split("rank  score")[1].splitlines()[2:5]
    assert [[line.split()[0], line.split()[-1]] for line in ranking] == [["1", "near"], ["2", "half"], ["3", "guess"]]


def test_a_profile_runs_as_one_resumable_sweep(tmp_path):
    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text("""
params = 2000
budget = 30
until_solved = true
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
    for point in index["points"]:  # until solved: stop_at is the profile's target; the step it was first reached
        assert json.loads((out / point["name"] / "config.json").read_text())["train"]["stop_at"] == 0.99
        valid = [json.loads(line) for line in (out / point["name"] / "metrics.jsonl").read_text().splitlines()]
        first = next((v["step"] for v in valid if v["valid_recall_accuracy"] >= 0.99), None)
        assert result["updates_to_solve"][point["name"]] == first
    assert result["until_solved"] and result["budget"] == 30
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
    from seqmem.sweeps.bench import arithmetic, write_reference  # a reference of the built-in models' runs

    assert write_reference(out, load_suite(str(suite_file)), tmp_path / "reference.json") == 2
    written = json.loads((tmp_path / "reference.json").read_text())
    assert written["arithmetic"] == arithmetic() and {r["tags"]["bench.model"] for r in written["runs"]} == {"gru"}


def test_a_suite_may_fix_widths_set_several_keys_together_and_name_model_variants(tmp_path):
    """Widths instead of a parameter count (each a setting of its own), MQAR's length and pairs set together,
    and two variants of one mixer named by their settings: every model at each width, a cell for each."""
    from seqmem.sweeps.bench import built_size

    suite_file = tmp_path / "widths.toml"
    suite_file.write_text("""
widths = [32, 64]
budget = 4
until_solved = true
seeds = 1
models = ["mamba2", "mamba2[negative_eigenvalues=true]"]
[model]
layers = 1
state_mixer = "none"
[grid]
lr = [1e-3]
[train]
batch_size = 8
eval_every = 2
[[tasks]]
name = "associative-recall"
key = ["length", "pairs", "queries"]
values = [[24, 3, 3]]
settings = { layout = "zoology", vocab = 32, test_size = 16, validation_size = 16 }
""")
    out = tmp_path / "bench"
    result = run_bench([], load_suite(str(suite_file)), out, InProcess(), progress=False, say=lambda *_: None)
    assert not result["failed"] and result["widths"] == [32, 64] and result["target_parameters"] is None
    points = json.loads((out / "sweep.json").read_text())["points"]
    assert sorted(p["name"] for p in points) == sorted(
        f"model={m},task=associative-recall,length=24,pairs=3,queries=3,d_model={w},lr=0.001,seed=0"
        for m in ("mamba2", "mamba2[negative_eigenvalues=true]") for w in (32, 64))
    for point in points:
        config = json.loads((out / point["name"] / "config.json").read_text())
        assert config["model"]["d_model"] == point["tags"]["bench.width"]
        assert config["model"]["negative_eigenvalues"] == ("negative_eigenvalues" in point["name"])
        assert (config["model"]["state_mixer"], config["model"]["layers"]) == ("none", 1)
        assert (config["task"]["length"], config["task"]["pairs"], config["task"]["queries"]) == (24, 3, 3)
    for model in ("mamba2", "mamba2[negative_eigenvalues=true]"):
        task = result["models"][model]["tasks"]["associative-recall"]
        assert list(task["cells"]) == ["24/3/3 w32", "24/3/3 w64"] and task["settings"] == 2
        for width, cell in zip((32, 64), task["cells"].values(), strict=True):
            name = next(p["name"] for p in points if (p["tags"]["bench.model"], p["tags"]["bench.width"]) == (model, width))
            summary = json.loads((out / name / "summary.json").read_text())
            assert cell["parameters"] == summary["parameters"] == built_size(
                "mamba2", make_task(name="associative-recall", layout="zoology", vocab=32, length=24, pairs=3, queries=3),
                {"layers": 1, "state_mixer": "none", "d_model": width})
            assert cell["state_size"] == summary["state_size"] > 0
    text = profile_text(result)
    assert "widths 32, 64 for every model" in text and "associative-recall settings: length/pairs/queries/width." in text
    assert max(map(len, text.splitlines())) <= 100
    assert "mamba2[negative_eigenvalues=true]:" in text.splitlines()


def test_the_narrow_profile_fits_100_columns_with_the_longest_labels():
    """The cells' rows under a line naming their model: a long spec widens no column; --wide may be wider."""
    cell = {"setting": "128/8/8", "width": 128, "chosen": {"lr": 4.641588833612782e-4}, "edge": "smallest",
            "window": {"solving": 4, "grid": 4, "lr": [1e-4, 1e-2]}, "solved": {"0": True, "1": True, "2": True},
            "test_recall": {"0": 0.99, "1": 1.0, "2": 1.0}, "recall_score": {"0": 0.99, "1": 1.0, "2": 0.99},
            "updates": {"0": 12345, "1": 23456, "2": 34567}, "memoryless_recall": 0.0078, "parameters": 2288128,
            "state_size": 1234567, "train_seconds": 1234.5}
    task = {"key": ["length", "pairs", "queries"], "solved": {"mean": 1.0, "min": 1.0, "max": 1.0},
            "test_recall": {"mean": 0.99, "min": 0.99, "max": 0.99}, "memoryless_recall": 0.0078, "parameters": 2288128,
            "cells": {"128/8/8 w128": cell}}
    spread = {"mean": 0.5, "min": 0.25, "max": 0.75}
    result = {"suite": "zoology-figure2", "solved_at": 0.99, "budget": 30000, "until_solved": True, "widths": [64, 128],
              "grid": {"lr": [1e-4, 4.641588833612782e-4, 2.154434690031882e-3, 1e-2]}, "seeds": 3,
              "models": {name: {"tasks": {"associative-recall": task}, "score": spread, "recall_score": spread,
                                "edges": 1, "cells": 1, "rank": rank}
                         for rank, name in enumerate(["gated-deltanet[negative_eigenvalues=true]", "linear-attention"], 1)}}
    narrow, wide = profile_text(result).splitlines(), profile_text(result, wide=True).splitlines()
    assert max(map(len, narrow)) <= 100 < max(map(len, wide))
    row = narrow[narrow.index("gated-deltanet[negative_eigenvalues=true]:") + 1].split()
    assert row == ["associative-recall", "128/8/8/128", "2.29M", "1.23M", "3/3", "1.00", "0.01", "4.6e-4<", "4/4",
                   "23456"]


def test_a_profile_json_an_older_seqmem_wrote_is_still_shown():
    """No cells, no recall above memoryless, no ranks: a row a task of its means, and a line saying why."""
    spread = {"mean": 0.5, "min": 0.5, "max": 0.5, "values": [0.5]}
    task = {"solved": spread, "test_recall": spread, "memoryless_recall": 0.125, "chosen": {"10": {"lr": 0.01}},
            "per_seed": {"0": 0.5}, "parameters": 19800, "settings": 2, "train_seconds": 3.0}
    old = {"suite": "quick", "solved_at": 0.99, "budget": 600, "target_parameters": 20000,
           "models": {"gru": {"tasks": {"copy-memory": task}, "score": spread}}}
    from seqmem.sweeps.scores import profile_shaped

    assert profile_shaped(old)
    lines = profile_text(old).splitlines()
    assert "gru: written by an older seqmem, with no per-setting cells; score -." in lines
    assert lines[lines.index("gru:") + 1].split() == ["copy-memory", "-", "19.8k", "-", "0.50", "0.50", "0.12", "-", "-",
                                                      "-"]
    assert lines[lines.index(next(x for x in lines if x.startswith("rank"))) + 2].split() == [
        "1", "-", "0.50", "-", "19.8k", "gru"]


def reported_profile(out, result, tmp_path):
    """`seqmem report` on the bench folder: the profile's table in the text, on the page, and its figure: a
    panel a task with a bar a model at its test recall, the memoryless recall drawn, and the score panel."""
    from seqmem.report.collect import collect
    from seqmem.report.command import report
    from seqmem.report.plots import draw_profile

    models, printed = ranked(json.loads((out / "profile.json").read_text())), []  # in the order of their rank
    report([str(out)], html=str(tmp_path / "page.html"), figures=str(tmp_path / "figures"), say=printed.append,
           err=printed.append)
    assert printed[0].split(":\n", 1)[1].startswith("memory profile, suite tiny: until solved (validation recall "
                                                    ">= 0.99), at most 30 updates")  # the profile first; runs on request
    profile_lines = printed[0].split("memory profile, suite")[1].splitlines()
    assert profile_lines[-1].startswith("(") and "runs: --wide shows them" in profile_lines[-1]
    assert max(map(len, profile_lines)) <= 100
    ranking = profile_lines[profile_lines.index(next(x for x in profile_lines if x.startswith("rank"))) + 2:][:2]
    assert [[line.split()[0], line.split()[-1]] for line in ranking] == [["1", models[0]], ["2", models[1]]]
    assert set(models) == {"gru", "MinGRU"}
    assert [line for line in profile_lines if line.endswith(":")] == [f"{m}:" for m in models]  # a block a model
    row = profile_lines[profile_lines.index(f"{models[0]}:") + 1].split()
    cell = result["models"][models[0]]["tasks"]["copy-memory"]["cells"]["3"]
    assert row[:2] == ["copy-memory", "blank=3"] and row[4] == f"{sum(cell['solved'].values())}/1"
    assert row[5] == f"{cell['test_recall']['0']:.2f}" and row[6] == "0.12" and row[8] == f"{cell['window']['solving']}/2"
    state = {m: result["models"][m]["tasks"]["copy-memory"]["cells"]["3"]["state_size"] for m in models}
    assert all(state[m] == json.loads(next(out.glob(f"model={m}*/summary.json")).read_text())["state_size"]
               for m in ("gru", "MinGRU"))
    page = (tmp_path / "page.html").read_text()
    assert "<h3>Memory profile</h3>" in page and page.count('alt="profile"') == 1
    assert page.count("<th>rank</th>") == 1 and page.count("<th>window lr</th>") == 1
    assert (tmp_path / "figures" / "bench-profile.png").read_bytes()[:4] == b"\x89PNG"
    task_panel, score_panel = draw_profile(collect(out)).axes
    heights = [bar.get_height() for bar in task_panel.patches]
    assert heights == pytest.approx([result["models"][m]["tasks"]["copy-memory"]["test_recall"]["mean"]
                                     for m in models])
    assert [line.get_ydata()[0] for line in task_panel.lines if line.get_gid() == "memoryless"] == [1 / 8]
    assert [bar.get_height() for bar in score_panel.patches] == [result["models"][m]["recall_score"]["mean"]
                                                                 for m in models]


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


def test_model_specs_name_variants_by_their_settings():
    assert parse_model("mamba2[negative_eigenvalues=true]") == ("mamba2", {"negative_eigenvalues": True})
    assert parse_model("deltanet[negative-eigenvalues=yes, conv_size=2]") == (
        "deltanet", {"negative_eigenvalues": True, "conv_size": 2})
    assert model_label("deltanet[negative-eigenvalues=on]") == "deltanet[negative_eigenvalues=true]"
    assert model_label(f"{MIN_GRU}[hidden=8]") == "MinGRU[hidden=8]"
    assert split_models("gru, mamba2[negative_eigenvalues=true,conv_size=2],lstm") == [
        "gru", "mamba2[negative_eigenvalues=true,conv_size=2]", "lstm"]
    for bad, text in ((lambda: parse_model("mamba2[negative_eigenvalues=maybe]"), "negative_eigenvalues: expected true"),
                      (lambda: parse_model("mamba2[flips=1]"), "model mamba2 has no setting 'flips'"),
                      (lambda: parse_model("mamba2[negative_eigenvalues]"), "is no KEY=VALUE"),
                      (lambda: parse_model("mamba2[negative_eigenvalues=true"), "write NAME\\[KEY=VALUE"),
                      (lambda: split_models("gru,,lstm"), "MODELS: give one or more")):
        with pytest.raises(ConfigError, match=text):
            bad()


SUITE = """
params = 2000
budget = 30
[grid]
lr = [1e-3]
[[tasks]]
name = "copy-memory"
key = "blank"
values = [3]
"""


@pytest.mark.parametrize("change, expected", [
    (lambda t: t.replace("params = 2000", "params = 2000\nwidths = [8]"), "give params .* or widths"),
    (lambda t: t.replace("params = 2000", ""), "give params .* or widths"),
    (lambda t: t.replace("params = 2000", "widths = [0]"), "widths must be a list of whole numbers >= 1"),
    (lambda t: t + "[train]\nstop_at = 0.9\n", "write until_solved = true"),
    (lambda t: t.replace("budget = 30", "budget = 30\nuntil_solved = 1"), "until_solved must be true or false"),
    (lambda t: t.replace("budget = 30", "budget = 30\nbudjet = 3"), "unknown key 'budjet'"),
    (lambda t: t.replace("budget = 30", "budget = 30\nmodels = \"gru\""), "models must be a list of model specs"),
    (lambda t: t.replace('key = "blank"\nvalues = [3]', 'key = ["blank", "recall_length"]\nvalues = [3, 2]'),
     "task copy-memory sets blank, recall_length together: each value is a list of 2"),
])
def test_a_bad_suite_is_named(tmp_path, change, expected):
    path = tmp_path / "bad.toml"
    path.write_text(change(SUITE))
    with pytest.raises(ConfigError, match=f"suite bad: {expected}"):
        load_suite(str(path))


def test_a_width_the_profile_sets_is_refused_in_a_spec_and_params_in_a_widths_suite(tmp_path):
    from seqmem.sweeps.bench import bench_points

    path = tmp_path / "w.toml"
    path.write_text(SUITE.replace("params = 2000", "widths = [8]"))
    for models, params, text in ((["gru[hidden=8]"], None, "the profile sets its width hidden \\(by widths\\)"),
                                 (["gru"], 3000, "--params: suite w gives every model the same widths")):
        with pytest.raises(ConfigError, match=text):
            bench_points(models, load_suite(str(path)), params=params, say=lambda *_: None)


def test_the_zoology_figure2_suite_is_its_protocol_for_attention_and_every_mixer():
    """MQAR in zoology's layout at (64, 4) and (128, 8) with 8192 tokens, d_model 64 and 128, 2 layers with no
    state mixer, zoology's four rates, until solved; attention and every mixer seqmem/mixers registers."""
    import re

    import numpy as np

    from seqmem.sweeps.bench import bench_points

    suite = load_suite("zoology-figure2")
    mixers = {m for f in (ROOT / "seqmem" / "mixers").glob("*.py")
              for m in re.findall(r'@register_model\("([^"]+)"\)', f.read_text())}
    assert set(suite.models) == {"attention"} | mixers and len(mixers) == 11
    assert suite.widths == (64, 128) and suite.params is None and suite.until_solved
    assert suite.grid["lr"] == pytest.approx(list(np.logspace(-4, -2, 4))) and suite.model == {"layers": 2,
                                                                                              "state_mixer": "none"}
    (task,) = suite.tasks
    assert [task.config(v) for v in task.values] == [
        {"name": "associative-recall", "layout": "zoology", "vocab": 8192, "test_size": 1000, "validation_size": 1000,
         "length": length, "pairs": pairs, "queries": pairs} for length, pairs in ((64, 4), (128, 8))]
    assert "scored-only head" in suite.description
    points, _ = bench_points(["attention"], suite, say=lambda *_: None)
    assert len(points) == 2 * 2 * 4 * suite.seeds
    assert {(p.config.model["d_model"], p.config.model["state_mixer"], p.config.model["layers"]) for p in points} == {
        (64, "none", 2), (128, "none", 2)}
    assert {p.config.train["stop_at"] for p in points} == {0.99}


def test_the_shipped_reference_is_what_the_current_code_configures():
    """Every run of the quick reference is a point the current code makes for its model (its config, with
    the defaults of settings added since filled in), and every built-in model's point is there."""
    from seqmem.config.compose import make_config
    from seqmem.sweeps.bench import bench_points, reference_entries

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


def test_the_shipped_reference_shows_what_it_recorded():
    """The reference records each run's state size and the step it first solved at (from its evaluations):
    its cells show the updates to solve of the chosen runs, and every model's state size (the framed models'
    computed from each run's config by the model's own count, as a run records it now)."""
    from seqmem.sweeps.bench import reference_entries

    suite = load_suite("quick")
    runs = reference_entries(suite, set())
    assert all("solved_step" in r for r in runs)
    result = json.loads(json.dumps(profile(runs, suite)))
    for name, model in result["models"].items():
        assert model["reference"] and model["cells"] == 6
        for task, t in model["tasks"].items():
            for label, cell in t["cells"].items():
                assert isinstance(cell["state_size"], int) and cell["state_size"] > 0
                chosen = [r for r in runs if r["tags"]["bench.model"] == name and r["tags"]["bench.task"] == task
                          and str(r["tags"]["bench.setting"]) == label and r["tags"]["bench.lr"] == cell["chosen"]["lr"]]
                assert cell["updates"] == {str(r["tags"]["bench.seed"]): r["solved_step"] for r in chosen}
                for r in chosen:  # a run stopped at the first evaluation that solved, or ran its budget
                    solved = r["summary"]["at_best"]["valid_recall_accuracy"] >= 0.99
                    assert r["summary"]["steps"] == (r["solved_step"] if solved else suite.budget)
    text = profile_text(result)
    assert "From the shipped reference: " in text
    assert max(map(len, text.splitlines())) <= 100 and "?" not in text


@pytest.mark.parametrize("args, expected", [
    (["--suite", "nope"], "unknown suite 'nope': choose one of"),
    (["--against", "reference", "--budget", "5"], "--against reference compares at the suite's own"),
    (["--against", "others"], "--against must be reference"),
    (["--params", "lots"], "--params must be a count"),
    (["--budget", "0"], "--budget must be an integer >= 1"),
    (["--suite", "zoology-figure2", "--params", "20k"], "--params: suite zoology-figure2 gives every model the same"),
])
def test_bad_bench_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, expected):
    from seqmem.cli import main

    assert main(["bench", "gru", *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "out").exists()


def test_a_suite_that_names_no_models_needs_them_on_the_command_line(tmp_path, capsys):
    from seqmem.cli import main

    assert main(["bench", "--suite", "quick", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "name the models to profile" in err and "suite quick names none" in err
    assert main(["bench", "mamba2[negative_eigenvalues=maybe]", "--out", str(tmp_path / "out")]) == 2
    assert "negative_eigenvalues: expected true or false" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bench_writes_its_page_where_asked(tmp_path, capsys, monkeypatch):
    """`--html FILE`: the profile's page beside the printed table, as `make run` writes runs/first/report.html."""
    from seqmem.cli import main
    from seqmem.sweeps import sweep

    monkeypatch.setattr(sweep, "make_backend", lambda *_: InProcess())
    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text("""
params = 2000
budget = 4
seeds = 1
[grid]
lr = [1e-2]
[train]
batch_size = 8
eval_every = 2
[[tasks]]
name = "copy-memory"
key = "blank"
values = [3]
settings = { convention = "symbols", recall_length = 2, test_size = 16, validation_size = 16 }
""")
    page = tmp_path / "page" / "report.html"
    assert main(["bench", "gru", "--suite", str(suite_file), "--quiet", "--out", str(tmp_path / "out"),
                 "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "rank" in out and f"report written to {page}" in out
    assert "copy-memory" in page.read_text() and "gru" in page.read_text()


def test_the_first_suite_compares_four_kinds_of_model_on_two_tasks():
    """What `make run` runs: the suite names its models, so `seqmem bench --suite first` needs none."""
    suite = load_suite("first")
    assert suite.models == ("attention", "gru", "s4d", "deltanet") and suite.until_solved
    assert [t.name for t in suite.tasks] == ["copy-memory", "associative-recall"]


@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_the_shipped_reference_is_what_the_current_code_trains(model, tmp_path):
    """Each model's cheapest run of the quick reference, trained again, gives its recorded numbers to the last
    digit: a kernel whose arithmetic changed makes the reference stale, and this fails. Only where the arithmetic
    matches the reference's (PyTorch, the CPU's vector width and maker); elsewhere the last digits may differ."""
    from seqmem.config.compose import make_config
    from seqmem.run.experiment import run_experiment
    from seqmem.sweeps.bench import arithmetic, reference_path

    shipped = json.loads(reference_path("quick").read_text())
    if shipped["arithmetic"] != arithmetic():
        pytest.skip(f"the quick reference was measured with {shipped['arithmetic']}, this machine has {arithmetic()}")
    runs = [r for r in shipped["runs"] if r["tags"]["bench.model"] == model]
    run = min(runs, key=lambda r: r["summary"]["train_seconds"])
    summary = run_experiment(make_config(run["config"]), tmp_path / "run", progress=False, say=lambda *_: None)
    for key in ("steps", "recall_accuracy", "valid_recall_accuracy"):
        assert summary[key] == run["summary"][key], (run["name"], key)
    assert summary["at_best"]["loss"] == run["summary"]["at_best"]["loss"], run["name"]


def test_the_shipped_references_state_sizes_are_each_models_own_count():
    """One run of each model in the reference, built again from its config: its recorded state size is the
    model's own count over the task's span (what a run writes in summary.json)."""
    from seqmem.models import state_numbers
    from seqmem.run.build import build
    from seqmem.sweeps.bench import reference_entries

    firsts = {}
    for run in reference_entries(load_suite("quick"), set()):
        firsts.setdefault(run["tags"]["bench.model"], run)
    assert len(firsts) == len(REFERENCE_MODELS)
    for name, run in firsts.items():
        built = build(run["config"])
        assert run["summary"]["state_size"] == state_numbers(built.model, built.task.span), name
