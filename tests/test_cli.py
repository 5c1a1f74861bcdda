"""The command line: listings, training into a run directory, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest

from seqmem.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "seqmem.cli", *args], capture_output=True, text=True)


def test_listings_have_one_line_each(capsys):
    assert main(["tasks"]) == 0
    assert "copy-memory" in capsys.readouterr().out
    assert main(["models"]) == 0
    models = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in models} >= {"tcn", "rnn", "gru", "lstm"}
    assert main(["recipes"]) == 0
    assert {"seed-copy-tcn", "copy-tcn-1000"} <= {line.split()[0] for line in capsys.readouterr().out.splitlines()}


def test_train_with_flags_writes_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "copy-memory", "--model", "tcn", "--blank", "4", "--recall-length", "2", "--levels", "3",
                 "--kernel-size", "2", "--channels", "4", "--steps", "6", "--eval-every", "3", "--set", "test_size=50",
                 "--set", "train.lr=0.01", "--out", str(out), "--quiet"])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["task"]["blank"] == 4 and config["task"]["test_size"] == 50 and config["train"]["lr"] == 0.01
    assert config["model"]["kernel_size"] == 2
    printed = capsys.readouterr().out
    table = [line for line in printed.splitlines() if line.startswith("run ")][0].split()
    assert table[4:7] == ["recall", "memoryless", "solved"]  # what decides comes first
    evaluations = [line.split()[1] for line in printed.splitlines() if line.startswith("step ")]
    assert evaluations == ["3", "6"]  # --quiet hides the bar, not the evaluation lines
    assert json.loads((out / "summary.json").read_text())["steps"] == 6


@pytest.mark.parametrize(
    "args,expected",
    [
        (["train", "--recipe", "seed-copy-tcn"], "receptive field 3571 < 10020 steps: use --levels 10 (14323)"),
        (["train", "copy-memory", "--model", "tcn", "--levls", "3"], "unrecognized arguments: --levls 3"),
        (["train", "copy-memory", "--model", "tcn", "--lev", "3"], "unrecognized arguments: --lev 3"),
        (["train", "copy-memory", "--model", "tcn", "--hidden", "3"], "no setting 'hidden'"),
        (["train", "copy-memory", "--model", "tcn", "--levels", "x"], "--levels: expected an integer"),
        (["train", "copy-memory", "--model", "transformer"], "unknown model 'transformer'"),
        (["train", "copy-memory"], "name a model with --model"),
        (["train", "--recipe", "nope"], "unknown recipe 'nope'"),
        (["train", "copy-memory", "--model", "tcn", "--lr", "fast"], "--lr: expected a number, got 'fast'"),
        (["frobnicate"], "invalid choice"),
        (["sweep", "copy-memory", "--model", "gru", "--seeds", str(10**27)], f"--seeds must be at most 10000, got {10**27}"),
        (["bench", "gru", "--seeds", str(10**23)], f"--seeds must be at most 10000, got {10**23}"),
    ],
)
def test_mistakes_exit_2_with_one_line(args, expected):
    done = run_cli(*args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert expected in done.stderr


def test_recipe_flags_take_values_and_steps_replace_epochs(tmp_path):
    """`--recipe R --flag VALUE` never takes VALUE for a task name; --steps overrides a recipe's epochs."""
    from seqmem.cli import build_parser
    from seqmem.cli.config_flags import given_names, given_settings
    from seqmem.config.compose import draft

    args = build_parser().parse_args(["train", "--recipe", "copy-tcn-1000", "--blank", "30", "--steps", "7"])
    config = draft(args.recipe, given_names(args, args.task), given_settings(args))
    assert config["task"]["name"] == "copy-memory" and config["task"]["blank"] == 30
    assert config["train"]["steps"] == 7 and "epochs" not in config["train"]


def test_every_recipe_is_a_valid_config():
    from seqmem.config.compose import make_config, recipe_config
    from seqmem.recipes import recipe_names

    for name in recipe_names():
        config = make_config(recipe_config(name))
        assert config.task["name"] and config.model["name"] and config.method["name"]


def test_the_mqar_recipes_share_a_parameter_count_and_a_budget_in_updates():
    """Recipes that compare models: the same task and training, each model within 1% of attention's parameters,
    and no cut in seconds (the load would set how many updates each model got)."""
    import seqmem
    from seqmem.config.compose import make_config, recipe_config
    from seqmem.models import count_parameters
    from seqmem.recipes import recipe_names

    counts, trainings = {}, []
    for name in [n for n in recipe_names() if n.startswith("mqar-64-")]:
        config = make_config(recipe_config(name))
        task = seqmem.make_task(config.task["name"], **{k: v for k, v in config.task.items() if k != "name"})
        model = seqmem.make_model(config.model["name"], task,
                                  **{k: v for k, v in config.model.items() if k != "name"})
        counts[name] = count_parameters(model)
        trainings.append({k: v for k, v in config.train.items() if k != "max_seconds"})
        assert config.train.get("max_seconds") is None and config.train["steps"] == 3000
    assert len(counts) == 6 and all(t == trainings[0] for t in trainings)
    target = counts["mqar-64-attention"]
    assert all(abs(count - target) <= 0.01 * target for count in counts.values()), counts


def test_a_closed_pipe_ends_quietly_with_the_shells_code():
    """`seqmem models | head -1`: the reader stops reading; no traceback, exit 141 as for SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from seqmem.cli import main; "
                             "sys.stdout.reconfigure(line_buffering=True); sys.exit(main(['models']))"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    proc.stdout.close()  # closed before the first line: every write fails
    err = proc.stderr.read()
    assert proc.wait() == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_a_model_given_over_a_recipes_keeps_the_settings_it_shares_and_says_what_it_dropped(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--recipe", "mqar-64-mamba", "--model", "attention", "--steps", "1", "--set",
                 "task.test_size=8", "--set", "task.validation_size=8", "--quiet", "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("--model attention replaces the recipe's model mamba: keeps its d_model=77, layers=2, "
                      "encoder=embedding; drops state_size, embedding_dim (mamba's own)")
    model = json.loads((out / "config.json").read_text())["model"]
    assert model["name"] == "attention" and model["d_model"] == 77 and "state_size" not in model
    assert main(["sweep", "--recipe", "mqar-64-mamba", "--models", "gru,mamba", "--steps", "1", "--set",
                 "task.test_size=8", "--set", "task.validation_size=8", "--quiet", "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in err if "replaces" in line] == ["--models gru replaces the recipe's model mamba"]
