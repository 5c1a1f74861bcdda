"""The memory horizon: doubling then bisection finds the largest solved delay; a model that cannot see far
enough has a horizon below its receptive field; the search is a resumable sweep; bad input exits 2."""

import json

import pytest
from in_process import InProcess, seqmem_process

from seqmem.cli import main
from seqmem.config.compose import recipe_config
from seqmem.sweeps.horizon import model_label, next_probe, probe_config, search


def searched(solves, start=1, limit=1024, tolerance=0.0):
    """Run the search's decisions against an oracle; return (largest solved, smallest failed, probes)."""
    lo, hi, probes = 0, None, []
    while (probe := next_probe(lo, hi, start, limit, tolerance)) is not None:
        probes.append(probe)
        lo, hi = (probe, hi) if solves(probe) else (lo, probe)
    return lo, hi, probes


def test_doubling_then_bisection_finds_the_exact_horizon():
    lo, hi, probes = searched(lambda d: d <= 37)
    assert (lo, hi) == (37, 38)
    assert probes[:7] == [1, 2, 4, 8, 16, 32, 64] and len(probes) <= 7 + 5


def test_a_tolerance_stops_bisection_early_and_limits_bound_the_search():
    lo, hi, _ = searched(lambda d: d <= 37, tolerance=0.25)
    assert lo <= 37 < hi and hi - lo <= 0.25 * lo
    assert searched(lambda d: True, limit=100)[:2] == (100, None)  # capped at the limit
    assert searched(lambda d: False, start=4)[:2] == (0, 1)  # nothing solved: horizon 0


BASE = {"task": {"name": "echo-letters", "seq_length": 24, "test_size": 100, "validation_size": 100},
        "model": {"name": "gru"},
        "train": {"steps": 200, "eval_every": 100, "lr": 1e-2, "clip": 1.0}}  # the GRU solves delay 3 by step 200
SHORT_TCN = {"name": "tcn", "levels": 1, "kernel_size": 2, "channels": 16, "label": "tcn-rf3"}
SEARCH = {"start": 2, "limit": 3, "target": 0.9, "tolerance": 0.5, "progress": False, "say": lambda *_: None}


@pytest.fixture(scope="module")
def horizon(tmp_path_factory):
    out = tmp_path_factory.mktemp("horizon") / "search"
    result = search(BASE, [{"name": "gru", "hidden": 32}, SHORT_TCN], [0], out, InProcess(), **SEARCH)
    return out, result


def test_a_model_cannot_remember_past_what_it_sees(horizon):
    """The TCN sees 3 steps (delay 2 at most): its horizon stays there, while the GRU's goes past it."""
    out, result = horizon
    assert result["models"]["tcn-rf3"]["max"] <= 2
    assert result["models"]["gru-32"]["min"] > 2
    assert json.loads((out / "horizon.json").read_text()) == json.loads(json.dumps(result))
    index = json.loads((out / "sweep.json").read_text())
    assert {p["settings"]["task.delay"] for p in index["points"]} == {2, 3}


def test_a_rerun_replays_the_finished_probes(horizon, capsys):
    out, result = horizon
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    again = search(BASE, [{"name": "gru", "hidden": 32}, SHORT_TCN], [0], out, InProcess(), **SEARCH)
    assert again == result
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    assert main(["report", str(out)]) == 0
    assert "memory horizon" in capsys.readouterr().out


def test_a_search_builds_each_point_once(horizon, monkeypatch):
    """Every round plans every point so far; only the new ones are built (a build makes the task's data)."""
    import seqmem.run.build

    out, result = horizon
    builds, build = [], seqmem.run.build.build
    monkeypatch.setattr(seqmem.run.build, "build", lambda config: builds.append(config) or build(config))
    assert search(BASE, [{"name": "gru", "hidden": 32}, SHORT_TCN], [0], out, InProcess(), **SEARCH) == result
    points = json.loads((out / "sweep.json").read_text())["points"]
    assert len(points) > 2 and len(builds) == len(points)


def test_each_method_trains_its_own_probes_and_keeps_the_recipes_options():
    """`--methods bptt,target-prop` on the target-prop recipe: the BPTT probes start its options afresh, the
    target-prop probes keep the recipe's."""
    base = recipe_config("seed-copy-tp")
    tp, bp = ({"name": "rnn", "method": m} for m in ("target-prop", "bptt"))
    assert (model_label(tp), model_label(bp)) == ("rnn-target-prop", "rnn-bptt")
    tp_config, bp_config = (probe_config(base, spec, "task.blank", 7, 1, []) for spec in (tp, bp))
    assert tp_config.method == {**base["method"], "name": "target-prop"} and bp_config.method == {"name": "bptt"}
    assert tp_config.task["blank"] == bp_config.task["blank"] == 7 and tp_config.train == bp_config.train


@pytest.mark.parametrize("args, expected", [
    (["--key", "frobs"], "has no setting 'frobs'"),
    (["--key", "model.hidden"], "has no setting 'hidden'"),
    (["--steps", "0"], "steps must be an integer >= 1, got 0"),
    (["--steps", "5", "--max-seconds", "0"], "max_seconds must be > 0"),
    (["--steps", "5", "--start", "0"], "--start must be an integer >= 1"),
    (["--steps", "5", "--models", "gru,gru"], "two models share the label 'gru'"),
    (["--steps", "5", "--methods", "bptt,nope"], "unknown method"),
])
def test_bad_horizon_input_exits_2_before_anything_runs(tmp_path, capsys, args, expected):
    """In-process (the command line's own exit path is pinned once, below)."""
    argv = ["horizon", "copy-memory", "--models", "gru", *args, "--out", str(tmp_path / "out")]
    if argv.count("--models") > 1:
        argv[2:4] = []
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "out").exists()


def test_bad_horizon_input_from_the_shell_is_one_line_and_exit_2(tmp_path):
    argv = ["horizon", "copy-memory", "--models", "gru", "--key", "frobs", "--out", str(tmp_path / "out")]
    done = seqmem_process(*argv)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "has no setting 'frobs'" in done.stderr
    assert not (tmp_path / "out").exists()
