"""A user's model, task and method by import path: from the command line, in sweeps (pool and Ray), the
horizon, report, demo and `seqmem.load`; the contract checked; broken classes refused before anything is
written; entry points listed without PyTorch."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from in_process import InProcess, seqmem_main, seqmem_process

import seqmem

ROOT = Path(__file__).resolve().parents[1]
MIN_GRU = f"{ROOT}/examples/min_gru.py:MinGRU"
HOLD = f"{ROOT}/examples/hold_task.py:Hold"
NOISE = f"{ROOT}/examples/noisy_sgd.py:GradientNoise"
MY_MIXER = f"{ROOT}/examples/my_mixer.py:CausalSelfAttention"
BROKEN = f"{ROOT}/tests/user_classes/broken.py"
SMALL = ["--steps", "20", "--eval-every", "10", "--set", "task.test_size=50", "--set", "task.validation_size=50"]


def test_a_user_model_trains_resumes_reports_and_demos_by_file_path(tmp_path):
    out = tmp_path / "run"
    done = seqmem_main("train", "echo-letters", "--model", "examples/min_gru.py:MinGRU", "--hidden", "16", *SMALL,
                      "--out", out, "--quiet", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == {"name": MIN_GRU, "hidden": 16}  # absolute: a worker anywhere imports it again
    assert list(config["sources"]) == [f"{ROOT}/examples/min_gru.py"]
    assert "MinGRU" in done.stdout and str(ROOT) not in done.stdout  # lines and tables show the class name
    again = seqmem_main("train", "echo-letters", "--model", MIN_GRU, "--hidden", "16", *SMALL, "--out", out, cwd=tmp_path)
    assert again.returncode == 0 and "already finished" in again.stdout
    demo = seqmem_main("demo", out, "abcdefgh", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert len(demo.stdout.splitlines()[-1].split()[-1]) <= 8
    loaded = seqmem.load(out)
    assert type(loaded.model).__name__ == "MinGRU" and loaded.model.state_size == 16
    assert json.loads((out / "summary.json").read_text())["state_size"] == 16
    assert seqmem_main("report", out, cwd=tmp_path).stdout.count("MinGRU") == 1


def test_a_changed_model_file_refuses_resume_and_load_and_warns_on_a_trusted_load(tmp_path):
    model = tmp_path / "my_gru.py"
    shutil.copy(ROOT / "examples/min_gru.py", model)
    out = tmp_path / "run"
    args = ["train", "echo-letters", "--model", f"{model}:MinGRU", "--hidden", "8", *SMALL, "--out", out]
    assert seqmem_main(*args, "--quiet").returncode == 0
    model.write_text(model.read_text() + "\n# edited\n")
    again = seqmem_main(*args)
    assert again.returncode == 2 and "has changed since the run" in again.stderr and again.stderr.count("\n") == 1
    with pytest.raises(seqmem.ConfigError, match="has changed"):
        seqmem.load(out)
    with pytest.warns(UserWarning, match="has changed since"):
        seqmem.load(out, trust=True)


def test_a_user_task_and_method_train_from_the_command_line_and_a_sweep_file(tmp_path):
    task = seqmem_main("train", "examples/hold_task.py:Hold", "--length", "6", "--model", "gru", "--hidden", "8",
                      *SMALL, "--out", tmp_path / "hold", "--quiet", cwd=ROOT)
    assert task.returncode == 0, task.stderr
    summary = json.loads((tmp_path / "hold" / "summary.json").read_text())
    assert summary["baseline"]["recall_accuracy"] == 1 / 8 and summary["task"] == HOLD
    method = seqmem_main("train", "echo-letters", "--model", "gru", "--hidden", "8", "--method",
                        "examples/noisy_sgd.py:GradientNoise", "--eta", "0.02", *SMALL, "--out", tmp_path / "noise",
                        "--quiet", cwd=ROOT)
    assert method.returncode == 0, method.stderr
    assert json.loads((tmp_path / "noise" / "config.json").read_text())["method"] == {"name": NOISE, "eta": 0.02,
                                                                                       "gamma": 0.55}
    sweep_file = tmp_path / "mine.py"
    sweep_file.write_text(textwrap.dedent(f"""
        base = {{"task": {{"name": {HOLD!r}, "length": 5, "test_size": 50, "validation_size": 50}},
                 "model": {{"name": "gru", "hidden": 8}}, "train": {{"steps": 10}}}}
        configs = [base, {{**base, "method": {{"name": {NOISE!r}}}}}]
    """))
    swept = seqmem_main("sweep", sweep_file, "--workers", "2", "--out", tmp_path / "swept", "--quiet")
    assert swept.returncode == 0, swept.stderr
    assert "2 of 2 points done" in swept.stdout and "GradientNoise" in swept.stdout
    assert (tmp_path / "swept" / "method=GradientNoise" / "summary.json").is_file()


def recalls(entries):
    return {e["name"]: (e["summary"]["recall_accuracy"], e["summary"]["loss"]) for e in entries}


def test_a_user_model_and_a_zoology_mixer_swept_beside_builtins_give_the_same_numbers_on_the_pool_and_on_ray(tmp_path):
    """MinGRU beside the GRU, and examples/my_mixer.py beside `attention` on the same backbone, in one sweep (one
    pool, one Ray started)."""
    from seqmem.sweeps.sweep import ProcessPool, RayBackend, grid, name_points, run_sweep

    recurrent = {"task": {"name": "echo-letters", "test_size": 50, "validation_size": 50},
                 "model": {"name": "gru", "hidden": 8}, "train": {"steps": 15}}
    mixers = {"task": {"name": "associative-recall", "pairs": 2, "queries": 2, "keys": 8, "values": 8, "test_size": 50,
                       "validation_size": 50},
              "model": {"name": "attention"}, "train": {"steps": 15}}
    points = name_points(
        grid(recurrent, {"model.name": ["gru", "examples/min_gru.py:MinGRU"]}, [0], [("model.hidden", 8, "--hidden")])
        + grid(mixers, {"model.name": ["attention", MY_MIXER]}, [0],
               [("model.d_model", 8, "--d-model"), ("model.layers", 1, "--layers")]))
    assert sorted(p.name for p in points) == ["task=associative-recall,model=CausalSelfAttention",
                                              "task=associative-recall,model=attention",
                                              "task=echo-letters,model=MinGRU", "task=echo-letters,model=gru"]
    pool = run_sweep(points, tmp_path / "pool", ProcessPool(2), progress=False)
    ray = run_sweep(points, tmp_path / "ray", RayBackend(2), progress=False)
    assert all(e["status"] == "done" for e in pool + ray), [e.get("error") for e in pool + ray]
    assert recalls(pool) == recalls(ray)
    assert len(set(recalls(pool).values())) == 4  # the models differ: the comparison is not vacuous


def test_the_horizon_of_a_user_model(tmp_path, monkeypatch):
    monkeypatch.setattr("seqmem.sweeps.sweep.make_backend", lambda *args: InProcess())  # the pool: the test above
    done = seqmem_main("horizon", "echo-letters", "--models", "gru,examples/min_gru.py:MinGRU", "--hidden", "8",
                      "--start", "1", "--limit", "2", "--steps", "10", "--set", "task.test_size=50",
                      "--set", "task.validation_size=50", "--out", tmp_path / "h", "--quiet", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    horizon = json.loads((tmp_path / "h" / "horizon.json").read_text())
    assert set(horizon["models"]) == {"gru", "MinGRU"}
    assert all((tmp_path / "h" / f"model=MinGRU,delay={d},seed=0").is_dir() for d in (1,))


def test_check_passes_the_examples_and_names_each_broken_class(monkeypatch):
    monkeypatch.chdir(ROOT)
    done = seqmem_main("check", "examples/min_gru.py:MinGRU", "examples/hold_task.py:Hold",
                       "examples/noisy_sgd.py:GradientNoise")
    code, out = done.returncode, done.stdout
    assert code == 0, out
    assert "FAIL" not in out and out.count("pass") >= 15 and "3 of 3 pass" in out
    for name, expected in [("WrongShape", "logits of shape (2, 27): expected (2, 15, 27)"),
                           ("NoReceptiveField", "receptive_field is None"),
                           ("Raises", "its constructor raised ValueError: width 4 is not supported"),
                           ("Peeks", "not causal: the output at step 6 changed when the input at step 7")]:
        done = seqmem_main("check", f"{BROKEN}:{name}")
        code, out = done.returncode, done.stdout
        assert code == 1, out
        failed = [line for line in out.splitlines() if "FAIL" in line]
        assert len(failed) == 1 and expected.split("...")[0] in failed[0] and expected.split("...")[-1] in failed[0]


@pytest.mark.parametrize("spec,expected", [
    (f"{BROKEN}:WrongShape", "logits of shape"),
    (f"{BROKEN}:NoReceptiveField", "receptive_field is None"),
    (f"{BROKEN}:Raises", "its constructor raised ValueError: width 4 is not supported"),
    (f"{ROOT}/tests/user_classes/does_not_import.py:Net", "does not import (ModuleNotFoundError"),
    (f"{BROKEN}:not_a_class", "not_a_class is a int, not a class"),
    (f"{BROKEN}:Missing", "has no Missing; its classes: NoReceptiveField, Peeks, Raises, WrongShape"),
    (f"{ROOT}/tests/user_classes/nowhere.py:Net", "no file"),
    ("no_such_package.models:Net", "does not import (ModuleNotFoundError"),
])
def test_a_broken_user_class_is_refused_in_one_line_before_anything_is_written(spec, expected, tmp_path):
    done = seqmem_main("train", "echo-letters", "--model", spec, "--steps", "5", "--out", tmp_path / "run")
    code, err = done.returncode, done.stderr
    assert code == 2, err
    assert err.count("\n") == 1 and expected in err
    assert not (tmp_path / "run").exists()


def test_a_dotted_name_from_the_current_folder_and_the_python_api(tmp_path):
    (tmp_path / "mymodels").mkdir()
    (tmp_path / "mymodels" / "__init__.py").write_text("")
    shutil.copy(ROOT / "examples/min_gru.py", tmp_path / "mymodels" / "gru.py")
    done = seqmem_process("train", "echo-letters", "--model", "mymodels.gru:MinGRU", "--hidden", "8", *SMALL,
                      "--out", tmp_path / "run", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["name"] == "mymodels.gru:MinGRU"
    config = seqmem.make_config({"task": {"name": "echo-letters"}, "model": {"name": MIN_GRU, "hidden": 4},
                                 "train": {"steps": 1}})
    assert config.model == {"name": MIN_GRU, "hidden": 4}
    with pytest.raises(seqmem.ConfigError, match="no setting 'width'"):
        seqmem.make_config({"task": {"name": "echo-letters"}, "model": {"name": MIN_GRU, "width": 4}})


def test_entry_points_are_listed_beside_the_builtins_without_torch_and_train(tmp_path):
    package = tmp_path / "site"
    (package / "seqmem_extra-1.0.dist-info").mkdir(parents=True)
    (package / "seqmem_extra-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: seqmem-extra\n"
                                                                     "Version: 1.0\n")
    (package / "seqmem_extra-1.0.dist-info" / "entry_points.txt").write_text(
        "[seqmem.models]\nmin-gru = seqmem_extra:MinGRU\n[seqmem.tasks]\nhold = seqmem_extra_task:Hold\n")
    shutil.copy(ROOT / "examples/min_gru.py", package / "seqmem_extra.py")
    shutil.copy(ROOT / "examples/hold_task.py", package / "seqmem_extra_task.py")
    env = {"PYTHONPATH": str(package), "PATH": "/usr/bin:/bin"}
    check = ("import sys, seqmem.cli; code = seqmem.cli.main(sys.argv[1:]); "
             "assert 'torch' not in sys.modules, 'torch loaded'; sys.exit(code)")
    for verb, name in (("models", "min-gru"), ("tasks", "hold")):
        listed = subprocess.run([sys.executable, "-c", check, verb], capture_output=True, text=True, env=env)
        assert listed.returncode == 0, listed.stderr
        line = next(x for x in listed.stdout.splitlines() if x.startswith(name))
        assert line.split(None, 1)[1].startswith(("minGRU", "hold the first symbol"))
    done = seqmem_process("train", "hold", "--length", "5", "--model", "min-gru", "--hidden", "8", *SMALL,
                      "--out", tmp_path / "run", "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["name"] == "min-gru" and config["task"]["name"] == "hold"
