"""Benchmarks in their quick form: the sweep files train and `seqmem report --format jsonl` reads them back
with their tags; the timing scripts print one well-formed JSON object a line through the shared harness."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from in_process import InProcess

from seqmem.cli import main
from seqmem.sweeps.sweep import load_sweep_file, run_sweep

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import harness  # noqa: E402


def quick_sweep(name, tmp_path, monkeypatch, capsys) -> tuple[list[dict], Path]:
    """The sweep file's quick form trained, and the report's JSON lines of it."""
    monkeypatch.setenv("BENCH_QUICK", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what a worker sets; restored after the test
    out = tmp_path / name
    entries = run_sweep(load_sweep_file(ROOT / "benchmarks" / f"{name}.py"), out, InProcess(), progress=False)
    assert all(e["status"] == "done" for e in entries), entries
    capsys.readouterr()
    assert main(["report", str(out), "--format", "jsonl"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()], out


def summary(out: Path, run: str) -> dict:
    return json.loads((out / run / "summary.json").read_text())


def test_copy_tcn_sweep_file_reports_each_init_with_its_tags(tmp_path, monkeypatch, capsys):
    rows, out = quick_sweep("copy_tcn", tmp_path, monkeypatch, capsys)
    by_init = {r["init"]: r for r in rows}
    assert set(by_init) == {"default", "paper"} and {r["model.init_std"] for r in rows} == {0.0, 0.01}
    assert all(r["benchmark"] == "copy_tcn" and r["target"] == 0.99 and r["seeds"] == [1111] for r in rows)
    for init, row in by_init.items():  # the row is the run's own summary, read apart
        run = summary(out, f"init={init}")
        assert row["recall_accuracy"] == run["recall_accuracy"] and row["steps"] == run["steps"] == 60
    assert {r["baseline.recall_accuracy"] for r in rows} == {0.125}  # 1 of 8 digits, guessed


def test_copy_tp_sweep_file_reports_both_methods(tmp_path, monkeypatch, capsys):
    rows, out = quick_sweep("copy_tp", tmp_path, monkeypatch, capsys)
    assert {r["recipe"]: r["method.name"] for r in rows} == {"seed-copy-bp": "bptt", "seed-copy-tp": "target-prop"}
    assert {r["baseline.recall_accuracy"] for r in rows} == {0.125}
    assert all(r["runs"] == 1 and r["seeds"] == [0] for r in rows)


def test_content_recall_sweep_file_reports_each_task_and_model_with_its_baseline(tmp_path, monkeypatch, capsys):
    rows, _ = quick_sweep("content_recall", tmp_path, monkeypatch, capsys)
    recall = {(r["task.name"], r["model.name"]): r for r in rows}
    assert set(recall) == {(t, m) for t in ("selective-copy", "associative-recall") for m in ("tcn", "gru")}
    assert {r["baseline.recall_accuracy"] for r in rows} == {0.25}  # 1 of 4 symbols, guessed
    assert all(0 <= r["recall_accuracy min"] <= r["recall_accuracy"] <= r["recall_accuracy max"] <= 1 for r in rows)


def test_echo_stream_sweep_file_tags_each_variant(tmp_path, monkeypatch, capsys):
    rows, _ = quick_sweep("echo_stream", tmp_path, monkeypatch, capsys)
    assert {(r["variant"], r["task.echo_step"]) for r in rows} == {(v, e) for v in ("rnn-relu-4", "gru-64")
                                                                   for e in (3, 10)}
    assert all(r["baseline.recall_accuracy"] == 0.5 and r["series_length"] == 2000 for r in rows)


def test_a_sweep_files_options_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BENCH_SEEDS", "0,1,2")
    monkeypatch.setenv("BENCH_QUICK", "0")
    monkeypatch.setenv("BENCH_LR", "3e-3")
    assert harness.option("seeds", [0]) == [0, 1, 2] and harness.option("quick", True) is False
    assert harness.option("lr", 1e-3) == 0.003 and harness.option("steps", 3000) == 3000  # unset: the default
    monkeypatch.setenv("BENCH_MODELS", "nope")
    with pytest.raises(Exception, match="BENCH_MODELS: unknown 'nope'"):
        load_sweep_file(ROOT / "benchmarks" / "content_recall.py")


def test_the_harness_interleaves_and_takes_the_median_of_per_round_ratios():
    order = [name for _, name in harness.rotated(["a", "b", "c"], 3)]
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # no contender always first
    calls = iter(range(100))
    kept = harness.interleaved({"a": lambda: next(calls), "b": lambda: next(calls)}, rounds=2, warmup=1)
    assert kept == {"a": [3, 4], "b": [2, 5]}  # round 0 (calls 0, 1) warms up; round 1 runs b first
    assert harness.median_ratio([2, 9, 4], [1, 3, 1]) == 3  # ratios 2, 3, 4: not 15 / 5 of the sums


def test_ssm_speed_quick_compares_each_model_with_its_peers_on_the_same_weights():
    pytest.importorskip("mambapy")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ssm_speed.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    steps = {(r["model"], r["contender"]): r for r in records if r["metric"] == "step_seconds"}
    assert set(steps) == {("mamba", "seqmem"), ("mamba", "seqmem pytorch"), ("mamba", "seqmem loop"), ("mamba", "mambapy pscan"),
                          ("mamba", "mambapy sequential"), ("s4d", "seqmem"), ("s4d", "state-spaces/s4 S4D"),
                          ("lru", "seqmem"), ("lru", "seqmem pytorch"), ("lru", "seqmem doubling"), ("lru", "seqmem loop")}
    assert all(r["value"] > 0 and r["over_floor"] > 0 for r in steps.values())
    same = [r for r in records if r["metric"] == "max_abs_output_difference"]
    assert len(same) == len(steps) and all(r["value"] < 1e-4 for r in same)  # every peer computes our function
    assert len({(r["model"], r["parameters"]) for r in same}) == 3  # with as many parameters
    ratios = {(r["model"], r["numerator"]) for r in records if r["metric"] == "step_time_ratio"}
    assert ratios == {key for key in steps if key[1] != "seqmem"}


def test_attention_speed_quick_times_sdpa_beside_zoologys_einsum_form_on_the_same_weights():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "attention_speed.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    steps = {r["contender"]: r for r in records if r["metric"] == "step_seconds"}
    assert set(steps) == {"seqmem", "zoology einsum"}
    assert all(r["value"] > 0 and r["over_floor"] > 0 and r["length"] == 64 for r in steps.values())
    same = {r["contender"]: r for r in records if r["metric"] == "max_abs_output_difference"}
    assert same["zoology einsum"]["value"] < 1e-4  # the einsum form computes our function
    assert same["seqmem"]["parameters"] == same["zoology einsum"]["parameters"]
    (ratio,) = [r for r in records if r["metric"] == "step_time_ratio"]
    assert ratio["numerator"] == "zoology einsum" and ratio["value"] > 0


def test_rnn_speed_quick_checks_each_alternative_against_pytorchs_module():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rnn_speed.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    same = {(r["cell"], r["contender"]): r["value"] for r in records if r["metric"] == "max_relative_difference"}
    assert {("gru", "handwritten"), ("rnn", "handwritten")} <= set(same) and max(same.values()) < 1e-4
    ratios = {(r["cell"], r["numerator"]) for r in records if r["metric"] == "step_time_ratio"}
    assert {("gru", "handwritten"), ("rnn", "handwritten")} <= ratios
    assert all(r["value"] > 0 for r in records if r["metric"] in ("step_seconds", "step_time_ratio"))


def test_scored_head_quick_times_both_heads_of_each_model_and_vocabulary_from_equal_gradients():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scored_head.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    same = {(r["model"], r["vocab"]): r["value"] for r in records if r["metric"] == "max_abs_difference"}
    assert set(same) == {(m, v) for m in ("gru", "attention") for v in (32, 64)} and max(same.values()) < 1e-4
    updates = {(r["model"], r["vocab"], r["contender"]) for r in records if r["metric"] == "update_seconds"}
    assert updates == {(m, v, c) for m, v in same for c in ("full", "scored")}
    ratios = [r for r in records if r["metric"] == "full_over_scored"]
    assert len(ratios) == 4 and all(r["value"] > 0 and r["scored_share"] < 0.5 for r in ratios)


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


def test_time_to_solve_quick_prints_both_recipes_of_each_row_and_their_ratio(tmp_path, monkeypatch, capsys):
    import time_to_solve

    monkeypatch.setattr(time_to_solve, "ProcessPool", lambda workers: InProcess())
    assert time_to_solve.main(["--quick", "--runs", str(tmp_path / "runs")]) in (0, None)
    done = capsys.readouterr()
    records = [json.loads(line) for line in done.out.splitlines()]
    assert all({"benchmark", "metric", "value", "unit"} <= r.keys() for r in records)
    runs = [r for r in records if r["metric"] == "train_seconds_to_solve"]
    rows = {r["row"] for r in runs}
    assert {(r["row"], r["role"]) for r in runs} == {(row, role) for row in rows for role in ("notebook", "fastest")}
    for r in runs:
        assert r["updates"] > 0 and r["train_seconds"] > 0 and len(r["load_average"]) == 6
        assert (r["value"] is None) == (not r["solved"])
    assert {r["row"] for r in records if r["metric"] == "notebook_over_fastest_seconds"} == rows
    assert "| task |" in done.err


def test_denormals_quick_times_each_model_kept_and_flushed_from_equal_first_losses():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "denormals.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    losses = {r["model"]: (r["value"], r["flushed_value"]) for r in records if r["metric"] == "first_loss"}
    assert set(losses) == {"lstm", "gru", "tcn"} and all(a == b for a, b in losses.values())
    assert {r["model"] for r in records if r["metric"] == "step_time_ratio" and r["value"] > 0} == set(losses)


def test_mixer_speed_quick_times_each_chunked_mixer_beside_its_step_by_step_form():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mixer_speed.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from mixer_speed import chunked_mixers

    mixers = chunked_mixers()
    assert {"linear-attention", "deltanet", "gla", "mamba2", "mlstm"} <= set(mixers)
    steps = {(r["mixer"], r["form"]): r for r in records if r["metric"] == "step_seconds"}
    assert set(steps) == {(m, form) for m in mixers for form in ("forward", "step_by_step")}
    assert all(r["value"] > 0 and r["over_floor"] > 0 and r["state_size"] > 0 for r in steps.values())
    same = {r["mixer"]: r["value"] for r in records if r["metric"] == "max_abs_output_difference"}
    assert set(same) == set(mixers) and all(v < 1e-4 for v in same.values())  # both forms compute one function
    ratios = {r["mixer"] for r in records if r["metric"] == "step_time_ratio"}
    assert ratios == set(mixers)


def test_the_mqar_mixers_sweep_records_each_runs_state_size(tmp_path, monkeypatch, capsys):
    rows, out = quick_sweep("mqar_mixers", tmp_path, monkeypatch, capsys)
    assert {r["model.name"] for r in rows} == {"attention", "linear-attention"}
    assert all(r["benchmark"] == "mqar_mixers" and r["state_size"] > 0 and r["parameters"] > 0 for r in rows)


def test_scoring_memory_quick_measures_each_run_at_each_length_with_the_runs_own_recall():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scoring_memory.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = {(r["model"], r["length"]): r for r in map(json.loads, done.stdout.splitlines())}
    assert set(records) == {(m, n) for m in ("attention", "mamba") for n in (64, 128)}
    assert all(r["metric"] == "peak_scoring_bytes" and r["value"] > 0 and r["peak_bytes"] > r["value"]
               and r["rows"] == 4 for r in records.values())
    assert all(r["recall_accuracy"] == r["recorded_recall_accuracy"] for r in records.values())  # the same scoring
    assert records["attention", 128]["state_size"] == 2 * records["attention", 64]["state_size"]  # its KV cache
    assert records["mamba", 128]["state_size"] == records["mamba", 64]["state_size"]  # a state of fixed size



def test_fla_naive_speed_quick_times_each_kernel_beside_flas_naive_forms_that_agree():
    pytest.importorskip("fla", reason="fla's naive forms come with fla-core (the compare extra)")
    pytest.importorskip("einops", reason="fla's naive forms use einops")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fla_naive_speed.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    kernels = {"simple_gla", "gla", "retention", "linear_attn", "delta_rule", "gated_delta_rule", "based"}
    steps = {(r["kernel"], r["form"]): r for r in records if r["metric"] == "step_seconds"}
    assert {kernel for kernel, _ in steps} == kernels and all(r["value"] > 0 for r in steps.values())
    ratios = {(r["kernel"], r["numerator"]): r["value"] for r in records if r["metric"] == "step_time_ratio"}
    assert set(ratios) == {key for key in steps if key[1] != "seqmem chunked"}  # every form over the chunked one
    assert all(v > 0 for v in ratios.values())
    assert {kernel for kernel, form in ratios if form.startswith("fla ")} == kernels  # fla's form beside each
    same = {(r["kernel"], r["form"]): r["value"] for r in records if r["metric"] == "max_relative_difference"}
    assert set(same) == set(ratios) and max(same.values()) < 1e-4  # each timed form computes the same function
    assert not [r for r in records if r["metric"] in ("failed", "skipped")]


def test_fla_naive_speeds_check_sees_a_form_that_differs():
    import torch
    from fla_naive_speed import difference

    a = [torch.ones(3), torch.full((2,), 4.0)]
    assert difference(a, a) == 0
    assert difference([a[0], a[1] + 0.01], a) == pytest.approx(0.0025, rel=1e-4)  # over the largest entry of the reference
