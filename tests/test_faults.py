"""Faults a long run meets, each survived or refused in one line: refused commands write nothing, damaged
files name themselves, a second writer is kept out, divergence keeps the last finite checkpoint, SIGTERM
checkpoints and resumes exactly, and a planted checkpoint runs no code."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from in_process import interrupted, seqmem_main

from seqmem.cli import main
from seqmem.run import resources
from seqmem.run.experiment import run_experiment
from seqmem.run.rundir import RunDir

TINY = ["copy-memory", "--model", "rnn", "--hidden", "8", "--blank", "3", "--recall-length", "2", "--set",
        "test_size=20", "--set", "validation_size=20"]
SMALL = {"task": {"name": "copy-memory", "blank": 3, "recall_length": 2, "test_size": 20, "validation_size": 20},
         "model": {"name": "rnn", "hidden": 8},
         "train": {"steps": 30, "eval_every": 10, "lr": 1e-2, "seed": 1}}
QUIET = {"progress": False, "say": lambda *_: None}


def one_line(done, code=2):
    return done.returncode == code and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [
    ["--steps", "5", "--method", "tbpt"],
    ["--method", "tbptt", "--steps", "5"],
    [],  # no --steps
    ["--steps", "5", "--lr", "inf"],
    ["--steps", "5", "--weight-decay", "nan"],
    ["--steps", "5", "--stop-at", "1.5"],
    ["--steps", "5", "--seed", "-1"],
    ["--steps", "5", "--clip", "nan"],
])
def test_a_refused_command_writes_nothing(tmp_path, args):
    done = seqmem_main("train", *TINY, *args, "--out", str(tmp_path / "run"))
    assert one_line(done), done.stderr
    assert not (tmp_path / "run").exists()
    fixed = seqmem_main("train", *TINY, "--steps", "2", "--quiet", "--out", str(tmp_path / "run"))
    assert fixed.returncode == 0, fixed.stderr


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    path = tmp_path_factory.mktemp("finished") / "run"
    run_experiment(SMALL, path, **QUIET)
    return path


DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "garbage": lambda data: bytes(range(256)) * 4,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", ["config.json", "summary.json", "checkpoint.pt"])
@pytest.mark.parametrize("command", ["train", "demo", "report"])
def test_a_damaged_file_is_named_in_one_line(finished, tmp_path, name, damage, command):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / name).write_bytes(DAMAGE[damage]((run / name).read_bytes()))
    if command == "train" and name != "summary.json":
        (run / "summary.json").unlink()  # an unfinished run: train reads its config and checkpoint to resume
    args = {"train": ["train", *TINY, "--steps", "30", "--eval-every", "10", "--lr", "0.01", "--seed", "1"],
            "demo": ["demo"], "report": ["report"]}[command]
    done = seqmem_main(*args, str(run)) if command != "train" else seqmem_main(*args, "--out", str(run))
    if command == "report" and name != "summary.json" or command == "demo" and name == "summary.json":
        assert done.returncode == 0, done.stderr  # that command does not read that file
        return
    assert one_line(done), done.stderr
    assert name in done.stderr and ("delete" in done.stderr)


def test_a_checkpoint_of_another_architecture_is_refused(finished, tmp_path):
    other = tmp_path / "other"
    run_experiment({**SMALL, "model": {"name": "gru", "hidden": 8}, "train": {**SMALL["train"], "steps": 10}}, other,
                   **QUIET)
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    shutil.copy(other / "checkpoint.pt", run / "checkpoint.pt")
    (run / "summary.json").unlink()
    for args in (["demo", str(run)], ["train", *TINY, "--steps", "30", "--eval-every", "10", "--lr", "0.01", "--seed",
                                       "1", "--out", str(run)]):
        done = seqmem_main(*args)
        assert one_line(done) and "holds the state of another model" in done.stderr, done.stderr


def test_a_kill_during_the_first_write_leaves_a_folder_that_still_runs(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".config.json.x1y2.tmp").write_text('{"task": ')  # what a kill during the first write leaves
    summary = run_experiment(SMALL, run, **QUIET)
    assert summary["steps"] == 30


def test_a_partial_last_metrics_line_is_dropped_on_resume(tmp_path):
    whole = run_experiment(SMALL, tmp_path / "whole", **QUIET)
    run_experiment({**SMALL, "train": {**SMALL["train"], "steps": 20}}, tmp_path / "cut", **QUIET)
    (tmp_path / "cut" / "config.json").write_text((tmp_path / "whole" / "config.json").read_text())
    (tmp_path / "cut" / "summary.json").unlink()
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as f:
        f.write('{"step": 30, "loss": 0.1')  # a kill mid-line
    assert run_experiment(SMALL, tmp_path / "cut", **QUIET)["recall_accuracy"] == whole["recall_accuracy"]
    assert [m["step"] for m in RunDir(tmp_path / "cut").metrics()] == [10, 20, 30]


def test_a_second_writer_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path):
    import socket

    run = tmp_path / "run"
    run.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / ".lock").write_text(f"{socket.gethostname()} {sleeper.pid}")
        done = seqmem_main("train", *TINY, "--steps", "2", "--out", str(run))
        assert one_line(done) and f"in use by process {sleeper.pid}" in done.stderr
        assert not (run / "config.json").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    done = seqmem_main("train", *TINY, "--steps", "2", "--out", str(run))  # its holder is dead now
    assert done.returncode == 0, done.stderr
    assert not (run / ".lock").exists()


def test_divergence_stops_keeps_the_last_finite_checkpoint_and_says_so(tmp_path):
    run = tmp_path / "run"
    done = seqmem_main("train", "copy-memory", "--model", "tcn", "--levels", "2", "--kernel-size", "3", "--channels", "4",
               "--blank", "3", "--recall-length", "2", "--set", "test_size=20", "--set", "validation_size=20",
               "--optimizer", "sgd", "--lr", "1e4", "--steps", "50", "--eval-every", "1", "--out", str(run))
    assert one_line(done, code=1) and "diverged" in done.stderr and "lower --lr" in done.stderr, done.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["diverged"] is True and summary["checkpoint_step"] < summary["diverged_at"]
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == summary["checkpoint_step"]
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values())
    assert all(json.loads(line)["loss"] == json.loads(line)["loss"] for line in (run / "metrics.jsonl").open())


def test_sigterm_checkpoints_and_the_resumed_run_is_the_uninterrupted_one(tmp_path):
    args = ["train", "copy-memory", "--model", "rnn", "--hidden", "32", "--blank", "20", "--recall-length", "4",
            "--set", "test_size=20", "--set", "validation_size=20", "--steps", "1200", "--eval-every", "400",
            "--quiet"]
    process = subprocess.Popen([sys.executable, "-m", "seqmem.cli", *args, "--out", str(tmp_path / "cut")],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / "cut" / "config.json").exists():
        time.sleep(0.05)
    time.sleep(0.5)  # some updates, before the first evaluation
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143 and stderr.count("\n") == 1 and "resume" in stderr
    step = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["step"]
    assert 0 < step < 1200
    assert main([*args, "--out", str(tmp_path / "cut")]) == 0  # the resume and the whole run in-process: the
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0  # same loop, without two more interpreters
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=True)["model"] for d in ("cut", "whole"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_interrupt_between_evaluations_resumes_bit_for_bit(tmp_path, monkeypatch):
    whole = run_experiment(SMALL, tmp_path / "whole", **QUIET)
    interrupted(SMALL, tmp_path / "cut", monkeypatch, checks=15)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["step"] == 14
    resumed = run_experiment(SMALL, tmp_path / "cut", **QUIET)
    assert resumed["recall_accuracy"] == whole["recall_accuracy"] and resumed["loss"] == whole["loss"]


class Planted:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['SEQMEM_PLANTED']}",))


def test_a_planted_checkpoint_runs_no_code(finished, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.setenv("SEQMEM_PLANTED", str(marker))
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    checkpoint["extra"] = Planted()
    torch.save(checkpoint, run / "checkpoint.pt")
    done = seqmem_main("demo", str(run))
    assert one_line(done) and "cannot be loaded safely" in done.stderr, done.stderr
    assert not marker.exists()


def test_importing_seqmem_does_not_import_torch():
    done = subprocess.run([sys.executable, "-c", "import sys, seqmem.cli; print('torch' in sys.modules)"],
                          capture_output=True, text=True)
    assert done.stdout.strip() == "False"


FIX_RUN = "make the model, the sequences or the batches smaller"
FIX_DATA = "make its sizes (sequence length, set sizes) smaller"


@pytest.mark.parametrize("args, line", [
    (["copy-memory", "--model", "tcn", "--blank", "10000000000", "--steps", "1"],
     f"this run (tcn on copy-memory, span 10000000020) would need at least 5.22e+05 GiB of memory and 8 GiB is "
     f"available: {FIX_RUN}"),
    (["copy-memory", "--model", "gru", "--hidden", "1000000", "--steps", "1"],
     f"this run (gru on copy-memory, span 1020) would need at least 4.47e+04 GiB of memory and 8 GiB is available: "
     f"{FIX_RUN}"),
    (["copy-memory", "--model", "gru", "--set", "test_size=100000000000", "--steps", "1"],
     f"task copy-memory's fixed data would need at least 7.45e+03 GiB of memory and 8 GiB is available: {FIX_DATA}"),
    (["echo-stream", "--model", "gru", "--series-length", "100000000000", "--steps", "1"],
     f"task echo-stream's fixed data would need at least 1.12e+04 GiB of memory and 8 GiB is available: {FIX_DATA}"),
    (["copy-memory", "--model", "tcn", "--blank", "20", "--levels", "4", "--kernel-size", "3", "--channels",
      "1000000000", "--steps", "5"],
     "model tcn is too large to count (channels=1000000000): its size overflows; make channels smaller"),
])
def test_a_run_too_large_for_the_machine_is_refused_with_its_size(tmp_path, monkeypatch, args, line):
    """The exact line, the machine given 8 GiB available so that the line does not depend on this one's."""
    monkeypatch.setattr(resources, "available_bytes", lambda: 8 * 2**30)
    done = seqmem_main("train", *args, "--out", str(tmp_path / "run"))
    assert one_line(done) and done.stderr == f"seqmem: error: {line}\n", done.stderr
    assert not (tmp_path / "run").exists()


