"""The README as a test: every command and every Python block on its front page runs, on a small budget, in
the order a reader meets them; every link in the README and in docs/ points at a file that exists."""

import contextlib
import json
import re
from pathlib import Path

import pytest
from in_process import seqmem_main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BUDGET = {"--steps": "40", "--limit": "4", "--seeds": "1"}  # the tour's flags, cut to seconds
SMALL_DATA = ["--set", "task.test_size=60", "--set", "task.validation_size=60"]
TRAINING_VERBS = {"train", "sweep", "horizon", "bench"}


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def commands() -> list[list[str]]:
    lines = [line.strip() for block in blocks(README, "sh") for line in block.splitlines()]
    return [line.split() for line in lines if line and not line.startswith("#")]


def small(argv: list[str]) -> list[str]:
    """The command with its budget cut: BUDGET's flags take their small values, and training reads small
    test and validation sets."""
    out = [BUDGET.get(argv[i - 1], arg) if i else arg for i, arg in enumerate(argv)]
    return out + SMALL_DATA if out[0] in TRAINING_VERBS else out


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """Each front-page command, in order, in a fresh folder beside a link to examples/: `(argv, exit code,
    stdout)` a command, and the folder."""
    folder = tmp_path_factory.mktemp("tour")
    (folder / "examples").symlink_to(ROOT / "examples")
    done = []
    for argv in commands():
        assert argv[0] == "seqmem", f"the README's commands are seqmem's: {' '.join(argv)}"
        ran = seqmem_main(*small(argv[1:]), *(["--quiet"] if argv[1] in TRAINING_VERBS else []), cwd=folder)
        done.append((argv, ran.returncode, ran.stdout))
    return folder, done


def test_the_front_page_is_short_and_its_tour_covers_the_verbs():
    assert len(README.splitlines()) <= 150
    verbs = {argv[1] for argv in commands()}
    assert {"train", "sweep", "report", "horizon", "demo"} <= verbs


def test_every_command_of_the_tour_runs(tour):
    folder, done = tour
    for argv, code, _ in done:
        assert code == 0, f"{' '.join(argv)} exited {code}"
    by_verb = {argv[1]: out for argv, _, out in done}
    assert "echo-letters" in by_verb["tasks"] and "--hidden" in by_verb["models"]
    demo = next(out for argv, _, out in done if argv[1] == "demo").splitlines()
    assert demo[0].split() == ["input", "abcdefgh"] and demo[-1].startswith("runs/tour/gru")
    index = json.loads((folder / "runs/tour/delays/sweep.json").read_text())
    assert len(index["points"]) == 3 * 3 and all(p["status"] == "done" for p in index["points"])
    assert (folder / "runs/tour/report.html").stat().st_size > 10_000
    assert sorted(p.suffix for p in (folder / "runs/tour/figures").iterdir()) == [".png"] * 3
    assert json.loads((folder / "runs/tour/horizon/horizon.json").read_text())["models"]
    assert json.loads((folder / "runs/tour/mine/config.json").read_text())["model"]["name"].endswith(":MinGRU")


def test_the_python_block_runs_after_the_tour(tour, capsys):
    folder, _ = tour
    (code,) = blocks(README, "python")
    code = re.sub(r'"steps": \d+', f'"steps": {BUDGET["--steps"]}', code)
    code = code.replace('"blank": 20}', '"blank": 20, "test_size": 60, "validation_size": 60}')
    with contextlib.chdir(folder):
        exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    scores = re.search(r"^([0-9.]+) ([0-9.]+)$", printed, flags=re.M)  # the summary's recall and the baseline's
    assert scores and 0 <= float(scores[1]) <= 1 and float(scores[2]) == pytest.approx(1 / 8)
    table = printed[scores.end():].split("\n")
    assert {line.split()[0] for line in table if line.split()[-1:] and line.split()[0] in ("rnn", "gru", "lstm")} \
        == {"rnn", "gru", "lstm"}  # the groupby: a row a model (and delay)


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", ["README.md", "examples/README.md",
                                  *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))])
def test_every_link_points_at_a_file(page):
    path = ROOT / page
    targets = [t for t in LINK.findall(path.read_text()) if "://" not in t]
    missing = [t for t in targets if not (path.parent / t).exists()]
    assert not missing, f"{page} links to files that do not exist: {missing}"


def test_the_line_counts_the_docs_quote_for_the_examples_are_the_files_own():
    """`examples/min_gru.py ... in 43 lines`: every such count, in every doc, is the file's length."""
    root = Path(__file__).resolve().parent.parent
    docs = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    pattern = r"(min_gru|hold_task|noisy_sgd)\.py[^|]{0,120}?\bin (\d+) lines"  # within a sentence or a cell
    quoted = [(doc.name, name, int(n)) for doc in docs for name, n in re.findall(pattern, doc.read_text())]
    assert quoted, "no line count found: the pattern no longer matches the docs"
    for doc, name, n in quoted:
        assert n == len((root / "examples" / f"{name}.py").read_text().splitlines()), f"{doc}: {name}.py in {n} lines"
