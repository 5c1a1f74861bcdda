"""A researcher's sequence mixer, named by import path where a model is named: built once a layer in the
backbone, its settings the backbone's beside its own, trained from the command line, checked by `seqmem check`,
and refused in one line where it breaks the contract or is no mixer at all."""

from pathlib import Path

import pytest
from in_process import seqmem_main

import seqmem

MIXERS = Path(__file__).resolve().parent / "user_classes" / "mixers.py"


def mixer(name: str) -> str:
    return f"{MIXERS}:{name}"


def test_a_zoology_mixer_lists_the_backbones_settings_beside_its_own_and_no_kwargs():
    done = seqmem_main("models", mixer("GatedConv"))
    assert done.returncode == 0, done.stderr
    flags = [line.split()[0] for line in done.stdout.splitlines()[2:-1] if line.startswith("  --")]
    assert flags == ["--d-model", "--layers", "--state-mixer", "--norm", "--dropout", "--encoder", "--condition",
                     "--kernel-size"]  # no --l-max, --layer-idx (the backbone passes them), no --kwargs
    assert "taps of the causal convolution" in done.stdout


@pytest.mark.parametrize("name,flags", [("GatedConv", ["--kernel-size", "5"]), ("MeanSoFar", [])])
def test_a_mixer_of_either_convention_trains_from_the_command_line_and_loads_back(name, flags, tmp_path):
    out = tmp_path / name
    done = seqmem_main("train", "echo-letters", "--model", mixer(name), "--d-model", "16", "--layers", "1",
                       "--delay", "2", "--steps", "20", "--quiet", "--out", out, *flags)
    assert done.returncode == 0, done.stderr
    summary = seqmem.run.experiment.RunDir(out).summary()
    assert summary["model"] == f"{MIXERS}:{name}" and summary["steps"] == 20
    loaded = seqmem.load(out)
    assert type(loaded.model).__name__ == "Backbone" and type(loaded.model.blocks[0].mixer).__name__ == name
    assert loaded.config["model"]["d_model"] == 16 and loaded.config["model"]["layers"] == 1
    if name == "GatedConv":
        assert loaded.config["model"]["kernel_size"] == 5 and loaded.model.blocks[0].mixer.conv.kernel_size == (5,)


def test_the_backbone_passes_the_tasks_length_and_each_layers_index():
    task = seqmem.make_task("echo-letters", delay=2)
    model = seqmem.make_model(mixer("GatedConv"), task, layers=2, d_model=8)
    assert [b.mixer.layer_idx for b in model.blocks] == [0, 1] and model.blocks[0].mixer.l_max == task.span
    madlab = seqmem.make_model(mixer("MeanSoFar"), task, layers=1, d_model=8)
    assert madlab.blocks[0].mixer.max_length == task.span


def test_seqmem_check_passes_a_sound_mixer_and_names_each_broken_one(capsys):
    done = seqmem_main("check", mixer("MeanSoFar"))
    assert done.returncode == 0, done.stdout
    assert "(mixer)" in done.stdout and "chunks" in done.stdout
    for name, failure in (("WrongShape", "mixer WrongShape returned (2, 15, 32) for an input of (2, 15, 64)"),
                          ("PeeksAhead", "not causal: the output at step 5 changed when the input at step 7 was changed"),
                          ("RaisesInConstructor", "its constructor raised ValueError: this layer is not finished")):
        done = seqmem_main("check", mixer(name))
        assert done.returncode == 1, (name, done.stdout)
        fails = [line for line in done.stdout.splitlines() if line.strip().startswith("FAIL")]
        assert len(fails) == 1 and failure in fails[0], (name, done.stdout)


def test_a_broken_mixer_is_refused_by_train_in_one_line_before_anything_is_written(tmp_path):
    done = seqmem_main("train", "echo-letters", "--model", mixer("PeeksAhead"), "--steps", "2", "--out", tmp_path / "r")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "not causal: the output at step 5 changed when the input at step 7 was changed" in done.stderr
    assert not (tmp_path / "r").exists()


def test_a_class_built_from_neither_a_task_nor_a_width_is_refused_saying_which_is_which(tmp_path):
    done = seqmem_main("train", "echo-letters", "--model", mixer("TakesWidth"), "--steps", "2", "--out", tmp_path / "r")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "takes 'width' first: a model is built as cls(task, **settings), a sequence mixer as cls(d_model" \
        in done.stderr
    assert not (tmp_path / "r").exists()


def test_check_refuses_what_train_on_that_task_refuses():
    """A short window cannot see copy-memory's span: train refuses it, and so does check with that task."""
    done = seqmem_main("check", "attention", "--task", "copy-memory", "--set", "task.blank=20",
                       "--set", "model.window=4", "--set", "model.layers=1")
    assert done.returncode == 1
    fails = [line for line in done.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert len(fails) == 1 and "receptive field 4 < 40 steps" in fails[0]


LAYERS = '''
import torch
from torch import nn


class Conv(nn.Module):
    """A causal depthwise convolution, gated."""

    def __init__(self, d_model: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, kernel_size, groups=d_model, padding=kernel_size - 1)
        self.gate = nn.Linear(d_model, d_model)

    def forward(self, u):
        return self.conv(u.transpose(1, 2))[..., : u.shape[1]].transpose(1, 2) * torch.sigmoid(self.gate(u))
'''


def test_a_mixer_importing_a_sibling_file_runs_as_a_script_would_and_the_sibling_is_recorded(tmp_path):
    """A folder of experiments: the named file imports a sibling by its name. It trains and demos from a fresh
    process with nothing on PYTHONPATH, config.json records both files, and an edited sibling is caught."""
    from in_process import seqmem_process

    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "layers.py").write_text(LAYERS)
    (folder / "mine.py").write_text("from layers import Conv\n\n\nclass Mixer(Conv):\n    pass\n")
    train = ["train", "echo-letters", "--model", f"{folder}/mine.py:Mixer", "--d-model", "8", "--layers", "1",
             "--delay", "2", "--steps", "4", "--quiet", "--out", tmp_path / "run"]
    done = seqmem_process(*train, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    recorded = seqmem.run.rundir.RunDir(tmp_path / "run").config["sources"]
    assert set(recorded) == {str(folder / "mine.py"), str(folder / "layers.py")}
    demo = seqmem_process("demo", tmp_path / "run", "abcd", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    (folder / "layers.py").write_text(LAYERS.replace("kernel_size: int = 3", "kernel_size: int = 5"))
    again = seqmem_process(*train[:-5], "--steps", "8", "--quiet", "--out", tmp_path / "run", cwd=tmp_path)
    assert again.returncode == 2 and f"{folder / 'layers.py'} has changed" in again.stderr, again.stderr


def test_a_built_in_layer_named_by_import_path_is_a_mixer_sized_as_its_backbone(tmp_path):
    """S4D's layer by dotted path: sized before anything is written as the backbone it builds (it was sized as
    a whole model, `S4DLayer(task, d_model=...)`, a TypeError), then trained."""
    done = seqmem_main("train", "echo-letters", "--model", "seqmem.models.s4d:S4DLayer", "--d-model", "8",
                       "--layers", "1", "--steps", "2", "--quiet", "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert seqmem.load(tmp_path / "run").model.blocks[0].mixer.__class__.__name__ == "S4DLayer"