def test_a_recipe_file_with_wrong_types_or_bad_toml_is_refused(tmp_path):
    (tmp_path / "bad.toml").write_text("[task\nname = 1\n")
    (tmp_path / "typed.toml").write_text('[task]\nname = "copy-memory"\nblank = "long"\n[model]\nname = "rnn"\n')
    for name, expected in (("bad.toml", "invalid TOML"), ("typed.toml", "blank: expected an integer, got 'long'")):
        done = seqmem_main("train", "--recipe", str(tmp_path / name), "--steps", "1", "--out", str(tmp_path / "r"))
        assert one_line(done) and expected in done.stderr, done.stderr


def test_the_python_api_raises_config_errors_naming_the_parameter():
    import seqmem
    from seqmem.tasks.letters import predict_text

    task = seqmem.make_task("copy-memory", blank=3, recall_length=2, test_size=10, validation_size=10)
    cases = [
        (lambda: seqmem.make_task("copy-memory", blank="long"), "blank: expected an integer"),
        (lambda: seqmem.make_task("copy-memory", blank=float("inf")), "blank: expected an integer"),
        (lambda: seqmem.make_model("tcn", task, dropout="x"), "dropout: expected a number"),
        (lambda: seqmem.make_model("tcn", task, kernel_size=1), "kernel_size must be an integer >= 2"),
        (lambda: seqmem.make_model("tcn", task, init_std=-0.1), "init_std must be in [0, 1)"),
        (lambda: seqmem.make_model("rnn", task, seed=-3), "seed must be an integer >= 0"),
        (lambda: seqmem.make_model("rnn", "copy-memory"), "needs a task made by make_task"),
        (lambda: seqmem.make_model("gru", task, hidden=10**5), "model gru would need at least"),
        (lambda: seqmem.make_model("gru", task, hidden=10**12), "hidden must be at most 1048576"),
        (lambda: seqmem.make_model("tcn", task, channels=10**12), "too large to count (channels=1000000000000)"),
        (lambda: seqmem.TrainConfig(lr="fast"), "lr: expected a number"),
        (lambda: seqmem.TrainConfig(weight_decay=float("nan")), "weight_decay: expected a finite number"),
        (lambda: seqmem.train(seqmem.make_model("rnn", task), task, {"steps": 3}), "must be a TrainConfig"),
        (lambda: seqmem.make_config({"task": {"name": "copy-memory"}, "model": {"name": "rnn"}, "trian": {}}),
         "no part 'trian'"),
        (lambda: seqmem.run_experiment(SMALL, 5), "a run directory is a path, got int"),
        (lambda: seqmem.load(5), "a run directory is a path"),
        (lambda: seqmem.load("x" * 300), "longer than 255 bytes"),
        (lambda: predict_text(None, "abc"), "needs a run loaded by seqmem.load"),
    ]
    for call, expected in cases:
        with pytest.raises(seqmem.ConfigError) as error:
            call()
        assert expected in str(error.value)


