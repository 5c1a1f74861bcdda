"""`seqmem report --format`: CSV, JSON and JSON lines hold a row a table row with its settings, tags, seeds and
each score's mean, min and max (checked against the runs' own summaries); tags come from a sweep file."""

import csv
import io
import json

import pytest
from in_process import InProcess

from seqmem.cli import main
from seqmem.sweeps.sweep import load_sweep_file, run_sweep

SWEEP_FILE = """
tags = {"benchmark": "formats", "budget": 12}
configs = [{"task": {"name": "echo-letters", "seq_length": 8, "delay": delay, "test_size": 30, "validation_size": 30},
            "model": {"name": "rnn", "hidden": 6}, "train": {"steps": 12, "eval_every": 6, "lr": 1e-2, "seed": seed},
            "tags": {"size": "small" if delay == 1 else "large"}}
           for delay in (1, 2) for seed in (0, 1)]
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Four tiny runs from a sweep file with tags: two delays, two seeds."""
    folder = tmp_path_factory.mktemp("formats")
    (folder / "tagged.py").write_text(SWEEP_FILE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        run_sweep(load_sweep_file(folder / "tagged.py"), folder / "sweep", InProcess(), progress=False)
    return folder / "sweep"


def summaries(sweep, delay):
    index = json.loads((sweep / "sweep.json").read_text())
    return [p["summary"] for p in index["points"] if p["settings"]["task.delay"] == delay]


def report(capsys, *args) -> str:
    capsys.readouterr()
    assert main(["report", *map(str, args)]) == 0
    return capsys.readouterr().out


def test_jsonl_is_a_row_a_group_with_tags_seeds_and_the_spread(sweep, capsys):
    rows = [json.loads(line) for line in report(capsys, sweep, "--format", "jsonl").splitlines()]
    assert [r["task.delay"] for r in rows] == [1, 2]
    for row in rows:
        runs = summaries(sweep, row["task.delay"])
        values = [s["recall_accuracy"] for s in runs]
        assert row["recall_accuracy"] == pytest.approx(sum(values) / 2)
        assert (row["recall_accuracy min"], row["recall_accuracy max"]) == (min(values), max(values))
        assert row["baseline.recall_accuracy"] == pytest.approx(1 / 26) and row["runs"] == 2 and row["seeds"] == [0, 1]
        assert row["benchmark"] == "formats" and row["budget"] == 12  # the file's tags
        assert row["size"] == ("small" if row["task.delay"] == 1 else "large")  # the config's own


def test_json_csv_and_jsonl_hold_the_same_rows(sweep, capsys):
    listed = json.loads(report(capsys, sweep, "--format", "json"))
    lines = [json.loads(line) for line in report(capsys, sweep, "--format", "jsonl").splitlines()]
    table = list(csv.DictReader(io.StringIO(report(capsys, sweep, "--format", "csv"))))
    assert listed == lines and len(table) == 2
    for row, line in zip(table, lines, strict=True):
        assert float(row["loss max"]) == line["loss max"] and row["size"] == line["size"] and row["seeds"] == "0 1"


def test_the_text_table_shows_a_tag_that_varies(sweep, capsys):
    head = report(capsys, sweep).splitlines()[1].split()
    assert head[:3] == ["size", "delay", "runs"]  # `benchmark` is the same everywhere: only in the data formats
    assert report(capsys, sweep, "--markdown") == report(capsys, sweep, "--format", "markdown")


def test_output_writes_the_file_and_says_so(sweep, tmp_path, capsys):
    out = report(capsys, sweep, "--format", "jsonl", "--output", tmp_path / "rows.jsonl")
    assert out.strip() == f"jsonl written to {tmp_path / 'rows.jsonl'}"
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 2


def test_json_on_standard_output_stays_clean_with_the_page(sweep, tmp_path, capsys):
    capsys.readouterr()
    assert main(["report", str(sweep), "--format", "json", "--html", str(tmp_path / "r.html")]) == 0
    done = capsys.readouterr()
    assert len(json.loads(done.out)) == 2 and "report written to" in done.err


def test_an_unwritable_output_is_refused_before_anything_is_read(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["report", str(tmp_path / "missing"), "--format", "json", "--output", str(tmp_path / "file" / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--output" in err and "is a file, so nothing can be made under it" in err


@pytest.mark.parametrize("tags, expected", [
    ("['a']", "`tags` must be a dict of names to values"),
    ("{'a': [1]}", "tag 'a' is a list"),
])
def test_a_sweep_files_bad_tags_are_refused_in_one_line(tmp_path, capsys, tags, expected):
    (tmp_path / "bad.py").write_text(f"tags = {tags}\nconfigs = [{{'task': {{'name': 'echo-letters'}}, "
                                     "'model': {'name': 'rnn'}, 'train': {'steps': 1}}]\n")
    assert main(["sweep", str(tmp_path / "bad.py"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and not (tmp_path / "out").exists()
