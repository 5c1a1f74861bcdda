"""`seqmem report` on damaged files reads what it can and names each damaged file in one line; an output
it cannot write is refused in one line before any work; every value put into the page is escaped."""

import json
import os
import re
import shutil
import stat

import pytest
from in_process import InProcess

from seqmem.cli import main
from seqmem.sweeps.horizon import search

BASE = {"task": {"name": "copy-memory", "blank": 2, "recall_length": 2, "test_size": 8, "validation_size": 8},
        "model": {"name": "rnn", "hidden": 4}, "train": {"steps": 4, "eval_every": 2}}


@pytest.fixture(scope="module")
def horizon(tmp_path_factory):
    """A horizon's folder: two probes (blank 1 and 2), sweep.json, horizon.json, each probe's files."""
    out = tmp_path_factory.mktemp("damage") / "horizon"
    search(BASE, ["rnn"], [0], out, InProcess(), limit=2, target=0.01, progress=False, say=lambda *_: None)
    return out


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def index(change):
    return lambda out: edit_json(out / "sweep.json", change)


def first_summary(change):
    return index(lambda d: change(d["points"][0]["summary"]))


def point_file(name, change):
    return lambda out: (change(out / "model=rnn,blank=1,seed=0" / name))


def lines_of_metrics(change):
    def damage(path):
        lines = path.read_text().splitlines()
        path.write_text("\n".join(change(lines)) + "\n")
    return point_file("metrics.jsonl", damage)


def loose(change):
    def damage(out):
        (out / "sweep.json").unlink()
        edit_json(out / "model=rnn,blank=1,seed=0" / "summary.json", change)
    return damage


DAMAGE = {
    "points missing": (index(lambda d: d.pop("points")), "sweep.json"),
    "points an int": (index(lambda d: d.update(points=3)), "sweep.json"),
    "axes a string": (index(lambda d: d.update(axes="task.blank")), "sweep.json"),
    "axes of numbers": (index(lambda d: d.update(axes=[1])), "sweep.json"),
    "entry a number": (index(lambda d: d["points"].__setitem__(0, 5)), "sweep.json"),
    "entry without a name": (index(lambda d: d["points"][0].pop("name")), "sweep.json"),
    "settings a list": (index(lambda d: d["points"][0].update(settings=[])), "sweep.json"),
    "summary a string": (index(lambda d: d["points"][0].update(summary="x")), "sweep.json"),
    "recall a string": (first_summary(lambda s: s.update(recall_accuracy="high")), "sweep.json"),
    "recall null": (first_summary(lambda s: s.update(recall_accuracy=None)), "sweep.json"),
    "recall missing": (first_summary(lambda s: s.pop("recall_accuracy")), "sweep.json"),
    "loss a string": (first_summary(lambda s: s.update(loss="low")), "sweep.json"),
    "recall NaN": (first_summary(lambda s: s.update(recall_accuracy=float("nan"))), "sweep.json"),
    "loss infinite": (first_summary(lambda s: s.update(loss=float("inf"))), "sweep.json"),
    "loose recall NaN": (loose(lambda s: s.update(recall_accuracy=float("nan"))), "summary.json"),
    "metrics recall infinite": (lines_of_metrics(lambda ls: [ls[0].replace('"recall_accuracy": ', '"recall_accuracy": Infinity, "o": ')] + ls[1:]),
                                "metrics.jsonl"),
    "delay a list": (index(lambda d: d["points"][0]["settings"].update({"task.blank": [1, 2]})), None),
    "delay a string": (index(lambda d: d["points"][0]["settings"].update({"task.blank": "one"})), None),
    "a $ in a label": (index(lambda d: d["points"][0]["settings"].update({"task.blank": "$\\frac{$"})), None),
    "loose recall a string": (loose(lambda s: s.update(recall_accuracy="x")), "summary.json"),
    "loose diverged no": (loose(lambda s: s.update(diverged="no")), "summary.json"),
    "metrics without recall": (lines_of_metrics(lambda ls: [re.sub(r'"recall_accuracy": [^,]*, ', "", ls[0])] + ls[1:]),
                               "metrics.jsonl"),
    "metrics recall a string": (lines_of_metrics(lambda ls: [ls[0].replace('"recall_accuracy": ', '"recall_accuracy": "x", "o": ')] + ls[1:]),
                                "metrics.jsonl"),
    "metrics garbage line": (lines_of_metrics(lambda ls: ["{garbage", *ls]), "metrics.jsonl"),
    "horizon models a list": (lambda out: edit_json(out / "horizon.json", lambda h: h.update(models=[])), "horizon.json"),
    "horizon mean a string": (lambda out: edit_json(out / "horizon.json", lambda h: h["models"]["rnn"].update(mean="x")),
                              "horizon.json"),
    "horizon without a key": (lambda out: edit_json(out / "horizon.json", lambda h: h.pop("key")), "horizon.json"),
    "profile models a list": (lambda out: (out / "profile.json").write_text('{"models": [], "solved_at": 0.99}'),
                              "profile.json"),
    "profile score a string": (lambda out: (out / "profile.json").write_text(json.dumps(
        {"models": {"gru": {"tasks": {}, "score": "high"}}, "solved_at": 0.99, "budget": 1, "target_parameters": 1})),
        "profile.json"),
    "profile not json": (lambda out: (out / "profile.json").write_text("{"), "profile.json"),
    "profile lengths a list": (lambda out: (out / "profile.json").write_text(json.dumps(profile_with_lengths([]))),
                               "profile.json"),
    "profile length's recall a string": (lambda out: (out / "profile.json").write_text(json.dumps(
        profile_with_lengths({"1024": {"recall": "high", "memoryless": 0.5}}))), "profile.json"),
}


