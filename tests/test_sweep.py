"""Sweeps: a grid named by what varies, every point a normal run, reruns that skip and resume, the same
numbers on Ray as on the process pool, and bad input refused before any point runs."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from in_process import seqmem_main, seqmem_process

from seqmem.cli import main
from seqmem.config.compose import make_config
from seqmem.errors import ConfigError
from seqmem.sweeps.sweep import ProcessPool, grid, name_points, run_sweep

BASE = {"task": {"name": "copy-memory", "blank": 3, "recall_length": 2, "convention": "symbols", "test_size": 50,
                 "validation_size": 50},
        "model": {"name": "rnn", "hidden": 8},
        "train": {"steps": 20, "eval_every": 10, "batch_size": 16, "lr": 1e-2}}
FLAGS = ["sweep", "copy-memory", "--model", "rnn", "--hidden", "8", "--convention", "symbols", "--recall-length", "2",
         "--set", "test_size=50", "--set", "validation_size=50", "--batch-size", "16", "--quiet"]


def recalls(out) -> dict:
    index = json.loads((out / "sweep.json").read_text())
    return {p["name"]: (p["summary"]["loss"], p["summary"]["recall_accuracy"], p["summary"]["valid_recall_accuracy"])
            for p in index["points"] if p["status"] == "done"}


def test_a_grid_is_named_by_the_settings_that_vary():
    configs = grid(BASE, {"model.name": ["rnn", "gru"], "blank": ["3", "5"]}, [0, 1], [("model.hidden", "4", "")])
    points = name_points(configs)
    assert [p.name for p in points][:3] == ["blank=3,model=rnn,seed=0", "blank=3,model=rnn,seed=1",
                                            "blank=5,model=rnn,seed=0"]
    assert len(points) == 8 and all(p.config.model["hidden"] == 4 for p in points)
    assert {p.config.model["name"] for p in points} == {"rnn", "gru"}
    with pytest.raises(ConfigError, match="points 1 and 2 of the sweep are the same config"):
        name_points([make_config(BASE), make_config(BASE)])


@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory):
    """Four points run on the process pool (2 workers), and the summaries' modification times."""
    out = tmp_path_factory.mktemp("sweeps") / "pool"
    entries = run_sweep(name_points(grid(BASE, {"blank": [3, 4]}, [0, 1])), out, ProcessPool(2), progress=False)
    return out, entries


