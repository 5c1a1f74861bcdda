"""Random values thrown at every flag of every command: each ends in a valid run or a clean refusal (one
line, exit 2, nothing written), never a traceback. The sweep and horizon points run in this process, so
hundreds of cases take seconds."""

import math
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from in_process import InProcess

from seqmem.cli import build_parser, main
from seqmem.sweeps import sweep as sweep_module

VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1", "2", "-0", "1e999", "-1e999", "nan", "inf", "-inf", "1e-30", "0.5", "1.5",
                     "9" * 30, "-" + "9" * 30, "", " ", "x", "true", "none", "null", "3,4", "../..", "/dev/null",
                     "tcn", "rnn", "bptt", "tbptt", "target-prop", "adam", "sgd", "onehot", "digits", "a=b",
                     "task.blank=3", "blank=2,3", "\u00e9", "0x10", "1_000", "{run}", "{run}/checkpoint.pt",
                     "{run}/config.json", "{run}/summary.json", "{run}/metrics.jsonl", "{run}/page.html",
                     "{run}/../sweep.json"]),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)


def flags(verb: str) -> list[str]:
    return sorted(o for o in build_parser().verbs[verb].flags if o.startswith("--") and o != "--help")


BASES = {
    "train": ["train", "copy-memory", "--model", "rnn", "--hidden", "4", "--blank", "2", "--recall-length", "2",
              "--set", "test_size=8", "--set", "validation_size=8", "--steps", "2", "--quiet"],
    "sweep": ["sweep", "copy-memory", "--model", "rnn", "--hidden", "4", "--blank", "2", "--recall-length", "2",
              "--set", "test_size=8", "--set", "validation_size=8", "--steps", "2", "--over", "seed=1,2",
              "--workers", "1", "--quiet"],
    "horizon": ["horizon", "copy-memory", "--models", "rnn", "--hidden", "4", "--recall-length", "2", "--set",
                "test_size=8", "--set", "validation_size=8", "--steps", "2", "--limit", "2", "--workers", "1",
                "--quiet"],
    "report": ["report"],
    "demo": ["demo"],
}
SUITE = Path(tempfile.mkdtemp(prefix="seqmem-fuzz-")) / "tiny.toml"  # a profile of one run of two updates
SUITE.write_text("""params = 400
budget = 2
seeds = 1
[grid]
lr = [1e-2]
[train]
batch_size = 8
[[tasks]]
name = "copy-memory"
key = "blank"
values = [2]
settings = { recall_length = 2, test_size = 8, validation_size = 8 }
""")
BASES["bench"] = ["bench", "rnn", "--suite", str(SUITE), "--workers", "1", "--quiet"]
CASES = [(verb, flag) for verb in BASES for flag in flags(verb) if flag not in ("--out", "--backend", "--address")]
SMALL_ENOUGH = {"--hidden": 64, "--steps": 20, "--epochs": 1, "--batch-size": 64, "--eval-batch-size": 64,
                "--blank": 50, "--recall-length": 20, "--alphabet": 50, "--levels": 6, "--channels": 64,
                "--kernel-size": 16, "--layers": 3, "--embedding-dim": 64, "--train-size": 200, "--seq-length": 50,
                "--series-length": 200, "--streams": 10, "--test-streams": 10, "--validation-streams": 10,
                "--validation-size": 200, "--test-size": 200, "--eval-every": 1000, "--seeds": 2, "--limit": 4,
                "--max-delay": 20, "--delay": 20, "--echo-step": 50, "--start": 4, "--chunk-length": 50,
                "--warmup-steps": 20, "--max-seconds": 5, "--threads": 2, "--workers": 2, "--index": 10,
                "--budget": 20, "--params": 5000}


DURATIONS = {"--steps", "--epochs", "--seeds", "--limit", "--start", "--warmup-steps", "--max-seconds", "--threads",
             "--workers", "--index", "--eval-every", "--budget", "--params"}


