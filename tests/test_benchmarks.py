"""Benchmarks in their --quick form: they run and print one well-formed JSON object a line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_copy_tcn_quick_prints_json_lines(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "copy_tcn.py"), "--quick", "--runs",
                           str(tmp_path / "runs")], capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records and all({"benchmark", "metric", "value", "unit"} <= r.keys() for r in records)
    by_metric = {r["metric"] for r in records}
    assert {"recall_accuracy", "baseline.recall_accuracy", "accuracy", "valid_recall_accuracy", "steps"} <= by_metric
    assert {r["init"] for r in records} == {"default", "paper"}


def test_ssm_speed_quick_compares_each_model_with_its_peers_on_the_same_weights():
    pytest.importorskip("mambapy")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ssm_speed.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    steps = {(r["model"], r["contender"]): r for r in records if r["metric"] == "step_seconds"}
    assert set(steps) == {("mamba", "seqmem"), ("mamba", "seqmem loop"), ("mamba", "mambapy pscan"),
                          ("mamba", "mambapy sequential"), ("s4d", "seqmem"), ("s4d", "state-spaces/s4 S4D"),
                          ("lru", "seqmem"), ("lru", "seqmem doubling"), ("lru", "seqmem loop")}
    assert all(r["value"] > 0 and r["over_floor"] > 0 for r in steps.values())
    same = [r for r in records if r["metric"] == "max_abs_output_difference"]
    assert len(same) == len(steps) and all(r["value"] < 1e-4 for r in same)  # every peer computes our function
    assert len({(r["model"], r["parameters"]) for r in same}) == 3  # with as many parameters
    ratios = {(r["model"], r["numerator"]) for r in records if r["metric"] == "step_time_ratio"}
    assert ratios == {key for key in steps if key[1] != "seqmem"}


def test_rnn_speed_quick_checks_each_alternative_against_pytorchs_module():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rnn_speed.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    same = {(r["cell"], r["contender"]): r["value"] for r in records if r["metric"] == "max_relative_difference"}
    assert {("gru", "handwritten"), ("rnn", "handwritten")} <= set(same) and max(same.values()) < 1e-4
    ratios = {(r["cell"], r["numerator"]) for r in records if r["metric"] == "step_time_ratio"}
    assert {("gru", "handwritten"), ("rnn", "handwritten")} <= ratios
    assert all(r["value"] > 0 for r in records if r["metric"] in ("step_seconds", "step_time_ratio"))


def test_content_recall_quick_prints_each_task_and_model_with_its_baseline(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "content_recall.py"), "--quick", "--workers", "1",
                           "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out.jsonl")],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    recall = {(r["task"], r["model"]): r for r in records if r["metric"] == "recall_accuracy"}
    assert set(recall) == {(t, m) for t in ("selective-copy", "associative-recall") for m in ("tcn", "gru")}
    baseline = {(r["task"], r["model"]): r["value"] for r in records if r["metric"] == "baseline.recall_accuracy"}
    assert baseline[("selective-copy", "gru")] == 0.25 and baseline[("associative-recall", "gru")] == 0.25
    assert all(0 <= r["value"] <= 1 for r in recall.values())


def test_startup_quick_prints_each_command_and_its_ratio_to_python():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "startup.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    commands = {r["command"] for r in records if r["metric"] == "median_seconds"}
    assert {"python -c pass", "python -c 'import torch'", "seqmem --help", "seqmem tasks"} <= commands
    ratios = {r["numerator"]: r["value"] for r in records if r["metric"] == "ratio_to_python"}
    assert set(ratios) == commands - {"python -c pass"} and all(v > 0 for v in ratios.values())


def test_data_speed_quick_prints_each_recipes_data_fraction():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "data_speed.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    fractions = {r["recipe"]: r for r in records if r["metric"] == "data_fraction"}
    assert set(fractions) == {"copy-tcn-1000", "seed-echo-letters", "seed-echo-variable", "seed-echo-stream"}
    assert all(r["value"] > 0 and r["unit"] == "ratio" and r["updates"] >= 1 for r in fractions.values())
    assert fractions["seed-echo-stream"]["updates"] >= fractions["seed-echo-stream"]["chunks_per_batch"] == 1000


def test_tcn_speed_quick_compares_equal_nets_and_prints_every_ratio():
    pytest.importorskip("pytorch_tcn")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tcn_speed.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert all({"benchmark", "metric", "value", "unit"} <= r.keys() for r in records)
    same = [r for r in records if r["metric"] == "max_abs_output_difference"]
    assert {r["setting"] for r in same} == {"copy T=1000", "sMNIST"}
    for r in same:  # the peer, given our weights, computes the same function
        assert r["value"] < 1e-4 and len(set(r["parameters"].values())) == 1
        assert len({tuple(s) for s in r["output_shapes"].values()}) == 1
    ratios = {(r["setting"], r["metric"], r["denominator"]) for r in records if r["unit"] == "ratio"}
    for part in ("step", "forward", "backward", "adam"):
        assert ("copy T=1000", f"{part}_time_ratio", f"seqmem {part}") in ratios
        assert ("sMNIST", f"{part}_time_ratio", f"seqmem all steps {part}") in ratios
    metrics = {r["metric"] for r in records}
    assert {"matmul_gflop_per_second", "effective_gflop_per_second", "conv_forward_backward_time_ratio",
            "train_images_per_second", "score_images_per_second"} <= metrics
    assert all(r["value"] > 0 for r in records if r["metric"] != "max_abs_output_difference")


def test_time_to_solve_quick_prints_both_recipes_of_each_row_and_their_ratio(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "time_to_solve.py"), "--quick", "--runs",
                           str(tmp_path / "runs")], capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert all({"benchmark", "metric", "value", "unit"} <= r.keys() for r in records)
    runs = [r for r in records if r["metric"] == "train_seconds_to_solve"]
    rows = {r["row"] for r in runs}
    assert {(r["row"], r["role"]) for r in runs} == {(row, role) for row in rows for role in ("notebook", "fastest")}
    for r in runs:
        assert r["updates"] > 0 and r["train_seconds"] > 0 and len(r["load_average"]) == 6
        assert (r["value"] is None) == (not r["solved"])
    assert {r["row"] for r in records if r["metric"] == "notebook_over_fastest_seconds"} == rows
    assert "| task |" in done.stderr