def profile_with_lengths(by_length) -> dict:
    """A profile.json of one cell whose scores at other lengths are `by_length`, the rest well formed."""
    spread = {"mean": 0.5, "min": 0.5, "max": 0.5}
    cell = {"setting": 16, "solved": {"0": False}, "test_recall": {"0": 0.5}, "recall_score": {"0": 0.0}, "updates": {"0": None},
            "window": {"solving": 0, "grid": 1}, "memoryless_recall": 0.5, "chosen": {"lr": 0.01}, "by_length": by_length}
    task = {"key": "length", "solved": spread, "test_recall": spread, "memoryless_recall": 0.5, "cells": {"16": cell}}
    return {"suite": "s", "solved_at": 0.99, "budget": 1, "target_parameters": 1,
            "models": {"gru": {"tasks": {"parity": task}, "score": spread, "recall_score": spread}}}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_report_reads_what_it_can_and_names_each_damaged_file(horizon, tmp_path, capsys, case):
    out = tmp_path / "horizon"
    shutil.copytree(horizon, out)
    damage, named = DAMAGE[case]
    damage(out)
    page = tmp_path / "page.html"
    code = main(["report", str(out), "--html", str(page)])
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err, captured.err
    assert "memoryless" in captured.out and page.exists()  # the table is still printed, the page written
    warnings = captured.err.splitlines()
    assert all(w.startswith("seqmem: warning: ") for w in warnings), captured.err
    if named:
        assert len(warnings) == 1 and named in warnings[0], captured.err
    assert not re.search(r"\b(nan|inf)\b", captured.out), captured.out  # never printed as a score


def test_report_refuses_in_one_line_where_nothing_can_be_read(horizon, tmp_path, capsys):
    out = tmp_path / "horizon"
    shutil.copytree(horizon, out)
    (out / "sweep.json").write_text("{")
    for summary in out.glob("*/summary.json"):
        summary.write_text("[]")
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sweep.json" in err and "2 more damaged files" in err, err


def special(tmp_path, kind):
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link":
        (tmp_path / "target").write_text("mine")
        os.symlink(tmp_path / "target", path)
    elif kind == "file":
        path.write_text("a file")
    return path