def affordable(flag: str, value: str) -> bool:
    """Valid but large values run for real; keep them to what runs in a moment. A huge size is kept: the
    memory check must refuse it; a huge duration is a valid request that would simply run long."""
    if flag not in SMALL_ENOUGH:
        return True
    try:
        number = float(value)
    except ValueError:
        return True
    if not math.isfinite(number) or number >= 2**63 or number <= SMALL_ENOUGH[flag]:
        return True
    return flag not in DURATIONS and number >= 1e9


@pytest.fixture
def run_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzzrun") / "run"
    assert main([*BASES["train"], "--out", str(path)]) == 0
    return path


@settings(max_examples=500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), value=VALUES)
def test_every_flag_takes_a_value_cleanly(case, value, run_folder, finished_run, capsys, monkeypatch):
    verb, flag = case
    assume(affordable(flag, value))  # an unaffordable draw counts as rejected, not as passed
    monkeypatch.setattr(sweep_module, "make_backend", lambda *args: InProcess())
    monkeypatch.chdir(run_folder)  # a value taken as a file name (--html, --csv, --figures) lands here
    out = run_folder / f"out{abs(hash((verb, flag, value)))}"
    value = value.replace("{run}", str(finished_run))  # an output named inside the run a report reads
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in finished_run.iterdir()}
    args = [*BASES[verb], flag, value]
    if verb in ("train", "sweep", "horizon", "bench"):
        args += ["--out", str(out)]
    elif verb in ("report", "demo"):
        args.insert(1, str(finished_run))
    try:
        code = main(args)
    except SystemExit as e:  # --help-like flags print and exit 0
        code = e.code
    finally:
        torch.set_num_threads(1)  # a --threads value must not slow the tests after this one
    captured = capsys.readouterr()
    assert code in (0, 1, 2), (args, code, captured.err)
    if code == 2:
        assert captured.err.count("\n") == 1 and captured.err.startswith("seqmem: error: "), (args, captured.err)
        assert not out.exists(), (args, "a refused command wrote", sorted(p.name for p in out.iterdir()))
    if code == 1:
        assert "diverged" in captured.err or "failed" in captured.out, (args, captured.out, captured.err)
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in finished_run.iterdir()}
    assert after == before, (args, "the run a report or demo reads was written to")


NAMES = st.one_of(
    st.sampled_from([".", "..", "sweep.json", "horizon.json", "../../outside/escaped", "/abs/path", "a\0b", "~", "-",
                     ".hidden", "$HOME", "a b", "CON", "x" * 300, "\u00e9" * 200, "=,=", "\\\\server\\share"]),
    st.text(min_size=1, max_size=300),
)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=NAMES)
def test_every_sweep_file_name_runs_inside_out_or_is_refused(name, run_folder, capsys, monkeypatch):
    """A point's name from a sweep file: its run lands in one folder directly under --out (at most 255 bytes),
    or the sweep is refused in one line before anything is written; nothing is ever written beside --out."""
    monkeypatch.setattr(sweep_module, "make_backend", lambda *args: InProcess())
    case = run_folder / f"case{abs(hash(name))}"
    case.mkdir()
    base = {"task": {"name": "copy-memory", "blank": 2, "recall_length": 2, "test_size": 8, "validation_size": 8},
            "model": {"name": "rnn", "hidden": 4}, "train": {"steps": 1, "eval_every": 1}}
    (case / "points.py").write_text(f"configs = [dict({base!r}, name={name!r})]\n")
    code = main(["sweep", str(case / "points.py"), "--out", str(case / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert sorted(p.name for p in case.iterdir()) in (["points.py"], ["out", "points.py"])
    if code == 2:
        assert captured.err.count("\n") == 1 and "cannot name a folder" in captured.err, captured.err
        assert not (case / "out").exists()
        return
    assert code == 0, captured
    folders = [p for p in (case / "out").iterdir() if p.is_dir()]
    assert len(folders) == 1 and len(folders[0].name.encode()) <= 255 and (folders[0] / "summary.json").exists()