def test_every_point_is_a_run_directory_and_a_rerun_skips_them(pool_sweep, capsys):
    out, entries = pool_sweep
    assert [e["status"] for e in entries] == ["done"] * 4
    for e in entries:
        assert {"config.json", "metrics.jsonl", "checkpoint.pt", "summary.json"} <= {p.name for p in (out / e["name"]).iterdir()}
        assert e["summary"]["baseline"]["recall_accuracy"] == 0.125
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    assert main([*FLAGS, "--steps", "20", "--eval-every", "10", "--lr", "0.01", "--over", "blank=3,4", "--seeds", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 of 4 points done" in printed and "blank" in printed and "0.1250" in printed
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}  # nothing was trained again


# Ray against the pool, for a built-in model and a user's: tests/test_extending.py


def test_a_killed_sweep_reruns_only_what_is_missing(tmp_path):
    out = tmp_path / "sweep"
    args = [*FLAGS, "--steps", "400", "--eval-every", "50", "--over", "blank=3,4,5", "--seeds", "2", "--workers", "1",
            "--out", str(out)]
    process = subprocess.Popen([sys.executable, "-m", "seqmem.cli", *args], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*/summary.json"))) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    assert 2 <= len(finished) < 6, "the sweep must be killed midway"
    done = seqmem_main(*args)  # the rerun in-process: its points still run on the pool
    assert done.returncode == 0, done.stderr
    assert "6 of 6 points done" in done.stdout
    after = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    assert len(after) == 6 and all(after[name] == stamp for name, stamp in finished.items())
    index = json.loads((out / "sweep.json").read_text())
    assert [p["status"] for p in index["points"]] == ["done"] * 6
    for point in index["points"]:  # each point logged every evaluation once, resumed or not
        steps = [json.loads(line)["step"] for line in (out / point["name"] / "metrics.jsonl").read_text().splitlines()]
        assert steps == list(range(50, 401, 50))


def test_sigterm_to_the_sweep_alone_stops_its_workers_at_a_checkpoint(tmp_path):
    """Two points on two workers: one finishes and its worker idles, the other is long. A SIGTERM to the
    sweep's process only: the busy worker checkpoints the update it is on, the idle one stops too, and the
    sweep exits 143 without waiting for the long point."""
    sweep = tmp_path / "two.py"
    sweep.write_text("base = " + repr(BASE) + "\n"
                     "configs = [dict(base, name='short', train={'steps': 5}),\n"
                     "           dict(base, name='long', train={'steps': 100000, 'eval_every': 200})]\n")
    out = tmp_path / "sweep"
    point = out / "long"
    process = subprocess.Popen([sys.executable, "-m", "seqmem.cli", "sweep", str(sweep), "--workers", "2", "--quiet",
                                "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((out / "short" / "summary.json").exists()
                                               and (point / "config.json").exists()):  # one idles, one trains
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)  # the point alone would take minutes
    assert process.returncode == 143 and "resume" in stderr and "Traceback" not in stderr
    import torch
    step = torch.load(point / "checkpoint.pt", weights_only=True)["step"]
    assert 0 < step < 100000
    assert not (point / ".lock").exists()


def test_a_failed_point_is_recorded_and_the_others_go_on(tmp_path):
    """An enormous SGD step makes the TCN's loss NaN; the rnn points finish."""
    sweep = tmp_path / "sweep.py"
    sweep.write_text(
        "base = " + repr(BASE) + "\n"
        "configs = [dict(base, name=f'seed{s}', train=dict(base['train'], seed=s)) for s in (0, 1)]\n"
        "configs.append(dict(base, name='exploding', model={'name': 'tcn', 'levels': 2, 'kernel_size': 3, 'channels': 4},\n"
        "                    train=dict(base['train'], optimizer='sgd', lr=1e30)))\n")
    done = seqmem_process("sweep", sweep, "--out", tmp_path / "out", "--quiet")  # its workers' stderr too
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "2 of 3 points done" in done.stdout and "exploding: Diverged: loss became nan at step 2" in done.stdout
    index = {p["name"]: p for p in json.loads((tmp_path / "out" / "sweep.json").read_text())["points"]}
    assert index["exploding"]["status"] == "failed" and "loss became nan" in index["exploding"]["error"]
    assert [index[n]["status"] for n in ("seed0", "seed1")] == ["done", "done"]


@pytest.mark.parametrize("args, expected", [
    (["--over", "frobs=1,2"], "has no setting 'frobs'"),
    (["--over", "blank="], "--over blank: give one or more comma-separated values, got ''"),
    (["--over", "blank=3,,4"], "--over blank: give one or more comma-separated values"),
    (["--over", "blank=3,-1"], "point blank=-1: blank must be an integer >= 1, got -1"),
    (["--over", "blank=3,x"], "--over blank: expected an integer, got 'x'"),
    (["--models", "rnn,tcn"], "has no setting 'hidden' (task copy-memory: blank"),
    (["--seeds", "0"], "--seeds must be an integer >= 1"),
    (["--workers", "0"], "--workers must be an integer in 1.."),
    (["--backend", "slurm"], "--backend must be process or ray"),
    (["--over", "blank=3", "--over", "blank=4"], "--over blank is given twice"),
])
def test_bad_input_is_refused_before_any_point_runs(pool_sweep, capsys, args, expected):
    """In-process, as the bad sweep files below; the shell's exit path is pinned by the refusal after them."""
    out, _ = pool_sweep
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    flags = [f for f in FLAGS if f not in ("--model", "rnn")] if "--models" in args else FLAGS
    assert main([*flags, "--steps", "20", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert before == {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}  # nothing finished is lost


@pytest.mark.parametrize("text, expected", [
    ("raise RuntimeError('no cluster today')", "raised RuntimeError: no cluster today"),
    ("configs = []", "must define `configs`, a non-empty list"),
    ("configs = [{'task': {'name': 'copy-memory'}, 'model': {'name': 'rnn'}, 'train': {'steps': 0}}]",
     "config 1: steps must be an integer >= 1, got 0"),
    ("configs = [{'task': {'name': 'copy-memory', 'blnk': 3}, 'model': {'name': 'rnn'}}]",
     "config 1: task copy-memory has no setting 'blnk'"),
])
def test_a_bad_sweep_file_is_refused_in_one_line(tmp_path, capsys, text, expected):
    (tmp_path / "sweep.py").write_text(text + "\n")
    assert main(["sweep", str(tmp_path / "sweep.py"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "out").exists()


def test_a_point_whose_directory_holds_another_run_is_refused_up_front(pool_sweep, tmp_path):
    out, _ = pool_sweep
    done = seqmem_main(*FLAGS, "--steps", "20", "--eval-every", "10", "--lr", "0.02", "--over", "blank=3,4",
                       "--seeds", "2", "--out", out)
    assert done.returncode == 2 and "holds a run with another config" in done.stderr


def test_a_damaged_point_summary_is_named_and_its_point_run_again(pool_sweep, tmp_path, capsys):
    import shutil

    out = tmp_path / "pool"
    shutil.copytree(pool_sweep[0], out)
    first, second = sorted(out.glob("*/summary.json"))[:2]
    kept = json.loads(first.read_text())
    first.write_text("{}")
    second.write_text(json.dumps({k: v for k, v in json.loads(second.read_text()).items() if k != "at_best"}))
    assert main([*FLAGS, "--steps", "20", "--eval-every", "10", "--lr", "0.01", "--over", "blank=3,4", "--seeds", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = printed.split("4 of 4 points done")[0]
    assert table.count("\n") > 3 and " - " not in table, printed  # every row's scores, none shown as '-'
    assert f"{first} is damaged (its loss is missing" in printed and f"{second} is damaged (its at_best" in printed
    assert json.loads(first.read_text())["recall_accuracy"] == kept["recall_accuracy"]  # resumed from its checkpoint
    assert "at_best" in json.loads(second.read_text())
    index = json.loads((out / "sweep.json").read_text())
    assert all("at_best" in p["summary"] for p in index["points"])


def test_a_subset_rerun_keeps_the_other_points_in_the_index(pool_sweep, tmp_path, capsys):
    import shutil

    import seqmem

    out = tmp_path / "pool"
    shutil.copytree(pool_sweep[0], out)
    points = name_points(grid(BASE, {"blank": [3, 4]}, [0, 1]))
    entries = run_sweep(points[:2], out, ProcessPool(2), progress=False)
    assert [e["name"] for e in entries] == [p.name for p in points[:2]]
    index = json.loads((out / "sweep.json").read_text())
    assert [e["name"] for e in index["points"]] == [p.name for p in points]
    assert len(seqmem.results(out)) == 4


def test_a_sweep_into_a_run_directory_is_refused(pool_sweep, capsys):
    run = pool_sweep[0] / "blank=3,seed=0"
    before = sorted(p.name for p in run.iterdir())
    assert main([*FLAGS, "--steps", "20", "--over", "blank=3", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a run directory" in err, err
    assert sorted(p.name for p in run.iterdir()) == before
