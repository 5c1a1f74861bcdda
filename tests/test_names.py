"""Point folder names: one safe component each, unique and the same on every rerun; names a user gives that
cannot be one are refused before anything runs, and nothing is written outside --out."""

import json
import os

import pytest
from in_process import InProcess

from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.sweeps.horizon import search
from seqmem.sweeps.point_names import MAX_BYTES, folder_name, inside
from seqmem.sweeps.sweep import grid, name_points

BASE = {"task": {"name": "copy-memory", "blank": 2, "recall_length": 2, "test_size": 8, "validation_size": 8},
        "model": {"name": "rnn", "hidden": 4}, "train": {"steps": 2, "eval_every": 2}}


def test_long_names_keep_a_prefix_and_a_hash_of_the_whole_name():
    long = "x" * 300
    assert folder_name("short") == "short"
    cut = folder_name(long)
    assert len(cut.encode()) == MAX_BYTES and cut.startswith("x" * 200) and cut == folder_name(long)
    assert folder_name(long + "y") != cut  # unique: the hash is of the whole name
    wide = folder_name("\u00e9" * 200)  # two bytes a character: never cut in half
    assert len(wide.encode()) <= MAX_BYTES and wide.encode().decode() == wide


@pytest.mark.parametrize("name", [".", "..", "sweep.json", "a/b", "../../outside/escaped", "/abs/path", "a\0b",
                                  ".hidden", "", "tab\there"])
def test_a_name_that_cannot_be_a_folder_is_refused(name):
    with pytest.raises(ConfigError, match="cannot name a folder"):
        folder_name(name)
    assert not inside(name)


def test_a_grid_of_long_values_gets_short_stable_distinct_names():
    over = {"data_seed": ["1234567890123456789", "1234567890123456788"], "lr": ["0.0012345678901234567", "0.1"],
            "seed": ["1234567890123456789", "1"], "clip": ["1.2345678901234567", "2.5"],
            "weight_decay": ["0.00012345678901234567", "0"], "max_seconds": ["12345.678901234567", "1e6"],
            "eval_batch_size": ["123456789012345678", "8"], "eval_every": ["1234567890123456789", "2"],
            "steps": ["123456789012345", "2"]}
    names = [p.name for p in name_points(grid(BASE, over))]
    assert max(len(n) for n in names) == MAX_BYTES  # some had to be cut
    assert names == [p.name for p in name_points(grid(BASE, over))] and len(set(names)) == len(names) == 512
    assert all(len(n.encode()) <= MAX_BYTES and inside(n) for n in names)


def sweep_file(tmp_path, name) -> str:
    path = tmp_path / "points.py"
    path.write_text(f"base = {BASE!r}\nconfigs = [dict(base, name={name!r})]\n")
    return str(path)


@pytest.mark.parametrize("name", [".", "..", "sweep.json", "a\0b", "../../outside/escaped", "/abs/path"])
def test_a_sweep_file_name_that_cannot_be_a_folder_is_refused_up_front(tmp_path, capsys, name):
    code = main(["sweep", sweep_file(tmp_path, name), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot name a folder" in err and "config 1" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points.py"]  # nothing written, in --out or beside it


def test_a_300_character_sweep_file_name_runs_and_reruns(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("seqmem.sweeps.sweep.make_backend", lambda *args: InProcess())
    args = ["sweep", sweep_file(tmp_path, "n" * 300), "--out", str(tmp_path / "out"), "--quiet"]
    assert main(args) == 0 and main(args) == 0
    assert "1 of 1 points done" in capsys.readouterr().out
    (folder,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert len(folder.name.encode()) == MAX_BYTES and (folder / "summary.json").exists()


def test_a_symlinked_point_folder_is_refused_and_its_target_untouched(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    os.symlink(elsewhere, tmp_path / "out" / "p")
    code = main(["sweep", sweep_file(tmp_path, "p"), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "symbolic link" in err, err
    assert list(elsewhere.iterdir()) == []


def test_a_horizon_label_cannot_lead_out_of_the_folder(tmp_path):
    with pytest.raises(ConfigError, match="cannot name a folder"):
        search(BASE, [{"name": "rnn", "label": "../../escaped"}], [0], tmp_path / "out", InProcess(), limit=2,
               progress=False)
    assert list(tmp_path.iterdir()) == []


def test_report_skips_an_index_entry_that_names_a_folder_outside(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("seqmem.sweeps.sweep.make_backend", lambda *args: InProcess())
    out = tmp_path / "out"
    assert main(["sweep", sweep_file(tmp_path, "p"), "--out", str(out), "--quiet"]) == 0
    index = json.loads((out / "sweep.json").read_text())
    index["points"].append({**index["points"][0], "name": "../.."})
    (out / "sweep.json").write_text(json.dumps(index))
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    captured = capsys.readouterr()
    assert "sweep.json" in captured.err and captured.err.count("\n") == 1 and "../.." not in captured.out


def test_a_horizon_probe_the_task_refuses_counts_as_not_solved(tmp_path):
    """echo-letters refuses a delay >= seq_length: that probe fails, and the search goes on below it."""
    base = {"task": {"name": "echo-letters", "seq_length": 6, "test_size": 8, "validation_size": 400},
            "model": {"name": "rnn", "hidden": 4}, "train": {"steps": 1, "eval_every": 1}}
    said = []
    result = search(base, ["rnn"], [0], tmp_path / "out", InProcess(), start=4, limit=64, target=1e-9,
                    progress=False, say=said.append)
    assert result["models"]["rnn"]["mean"] < 6 and any("delay=8,seed=0: refused" in line for line in said), said