def test_an_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("mine")
    done = seqmem_main("train", *TINY, "--steps", "1", "--out", str(tmp_path / "file"))
    assert one_line(done) and "is a file" in done.stderr
    assert (tmp_path / "file").read_text() == "mine"


def test_a_lock_whose_process_id_was_reused_is_taken_over(tmp_path):
    """The lock names a live process, but one started after the lock's writer: that writer is gone."""
    import socket

    run = tmp_path / "run"
    run.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / ".lock").write_text(f"{socket.gethostname()} {sleeper.pid} 1")  # started at tick 1: not this one
        done = seqmem_main("train", *TINY, "--steps", "2", "--quiet", "--out", str(run))
        assert done.returncode == 0, done.stderr
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_second_sweep_on_one_folder_is_refused_naming_the_first(tmp_path):
    import socket

    from seqmem.run.rundir import started

    out = tmp_path / "sweep"
    out.mkdir()
    (out / ".lock").write_text(f"{socket.gethostname()} {os.getpid()} {started(os.getpid())}")  # a sweep running
    done = seqmem_main("sweep", *TINY, "--steps", "2", "--over", "seed=1,2", "--quiet", "--out", str(out))
    assert one_line(done) and f"in use by process {os.getpid()}" in done.stderr, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_a_file_named_like_a_task_is_not_run_as_a_sweep_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "echo-letters").write_text(f"open({str(tmp_path / 'ran')!r}, 'w')\nconfigs = []\n")
    done = seqmem_main("sweep", "echo-letters", "--model", "nothing", "--steps", "1", "--out", "o")
    assert one_line(done) and "unknown model" in done.stderr, done.stderr
    assert not (tmp_path / "ran").exists()


