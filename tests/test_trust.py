"""A received run folder runs no code: a run naming a file or module is loaded only when this user's run
signed its config.json, its files still have their recorded hashes and its modules are installed; anything
else is refused in one line before anything is imported, unless the user passes --trust / trust=True."""

import json
import shutil
from pathlib import Path

import pytest
from in_process import seqmem_main

import seqmem
from seqmem.errors import ConfigError
from seqmem.run import trust

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--steps", "2", "--eval-every", "2", "--set", "task.test_size=20", "--set", "task.validation_size=20",
         "--quiet"]
MARKER = "import pathlib\npathlib.Path(__file__).with_name('ran').touch()\n"


def payload(folder: Path) -> Path:
    """MinGRU with one line more: it leaves a file `ran` beside itself when it is imported."""
    path = folder / "payload.py"
    path.write_text(MARKER + (ROOT / "examples/min_gru.py").read_text())
    return path


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """A run this user trained with a model of their own file (signed), its marker cleared."""
    folder = tmp_path_factory.mktemp("own")
    model = payload(folder)
    done = seqmem_main("train", "echo-letters", "--model", f"{model}:MinGRU", "--hidden", "8", *SMALL,
                       "--out", folder / "run")
    assert done.returncode == 0, done.stderr
    (folder / "ran").unlink()
    return folder / "run"


def received(own_run: Path, tmp_path: Path, **changes) -> Path:
    """A copy of the run as a stranger would send it: config.json rewritten to name the stranger's code."""
    run = tmp_path / "recv" / "run"
    shutil.copytree(own_run, run)
    payload(run)
    config = json.loads((run / "config.json").read_text())
    config["model"]["name"] = f"{run / 'payload.py'}:MinGRU"
    config["sources"] = {}
    for part, name in changes.items():
        config[part]["name"] = name
    (run / "config.json").write_text(json.dumps(config))
    return run


def one_line(done) -> bool:
    return done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_run_this_user_made_loads_without_trust(own_run):
    loaded = seqmem.load(own_run)
    assert type(loaded.model).__name__ == "MinGRU"
    assert (own_run / "config.sig").is_file() and trust.signed(own_run)


def test_a_received_run_naming_its_own_file_runs_nothing(own_run, tmp_path):
    run = received(own_run, tmp_path)
    demo = seqmem_main("demo", run, "abcdef", cwd=tmp_path)
    assert one_line(demo), demo.stderr
    assert "payload.py" in demo.stderr and "recorded sha256 none" in demo.stderr and "--trust" in demo.stderr
    with pytest.raises(ConfigError, match="not signed"):
        seqmem.load(run)
    assert not (run / "ran").exists()
    trusted = seqmem_main("demo", run, "abcdef", "--trust", cwd=tmp_path)  # the control: the user says so
    assert trusted.returncode == 0, trusted.stderr
    assert (run / "ran").exists()


def test_a_method_file_of_a_missing_class_is_not_run(own_run, tmp_path):
    run = received(own_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["model"]["name"] = "gru"
    config["method"]["name"] = f"{run / 'payload.py'}:Nope"
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="its method is .*payload.py"):
        seqmem.load(run)
    assert not (run / "ran").exists()


def test_a_dotted_name_from_a_run_is_not_imported_from_the_working_folder(own_run, tmp_path):
    run = received(own_run, tmp_path)
    (tmp_path / "payloadmod.py").write_text((run / "payload.py").read_text())
    config = json.loads((run / "config.json").read_text())
    config["model"]["name"] = "payloadmod:MinGRU"
    (run / "config.json").write_text(json.dumps(config))
    done = seqmem_main("demo", run, "abcdef", cwd=tmp_path)
    assert one_line(done) and "payloadmod:MinGRU" in done.stderr, done.stderr
    trust.sign(run, config)  # even signed: the module would come from the working folder
    done = seqmem_main("demo", run, "abcdef", cwd=tmp_path)
    assert one_line(done) and "not from an installed package" in done.stderr, done.stderr
    assert not (tmp_path / "ran").exists()


def test_an_installed_module_named_by_a_received_run_is_not_imported(own_run, tmp_path, capfd):
    import sys

    run = received(own_run, tmp_path, model="this:X")
    sys.modules.pop("this", None)
    with pytest.raises(ConfigError, match="this:X"):
        seqmem.load(run)
    assert "this" not in sys.modules and "Beautiful is better" not in capfd.readouterr().out


def test_an_edited_or_foreign_signature_is_not_trusted(own_run, tmp_path, monkeypatch):
    run = tmp_path / "copy"
    shutil.copytree(own_run, run)
    assert trust.signed(run)  # a copy of this user's own run stays theirs
    config = json.loads((run / "config.json").read_text())
    config["model"]["hidden"] = 9
    (run / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    assert not trust.signed(run)
    shutil.rmtree(run)
    shutil.copytree(own_run, run)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "another-user"))
    with pytest.raises(ConfigError, match="not signed by this user's key"):
        seqmem.load(run)
    assert not (tmp_path / "another-user").exists()  # loading makes no key


def test_a_changed_file_is_refused_before_import_and_warned_of_with_trust(own_run, tmp_path):
    folder = tmp_path / "own"
    shutil.copytree(own_run.parent, folder)
    config = json.loads((folder / "run" / "config.json").read_text())
    model = Path(next(iter(config["sources"])))
    original = model.read_text()
    try:
        model.write_text(original + "\n# edited\n")
        with pytest.raises(ConfigError, match=r"recorded sha256 [0-9a-f]{16}\) has changed"):
            seqmem.load(own_run)
        assert not (model.parent / "ran").exists()
        with pytest.warns(UserWarning, match="has changed since"):
            seqmem.load(own_run, trust=True)
    finally:
        model.write_text(original)
        (model.parent / "ran").unlink(missing_ok=True)


def test_the_key_is_the_users_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    key = trust.user_key(create=True)
    assert len(key) == 32 and trust.user_key(create=True) == key
    assert (tmp_path / "seqmem" / "key").stat().st_mode & 0o077 == 0
