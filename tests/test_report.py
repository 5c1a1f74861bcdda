"""The report: a sweep's table grouped by its axes with spreads over seeds, CSV with the same numbers, and a
self-contained page whose every image loads in headless Chromium."""

import csv
import json
import re
import shutil
import subprocess
import sys

import pytest

from seqmem.cli import main
from seqmem.page import write_page
from seqmem.report import collect
from seqmem.sweep import ProcessPool, grid, name_points, run_sweep

BASE = {"task": {"name": "echo-letters", "seq_length": 10, "test_size": 60, "validation_size": 60},
        "model": {"name": "rnn"},
        "train": {"steps": 30, "eval_every": 10, "lr": 1e-2}}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two models, two delays, two seeds: eight tiny runs."""
    out = tmp_path_factory.mktemp("report") / "sweep"
    points = name_points(grid(BASE, {"model.name": ["rnn", "gru"], "delay": [1, 3]}, [0, 1], [("model.hidden", 8, "")]))
    run_sweep(points, out, ProcessPool(2), progress=False)
    return out


def test_the_table_groups_by_the_axes_with_the_spread_over_seeds(sweep, capsys):
    assert main(["report", str(sweep)]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[1].split()
    assert head[:4] == ["delay", "model", "runs", "steps"] and "memoryless" in lines[1]
    rows = [line for line in lines[3:] if line.strip()]
    assert len(rows) == 4 and all(row.split()[2] == "2" for row in rows)
    index = json.loads((sweep / "sweep.json").read_text())
    losses = sorted(p["summary"]["loss"] for p in index["points"]
                    if p["settings"]["model.name"] == "gru" and p["settings"]["task.delay"] == 3)
    row = next(r for r in rows if r.split()[:2] == ["3", "gru"])
    mean = (losses[0] + losses[1]) / 2
    assert f"{mean:.4f} ({losses[0]:.4f}..{losses[1]:.4f})" in row  # the spread is the seeds' own min and max


def test_csv_holds_the_same_numbers_unformatted(sweep, tmp_path):
    assert main(["report", str(sweep), "--csv", str(tmp_path / "t.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert len(rows) == 4
    index = json.loads((sweep / "sweep.json").read_text())
    for row in rows:
        runs = [p["summary"] for p in index["points"] if p["settings"]["model.name"] == row["model.name"]
                and str(p["settings"]["task.delay"]) == row["task.delay"]]
        values = [r["recall_accuracy"] for r in runs]
        assert float(row["recall_accuracy"]) == pytest.approx(sum(values) / 2)
        assert float(row["recall_accuracy min"]) == min(values)
        assert float(row["baseline.recall_accuracy"]) == pytest.approx(1 / 26)


def test_the_page_embeds_every_figure(sweep, tmp_path):
    page = write_page(tmp_path / "report.html", [collect(sweep)]).read_text()
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert images == ["recall by delay", "learning curves", "recall by seconds"]
    assert "http" not in page.replace("<!doctype html>", "")  # nothing to fetch: the page stands alone


def test_figures_can_be_written_as_png_files(sweep, tmp_path, capsys):
    assert main(["report", str(sweep), "--figures", str(tmp_path / "figs")]) == 0
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == ["sweep-learning-curves.png", "sweep-recall-by-delay.png", "sweep-recall-by-seconds.png"]
    assert all((tmp_path / "figs" / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)


def test_a_list_of_unrelated_runs_is_reported_one_run_a_row(tmp_path):
    """A suite: runs with nothing in common to group by; the page still draws their curves."""
    points = name_points(grid(BASE, {"model.name": ["rnn", "gru"]}, None))
    run_sweep(points, tmp_path / "suite", ProcessPool(2), progress=False, keys=[])
    section = collect(tmp_path / "suite")
    assert section.by is None and sorted(r["run"] for r in section.records) == ["model=gru", "model=rnn"]
    page = write_page(tmp_path / "report.html", [section]).read_text()
    assert re.findall(r'<img alt="([^"]+)"', page) == ["learning curves", "recall by seconds"]
    assert page.count("<td class=label>model=") == 2


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed and `make test` could not install it (apt-get install chromium)")
    return path


HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROBE = ("<script>addEventListener('load', () => { const all = [...document.images]; document.title = "
         "'loaded ' + all.filter(i => i.complete && i.naturalWidth > 0).length + ' of ' + all.length; });</script>")


def test_the_page_renders_in_headless_chromium_with_every_image_loaded(sweep, tmp_path):
    browser = chromium()
    page = write_page(tmp_path / "report.html", [collect(sweep)])
    probe = tmp_path / "probe.html"  # the report itself runs no script; a copy carries the check
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    common = [browser, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    done = subprocess.run([*common, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    assert "<title>loaded 3 of 3</title>" in done.stdout, done.stderr[-2000:]
    shot = tmp_path / "report.png"  # kept out of the repository: it lives in the test's own folder
    subprocess.run([*common, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000


@pytest.mark.parametrize("args, expected", [
    (["report", "{empty}"], "no finished runs (summary.json) under"),
    (["report", "{missing}"], "does not exist"),
    (["report", "{sweep}", "--html", "{empty}"], "is a folder: give a file name"),
])
def test_bad_report_input_exits_2_in_one_line(sweep, tmp_path, args, expected):
    (tmp_path / "empty").mkdir()
    names = {"empty": tmp_path / "empty", "missing": tmp_path / "missing", "sweep": sweep}
    args = [a.format(**names) for a in args]
    done = subprocess.run([sys.executable, "-m", "seqmem.cli", *args], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and expected in done.stderr


def test_choose_keeps_the_value_with_the_best_mean_validation_recall(sweep, capsys):
    """A tuning axis reported as its tuned result: per model, the delay whose runs' mean validation recall is
    highest (test scores never read), beside the full grid."""
    assert main(["report", str(sweep), "--choose", "delay"]) == 0
    out = capsys.readouterr().out
    chosen = out.split("chosen on validation recall:")[1].splitlines()
    rows = [line.split() for line in chosen[3:] if line.strip()]
    index = json.loads((sweep / "sweep.json").read_text())
    for model in ("rnn", "gru"):
        def valid(delay, model=model):
            runs = [p["summary"]["valid_recall_accuracy"] for p in index["points"]
                    if p["settings"]["model.name"] == model and p["settings"]["task.delay"] == delay]
            return sum(runs) / len(runs)
        best = max([1, 3], key=valid)
        assert [r[:3] for r in rows if r[1] == model] == [[str(best), model, "2"]]


def test_choose_refuses_a_key_that_is_not_an_axis(sweep, capsys):
    assert main(["report", str(sweep), "--choose", "train.lr"]) == 2
    err = capsys.readouterr().err
    assert "--choose train.lr: it is not an axis of this sweep" in err and "Traceback" not in err