def test_a_sweep_file_that_exits_is_said_in_one_line(tmp_path):
    (tmp_path / "s.py").write_text("import sys\nsys.exit(3)\n")
    done = seqmem_main("sweep", str(tmp_path / "s.py"), "--out", str(tmp_path / "out"))
    assert one_line(done) and "called sys.exit(3)" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_a_full_disk_is_named_as_such_and_the_run_resumes(tmp_path, monkeypatch):
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    run = tmp_path / "run"
    args = ["train", *TINY, "--steps", "20", "--eval-every", "10", "--quiet", "--out", str(run)]
    real = os.fsync
    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: full(fd) if len(calls) > 2 else calls.append(fd) or real(fd))
    done = seqmem_main(*args)  # config.json and the first evaluation go through; the checkpoint does not
    assert one_line(done) and "is full (No space left on device)" in done.stderr, done.stderr
    assert "go on from the last checkpoint" in done.stderr
    assert not list(run.glob(".*.tmp")) and not (run / ".lock").exists()
    monkeypatch.setattr(os, "fsync", real)
    assert seqmem_main(*args).returncode == 0
    monkeypatch.setattr(os, "fsync", full)  # a report has no checkpoint to go on from
    report = seqmem_main("report", str(run), "--html", str(tmp_path / "page.html"))
    assert one_line(report) and "is full" in report.stderr and "checkpoint" not in report.stderr, report.stderr


def test_demo_takes_a_long_text_as_text(finished):
    done = seqmem_main("demo", str(finished), "a" * 300)
    assert one_line(done) and "text input needs an echo-letters run" in done.stderr, done.stderr


EXITS = f"{os.path.dirname(__file__)}/user_classes/exits.py"


@pytest.mark.parametrize("cls, call", [("ExitsInConstructor", "ExitsInConstructor.__init__"),
                                       ("ExitsInForward", "ExitsInForward.forward")])
@pytest.mark.parametrize("verb", ["check", "train"])
def test_user_code_that_exits_is_named_in_one_line(tmp_path, capsys, cls, call, verb):
    args = ["check", f"{EXITS}:{cls}"] if verb == "check" else \
        ["train", *TINY, "--model", f"{EXITS}:{cls}", "--steps", "4", "--quiet", "--out", str(tmp_path / "run")]
    done = seqmem_main(*args)
    assert one_line(done), (done.returncode, done.stderr)
    assert call in done.stderr and "exit(" in done.stderr
    assert not (tmp_path / "run").exists()


