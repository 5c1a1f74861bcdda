"""Signals to a sweep and a horizon, sent as a terminal and a scheduler send them: Ctrl-C (once or twice)
to the process group, SIGTERM to the sweep alone, SIGKILL to the sweep or to one worker. Each ends with the
running points checkpointed, no new point started, sweep.json true, one line and nothing left running.

The machine may be loaded: waits for a state are generous; the bound on the exit is what is asserted."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

SMALL = ["--model", "rnn", "--hidden", "8", "--recall-length", "2", "--set", "test_size=20", "--set",
         "validation_size=20", "--quiet"]
EXIT_SECONDS = 10  # from the signal to the exit: the sweeps took 35-65 s, or hung


def start(args, tmp_path):
    return subprocess.Popen([sys.executable, "-m", "seqmem.cli", *args], start_new_session=True, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(condition, seconds=120, what="the state"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def training(out, n):
    """`n` points hold their lock and have written a first checkpoint: their workers are training."""
    return lambda: len([p for p in out.glob("*/checkpoint.pt") if (p.parent / ".lock").exists()]) >= n


def group_gone(pgid) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def ended(process, seconds=EXIT_SECONDS):
    """The exit code, stderr and the seconds it took; and every process of its group gone soon after."""
    tic = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    took = time.monotonic() - tic
    wait_for(lambda: group_gone(process.pid), 20, "the workers to exit")
    assert took < seconds, f"took {took:.1f} s to exit"
    return process.returncode, stderr


def statuses(out) -> dict:
    return {p["name"]: p["status"] for p in json.loads((out / "sweep.json").read_text())["points"]}


def steps(out) -> dict:
    import torch

    return {p.parent.name: torch.load(p, weights_only=True)["step"] for p in out.glob("*/checkpoint.pt")}


def test_ctrl_c_checkpoints_the_running_point_and_starts_nothing_new(tmp_path):
    out = tmp_path / "sweep"
    process = start(["sweep", "copy-memory", *SMALL, "--steps", "1000000", "--eval-every", "5", "--over", "blank=3,4",
                     "--workers", "1", "--out", str(out)], tmp_path)
    wait_for(training(out, 1), what="a point training")
    os.killpg(process.pid, signal.SIGINT)
    code, stderr = ended(process)
    assert code == 130 and stderr.count("\n") == 1 and "resume" in stderr and "Traceback" not in stderr, stderr
    assert statuses(out) == {"blank=3": "pending", "blank=4": "pending"}
    assert steps(out)["blank=3"] > 0 and not list(out.glob("*/.lock"))
    assert not (out / "blank=4").exists()  # the queued point never started


def test_a_killed_worker_fails_its_point_and_a_killed_sweep_leaves_no_worker(tmp_path):
    out = tmp_path / "sweep"
    process = start(["sweep", "copy-memory", *SMALL, "--steps", "1000000", "--eval-every", "5", "--over",
                     "blank=3,4", "--workers", "1", "--out", str(out)], tmp_path)
    wait_for(training(out, 1), what="a point training")
    victim = "blank=3"
    os.kill(int((out / victim / ".lock").read_text().split()[1]), signal.SIGKILL)
    wait_for(lambda: statuses(out)[victim] == "failed", 30, "the dead worker's point recorded")
    error = json.loads((out / "sweep.json").read_text())
    error = next(p["error"] for p in error["points"] if p["name"] == victim)
    assert "killed by SIGKILL" in error and "run the same command again" in error
    wait_for(lambda: (out / "blank=4" / "checkpoint.pt").exists() and (out / "blank=4" / ".lock").exists(),
             what="the next point trained by a new worker")
    os.kill(process.pid, signal.SIGKILL)  # the sweep alone: its workers must not train on as orphans
    process.wait()
    wait_for(lambda: group_gone(process.pid), EXIT_SECONDS, "the orphaned workers to exit")
    assert not (out / "blank=4" / ".lock").exists()  # the orphan checkpointed and let go of its point
    assert steps(out)["blank=4"] > 0
    assert "leaked semaphore" not in process.stderr.read()  # no process lock left behind by the killed worker


def test_ctrl_c_twice_to_a_horizon_ends_in_one_line_and_the_search_resumes(tmp_path):
    out = tmp_path / "horizon"
    args = ["horizon", "copy-memory", "--models", "rnn", *SMALL[2:], "--steps", "1000000", "--eval-every", "5",
            "--workers", "1", "--out", str(out)]
    process = start(args, tmp_path)
    wait_for(training(out, 1), what="a probe training")
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(1.5)  # a second request, not a copy of the first
    os.killpg(process.pid, signal.SIGINT)
    code, stderr = ended(process)
    assert code == 130 and stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert set(statuses(out).values()) == {"pending"}
    first = steps(out)
    process = start(args, tmp_path)  # the same command goes on from the checkpoint
    wait_for(lambda: any(steps(out)[k] > first[k] for k in first), what="the probe to resume")
    process.send_signal(signal.SIGTERM)
    code, stderr = ended(process)
    assert code == 143 and stderr.count("\n") == 1, stderr


@pytest.mark.parametrize("args, expected", [
    (["--workers", "9223372036854775808"], "--workers must be"),
    (["--workers", "1000000"], "--workers must be"),
    (["--backend", "ray", "--address", "127.0.0.1:1"], "cannot reach"),
    (["--backend", "ray", "--address", "no:such:address"], "--address"),
])
def test_bad_workers_and_ray_addresses_are_refused_within_seconds(tmp_path, capsys, args, expected):
    from seqmem.cli import main

    tic = time.monotonic()
    code = main(["sweep", "copy-memory", *SMALL, "--steps", "2", "--over", "blank=3,4", *args, "--out",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert time.monotonic() - tic < 10 and not (tmp_path / "out").exists()


def test_sigterm_to_a_sweep_on_ray_ends_in_one_line_and_nothing_is_left_running(tmp_path):
    """Ray's driver sets a SIGTERM handler of its own (a stack dump, exit 1); the sweep puts seqmem's back."""
    out = tmp_path / "ray"
    args = ["sweep", "copy-memory", *SMALL, "--steps", "1000000", "--eval-every", "5", "--over", "blank=3,4",
            "--backend", "ray", "--out", str(out)]
    process = start(args, tmp_path)
    wait_for(training(out, 1), what="a point training on Ray")
    process.send_signal(signal.SIGTERM)
    code, stderr = ended(process)
    assert code == 143 and stderr.count("\n") == 1 and "SIGTERM received" not in stderr, stderr
    assert set(statuses(out).values()) == {"pending"}
