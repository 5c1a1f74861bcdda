"""Progress where no terminal is: plain timed lines (done of total, failed, elapsed, the time left) in a log, a
bar only on a terminal, nothing with --quiet."""

import io

from seqmem.cli import main
from seqmem.run.progress import Progress, duration


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_without_a_terminal_it_prints_plain_lines_with_the_time_left(monkeypatch):
    monkeypatch.setenv("SEQMEM_PROGRESS_SECONDS", "0")
    log = io.StringIO()
    bar = Progress(4, desc="sweep x", unit="point", stream=log)
    bar.running = 2
    bar.update()
    bar.running = None
    bar.update(failed=True)
    bar.update(2)
    lines = log.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("sweep x: 1/4 points done (2 running), ") and "elapsed, about " in lines[0]
    assert lines[1].startswith("sweep x: 2/4 points done (1 failed), ")
    assert lines[2].startswith("sweep x: 4/4 points done (1 failed), ") and "left" not in lines[2]


def test_lines_come_at_most_every_interval_and_the_last_always(monkeypatch):
    monkeypatch.setenv("SEQMEM_PROGRESS_SECONDS", "3600")
    log = io.StringIO()
    bar = Progress(3, desc="train", stream=log)
    bar.update()
    bar.update()
    assert log.getvalue() == ""
    bar.update()
    assert log.getvalue().startswith("train: 3/3 steps done")


def test_on_a_terminal_it_is_a_bar_and_disabled_it_is_silent():
    terminal = Terminal()
    bar = Progress(2, desc="sweep x", unit="point", stream=terminal)
    bar.update(2)
    bar.close()
    assert bar.bar is not None and "2/2" in terminal.getvalue() and "done" not in terminal.getvalue()
    log = io.StringIO()
    quiet = Progress(2, stream=log, enabled=False)
    quiet.update(2)
    assert log.getvalue() == "" and quiet.bar is None


def test_a_sweep_piped_to_a_file_says_where_it_is(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEQMEM_PROGRESS_SECONDS", "0")
    base = ["sweep", "copy-memory", "--models", "rnn", "--seeds", "2", "--steps", "2", "--blank", "3",
            "--recall-length", "2", "--hidden", "4", "--workers", "1", "--set", "task.test_size=4",
            "--set", "task.validation_size=4"]
    assert main([*base, "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert "sweep s: 1/2 points done" in err and "sweep s: 2/2 points done" in err
    assert main([*base, "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert "points done" not in capsys.readouterr().err


def test_durations_read_as_a_person_writes_them():
    assert [duration(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]


def test_a_notebooks_output_is_a_terminal_and_ipykernel_merely_loaded_is_not(monkeypatch):
    import sys
    import types

    from seqmem.run.progress import on_terminal

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))  # loaded by an earlier import
    assert not on_terminal(io.StringIO())
    cell = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})()
    assert on_terminal(cell)