def test_user_code_that_exits_mid_training_is_named_and_keeps_its_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    done = seqmem_main("train", *TINY, "--model", f"{EXITS}:ExitsWhileTraining", "--steps", "8",
                      "--eval-every", "2", "--quiet", "--out", str(out))
    assert one_line(done) and "ExitsWhileTraining.forward called exit(5)" in done.stderr, done.stderr
    assert RunDir(out).read_checkpoint()["step"] == 2 and not (out / ".lock").exists()


def test_a_sweep_point_whose_model_exits_fails_in_one_line(tmp_path, capsys):
    done = seqmem_main("sweep", "copy-memory", "--model", f"{EXITS}:ExitsWhileTraining", "--blank", "3",
                      "--recall-length", "2", "--set", "test_size=20", "--set", "validation_size=20", "--steps", "8",
                      "--seeds", "2", "--workers", "1", "--quiet", "--out", str(tmp_path / "sweep"))
    assert done.returncode == 1, done.stderr
    assert "0 of 2 points done" in done.stdout and "2 failed" in done.stdout, done.stdout
    failures = done.stdout.split("2 failed:")[1].splitlines()[1:]
    assert len(failures) == 2 and all("ExitsWhileTraining.forward called exit(5)" in f for f in failures), done.stdout


BAD_TASKS = f"{os.path.dirname(__file__)}/user_classes/bad_tasks.py"


@pytest.mark.parametrize("cls, expected", [("TargetsOutOfRange", "a target 10"),
                                           ("TokensOutOfRange", "in x is outside 0..3 (vocab_size 4)")])
def test_check_and_train_refuse_a_task_whose_values_are_out_of_range(tmp_path, capsys, cls, expected):
    check = seqmem_main("check", f"{BAD_TASKS}:{cls}")
    failed = [line for line in check.stdout.splitlines() if "FAIL" in line]
    assert check.returncode == 1 and len(failed) == 1 and expected in failed[0], check.stdout
    train = seqmem_main("train", f"{BAD_TASKS}:{cls}", "--model", "gru", "--hidden", "4", "--steps", "2",
                       "--out", str(tmp_path / "run"))
    assert one_line(train) and expected in train.stderr, train.stderr
    assert not (tmp_path / "run").exists()  # refused before config.json, not an IndexError after it
    fixed = seqmem_main("check", f"{BAD_TASKS}:{cls}", "--set", "task.shift=0")  # the control
    assert fixed.returncode == 0 and "FAIL" not in fixed.stdout, fixed.stdout


def test_a_pasted_100_kb_value_is_not_echoed_back_whole(tmp_path, capsys):
    done = seqmem_main("train", *TINY, "--steps", "2", "--set", "hidden=" + "x" * 100_000,
                      "--out", str(tmp_path / "run"))
    assert one_line(done) and len(done.stderr) < 400 and "(100002 characters)" in done.stderr, done.stderr[:400]
    assert not (tmp_path / "run").exists()


def test_a_model_files_process_settings_do_not_leak_to_the_caller(tmp_path):
    import seqmem

    threads = torch.get_num_threads()
    config = {"task": {"name": "echo-letters", "test_size": 10, "validation_size": 10},
              "model": {"name": f"{os.path.dirname(__file__)}/user_classes/sets_process.py:Net"},
              "train": {"steps": 2, "eval_every": 2}}
    run_experiment(config, tmp_path / "run", **QUIET)
    loaded = seqmem.load(tmp_path / "run")
    assert torch.get_num_threads() == threads and torch.get_default_dtype() == torch.float32
    assert next(loaded.model.parameters()).dtype == torch.float32


@pytest.mark.parametrize("name, kind", [("metrics.jsonl", "huge"), ("checkpoint.pt", "fifo"), ("metrics.jsonl", "zero")])
def test_resume_names_a_special_or_huge_run_file(finished, tmp_path, capsys, name, kind):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "summary.json").unlink()  # unfinished: the same command resumes it
    (run / name).unlink()
    if kind == "fifo":
        os.mkfifo(run / name)
    elif kind == "zero":
        os.symlink("/dev/zero", run / name)
    else:
        with open(run / name, "wb") as f:
            f.truncate(2**30)  # sparse: nothing is written
    args = ["train", "copy-memory", "--model", "rnn", "--hidden", "8", "--blank", "3", "--recall-length", "2",
            "--set", "test_size=20", "--set", "validation_size=20", "--steps", "30", "--eval-every", "10",
            "--lr", "1e-2", "--seed", "1", "--quiet", "--out", str(run)]
    done = seqmem_main(*args)
    assert one_line(done) and name in done.stderr, done.stderr
