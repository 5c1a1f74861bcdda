"""The notebooks of examples/ run end to end, on a small budget, in a kernel of this environment's Python, so
they never fall behind the package. Each runs with a cell before it that counts the optimizer updates and the
PyTorch threads each ran on, and a cell after it that reports what the notebook left (JSON on one line)."""

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = ["01-reproduce-a-seed", "02-compare-models", "03-bring-your-own-model"]
STEPS = 20  # SEQMEM_NOTEBOOK_STEPS: updates a run (two evaluations: the notebooks evaluate every tenth, at least 10 apart)
KERNEL = "seqmem-tests"
FIRST_USE = "Matplotlib is building the font cache"  # once on a new machine: the only stderr line allowed

BEFORE = """
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook
_kernel_threads, _update_threads = torch.get_num_threads(), []
register_optimizer_step_pre_hook(lambda *_: _update_threads.append(torch.get_num_threads()))
"""

AFTER = """
import json
print("REPORT", json.dumps({"kernel_threads": _kernel_threads, "threads_now": torch.get_num_threads(),
                            "update_threads": sorted(set(_update_threads)), "updates": len(_update_threads), %s}))
"""

REPORTS = {  # what each notebook's report adds
    "01-reproduce-a-seed": '"summary": summary',
    "02-compare-models": '"columns": list(df.columns), "rows": df.to_dict("records"), "table_index": list(table.index), '
                         '"table_columns": [list(c) for c in table.columns]',
    "03-bring-your-own-model": '"checks": checks, "rows": df.to_dict("records")',
}


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernel spec that starts this interpreter (the venv's), found through JUPYTER_PATH."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("kernel")
    install(kernel_name=KERNEL, prefix=str(prefix))
    spec = json.loads((prefix / "share/jupyter/kernels" / KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    return prefix / "share/jupyter"


def run(name: str, kernel: Path, cwd: Path, monkeypatch) -> tuple[nbformat.NotebookNode, dict]:
    """The notebook executed in `cwd` (its runs go there), and its report."""
    book = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    book.cells.insert(0, new_code_cell(BEFORE))
    book.cells.append(new_code_cell(AFTER % REPORTS[name]))
    monkeypatch.setenv("JUPYTER_PATH", str(kernel))
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # seqmem's own choice of threads, tested
    env["SEQMEM_NOTEBOOK_STEPS"] = str(STEPS)
    client = NotebookClient(book, kernel_name=KERNEL, timeout=120, resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env)  # raises CellExecutionError, naming the cell, on any error
    outputs = [o for cell in book.cells[1:-1] for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = [line for o in outputs if o.output_type == "stream" and o.name == "stderr"
              for line in o.text.splitlines() if line.strip() and not line.startswith(FIRST_USE)]
    assert not stderr, f"{name} wrote to stderr (a warning, or a progress bar drawn as text): {stderr}"
    report = stdout(book.cells[-1])
    assert report.startswith("REPORT ")
    return book, json.loads(report.removeprefix("REPORT "))


def stdout(cell) -> str:
    return "".join(o.text for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == "stdout")


def cell_with(book, text: str):
    return next(cell for cell in book.cells if cell.cell_type == "code" and text in cell.source)


def images(book) -> int:
    return sum("image/png" in o.get("data", {}) for cell in book.cells for o in cell.get("outputs", []))


def assert_trained_on_one_thread(report: dict, updates: int) -> None:
    """Every update the kernel ran was on one thread, and the kernel's own setting was given back."""
    assert report["updates"] == updates
    assert report["update_threads"] == ([1] if updates else [])
    assert report["threads_now"] == report["kernel_threads"]


def test_reproduce_a_seed(kernel, tmp_path, monkeypatch):
    book, report = run("01-reproduce-a-seed", kernel, tmp_path, monkeypatch)
    assert_trained_on_one_thread(report, STEPS)
    summary = report["summary"]
    assert summary["steps"] == STEPS and summary["task"] == "echo-letters" and summary["model"] == "gru"
    assert (tmp_path / "runs/notebooks" / f"echo-letters-gru-{STEPS}" / "summary.json").exists()
    line = re.fullmatch(r"recall accuracy (\S+) \(memoryless (\S+)\) after (\d+) updates\n",
                        stdout(cell_with(book, "recall accuracy")))
    assert line, stdout(cell_with(book, "recall accuracy"))
    recall, memoryless, steps = float(line[1]), float(line[2]), int(line[3])
    assert 0 <= recall <= 1 and recall == pytest.approx(summary["recall_accuracy"], abs=1e-4)
    assert memoryless == pytest.approx(1 / 26, abs=1e-4) and steps == STEPS
    demo = stdout(cell_with(book, "demo_lines")).splitlines()
    assert [line.split()[0] for line in demo] == ["input", "target", f"runs/notebooks/echo-letters-gru-{STEPS}"]
    width = len(demo[2].split()[0]) + 2
    answers = [line[width:] for line in demo]
    assert answers[:2] == ["thequickbrownfoxjumps", "    thequickbrownfoxj"]
    assert re.fullmatch("[a-z ]{21}", answers[2].ljust(21))  # one letter or blank a step (trailing blanks trimmed)


def test_compare_models(kernel, tmp_path, monkeypatch):
    book, report = run("02-compare-models", kernel, tmp_path, monkeypatch)
    assert_trained_on_one_thread(report, 0)  # the sweep trains in its worker processes, not in the kernel
    for column in ["model.name", "train.seed", "recall_accuracy", "baseline.recall_accuracy", "train.steps"]:
        assert column in report["columns"]
    rows = report["rows"]
    assert sorted((r["model.name"], r["train.seed"]) for r in rows) == [(m, s) for m in ("gru", "lstm", "rnn")
                                                                         for s in (0, 1)]
    assert all(r["train.steps"] == STEPS and 0 <= r["recall_accuracy"] <= 1 for r in rows)
    assert sorted(report["table_index"]) == ["gru", "lstm", "rnn"]
    assert report["table_columns"] == [["recall_accuracy", "mean"], ["recall_accuracy", "std"],
                                       ["baseline.recall_accuracy", "mean"], ["baseline.recall_accuracy", "std"]]
    assert images(book) == 1


def test_bring_your_own_model(kernel, tmp_path, monkeypatch):
    book, report = run("03-bring-your-own-model", kernel, tmp_path, monkeypatch)
    assert_trained_on_one_thread(report, 2 * STEPS)
    lines = stdout(cell_with(book, "seqmem.check")).splitlines()
    assert len(lines) == len(report["checks"]) >= 5 and all(line.startswith("pass ") for line in lines)
    assert any("causal" in line for line in lines) and any("two chunks" in line for line in lines)
    rows = {r["model.name"]: r for r in report["rows"]}
    assert sorted(rows) == ["attention", "gated-conv"]  # the mixer of the notebook's cell beside attention
    assert all(0 <= r["recall_accuracy"] <= 1 and r["train.steps"] == STEPS for r in rows.values())
    assert 0 < rows["gated-conv"]["parameters"] != rows["attention"]["parameters"]
    assert images(book) == 1


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stored_without_outputs_and_saying_what_they_show(name):
    book = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    nbformat.validate(book)
    first = book.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ") and "**Time**" in first.source
    assert "SEQMEM_NOTEBOOK_STEPS" in "".join(cell.source for cell in book.cells if cell.cell_type == "code")
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_readme_lists_every_example():
    readme = (EXAMPLES / "README.md").read_text()
    files = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".ipynb", ".py"))
    assert files == sorted([f"{n}.ipynb" for n in NOTEBOOKS] + ["hold_task.py", "min_gru.py", "my_mixer.py", "noisy_sgd.py"])
    assert [f for f in files if f"[{f}]" not in readme] == []