@pytest.mark.parametrize("flag, where, expected", [
    ("--html", "/dev/null", "is a device"),
    ("--csv", "/dev/stdout", "is a symbolic link"),
    ("--csv", "{fifo}", "is a FIFO"),
    ("--html", "{link}", "is a symbolic link"),
    ("--html", "/proc/report.html", "no file can be written in /proc"),
    ("--html", "{file}/report.html", "is a file, so nothing can be made under it"),
    ("--csv", "{file}/deeper/table.csv", "is a file, so nothing can be made under it"),
    ("--figures", "{file}", "is a file: give a folder"),
    ("--figures", "/proc/figures", "no file can be written in /proc"),
    ("--html", "", "--html is empty"),
    ("--html", "x" * 300 + ".html", "File name too long"),
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(horizon, tmp_path, capsys, flag, where,
                                                                     expected):
    kinds = {k: special(tmp_path, k) for k in ("fifo", "link", "file")}
    where = where.format(**kinds)
    before = {p.name: os.lstat(p).st_mode for p in tmp_path.iterdir()}
    code = main(["report", str(horizon), flag, where])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert {p.name: os.lstat(p).st_mode for p in tmp_path.iterdir()} == before
    assert (tmp_path / "target").read_text() == "mine"


MARKUP = "<script>alert(1)</script>"


def test_every_value_put_into_the_page_is_escaped(horizon, tmp_path, capsys):
    """Markup planted in every file the page reads (the index's names, settings and tags, a summary's strings,
    the horizon's every field) comes out as text."""
    out = tmp_path / "horizon"
    shutil.copytree(horizon, out)

    def plant_index(d):
        for p in d["points"]:
            p["settings"] = {k: f"{v}{MARKUP}" for k, v in p["settings"].items()}
            p["tags"] = {"model": MARKUP, "extra": MARKUP}
            p["summary"].update(task=MARKUP, model=MARKUP, method=MARKUP)

    edit_json(out / "sweep.json", plant_index)
    edit_json(out / "horizon.json", lambda h: h.update(
        key=MARKUP, budget={MARKUP: MARKUP}, models={MARKUP: {**h["models"]["rnn"], "seeds": {MARKUP: 1}}}))
    page = tmp_path / "page.html"
    assert main(["report", str(out), "--html", str(page)]) == 0
    text = page.read_text()
    assert "<script" not in text and "&lt;script&gt;" in text and "Memory horizon" in text
    edit_json(out / "horizon.json", lambda h: h.update(start=MARKUP, limit=MARKUP, target=MARKUP))
    capsys.readouterr()
    assert main(["report", str(out), "--html", str(page)]) == 0
    assert "<script" not in page.read_text() and "horizon.json is damaged" in capsys.readouterr().err
    loose = tmp_path / "loose"  # the loose runs' table: a summary's own strings
    shutil.copytree(out / "model=rnn,blank=1,seed=0", loose / MARKUP.replace("/", "_"))
    edit_json(loose / MARKUP.replace("/", "_") / "summary.json", lambda s: s.update(task=MARKUP, method=MARKUP))
    assert main(["report", str(loose), "--html", str(page)]) == 0
    assert "<script" not in page.read_text()


@pytest.mark.parametrize("flag, target", [
    ("--html", "model=rnn,blank=1,seed=0/checkpoint.pt"),
    ("--output", "model=rnn,blank=1,seed=0/config.json"),
    ("--html", "sweep.json"),
    ("--csv", "model=rnn,blank=1,seed=0/summary.json"),
    ("--output", "horizon.json"),
    ("--html", "model=rnn,blank=1,seed=0/report.html"),  # a new file, but inside a run folder
    ("--figures", "model=rnn,blank=1,seed=0/figures"),
])
def test_a_report_never_writes_over_what_it_reads(horizon, tmp_path, capsys, flag, target):
    out = tmp_path / "horizon"
    shutil.copytree(horizon, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code = main(["report", str(out), "--format", "json", flag, str(out / target)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_report_may_write_beside_the_runs_it_reads(horizon, tmp_path, capsys):
    """The control: a page in the sweep's folder, which is no run's, is written (as `seqmem suite` does)."""
    out = tmp_path / "horizon"
    shutil.copytree(horizon, out)
    assert main(["report", str(out), "--html", str(out / "report.html")]) == 0
    assert (out / "report.html").stat().st_size > 1000


def make_special(path, kind):
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        os.symlink("/dev/zero", path)
    else:  # larger than any run file can be (sparse: nothing is written)
        with open(path, "wb") as f:
            f.truncate(2**30)


@pytest.mark.parametrize("kind", ["fifo", "zero", "huge"])
@pytest.mark.parametrize("name", ["summary.json", "sweep.json", "metrics.jsonl", "horizon.json"])
def test_a_special_or_huge_run_file_is_named_damaged_by_report(horizon, tmp_path, capsys, kind, name):
    out = tmp_path / "horizon"
    shutil.copytree(horizon, out)
    where = out if name in ("sweep.json", "horizon.json") else out / "model=rnn,blank=1,seed=0"
    make_special(where / name, kind)
    if name == "summary.json":  # a sweep's report reads the summaries in sweep.json; loose runs their own
        (out / "sweep.json").unlink()
    code = main(["report", str(out), "--html", str(tmp_path / "page.html")])
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err, captured.err
    warnings = [w for w in captured.err.splitlines() if name in w]
    assert len(warnings) == 1 and "damaged" in warnings[0], captured.err


@pytest.mark.parametrize("kind", ["fifo", "zero", "huge"])
@pytest.mark.parametrize("name", ["config.json", "checkpoint.pt", "summary.json"])
def test_a_special_or_huge_run_file_is_named_damaged_by_demo_and_results(horizon, tmp_path, capsys, kind, name):
    import seqmem

    run = tmp_path / "run"
    shutil.copytree(horizon / "model=rnn,blank=1,seed=0", run)
    make_special(run / name, kind)
    code = main(["demo", str(run)])
    err = capsys.readouterr().err
    if name == "summary.json":  # demo does not read it; results does
        assert code == 0, err
        with pytest.raises(seqmem.ConfigError, match="summary.json is damaged"):
            seqmem.results(run)
        return
    assert code == 2 and err.count("\n") == 1 and name in err and "damaged" in err, err


def test_a_run_folder_whose_name_is_not_utf8_is_reported_everywhere(horizon, tmp_path, capsys):
    runs = tmp_path / "runs"
    shutil.copytree(horizon / "model=rnn,blank=1,seed=0", runs / os.fsdecode(b"r\xff"))
    code = main(["report", str(runs), "--html", str(tmp_path / "page.html"), "--figures", str(tmp_path / "figs"),
                 "--csv", str(tmp_path / "t.csv"), "--format", "json", "--output", str(tmp_path / "rows.json")])
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err, captured.err
    assert "r\ufffd" in (tmp_path / "t.csv").read_text() and "r\ufffd" in (tmp_path / "page.html").read_text()
    assert list((tmp_path / "figs").glob("*.png"))
