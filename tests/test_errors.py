"""Every bad input is answered through the CLI by one line on stderr that names the file or the
argument and what is wrong, a non-zero exit code, and no traceback."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from locrnn.cli import main
from locrnn.data.arrays import ArrayDataset
from locrnn.data.mazes import generate_mazes
from locrnn.io import save_npy
from locrnn.models import build_model
from locrnn.models.hub import save_model

TRAIN = ["train", "--task", "mazes", "--size", "5", "--width", "8", "--steps", "2", "--n-train", "16"]
TRAIN += ["--n-val", "8", "--batch-size", "8", "--progress", "false", "--precision", "fp32"]


def fails(capsys, argv: list[str], *expected: str, code: int = 2) -> str:
    """Run the CLI; check the exit code and the one stderr line; return that line."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == code, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"locrnn {argv[0]}: error: "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def mazes():
    return generate_mazes(16, 5, seed=0, split="train")


def maze_folder(root: Path, x, y, split: str = "train") -> Path:
    folder = root / f"maze_data_{split}_5"
    save_npy(folder / "inputs.npy", x)
    save_npy(folder / "solutions.npy", y)
    return folder


@pytest.fixture()
def checkpoint(tmp_path) -> Path:
    run = tmp_path / "run"
    save_model(run / "best", build_model("locrnn", task="mazes", width=8, steps=2))
    return run


# --- data files ----------------------------------------------------------------------------------


def test_corrupt_npy(tmp_path, capsys, mazes):
    folder = maze_folder(tmp_path, *mazes)
    (folder / "inputs.npy").write_bytes(b"this is not an array")
    fails(capsys, [*TRAIN, "--data-root", tmp_path, "--out", tmp_path], f"{folder / 'inputs.npy'}", "not a .npy file")


def test_truncated_npy(tmp_path, capsys, mazes):
    folder = maze_folder(tmp_path, *mazes)
    data = (folder / "solutions.npy").read_bytes()
    (folder / "solutions.npy").write_bytes(data[: len(data) // 2])
    fails(capsys, [*TRAIN, "--data-root", tmp_path, "--out", tmp_path], f"{folder / 'solutions.npy'}", "truncated")


def test_pickled_npy_is_refused(tmp_path, capsys, mazes):
    folder = maze_folder(tmp_path, *mazes)
    np.save(folder / "inputs.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    fails(capsys, [*TRAIN, "--data-root", tmp_path, "--out", tmp_path], f"{folder / 'inputs.npy'}", "pickle")


def test_arrays_of_the_wrong_shape(tmp_path, capsys, mazes):
    x, y = mazes
    folder = maze_folder(tmp_path, x, y[:, :5])
    line = fails(capsys, [*TRAIN, "--data-root", tmp_path, "--out", tmp_path], f"{folder / 'solutions.npy'}")
    assert "expected shape (16, 16, 16)" in line and "got (16, 5, 16)" in line


@pytest.mark.parametrize("dtype", ["U1", "complex64"])
def test_arrays_of_the_wrong_dtype(tmp_path, capsys, mazes, dtype):
    x, y = mazes
    folder = maze_folder(tmp_path, x.astype(dtype), y)
    fails(
        capsys,
        [*TRAIN, "--data-root", tmp_path, "--out", tmp_path],
        f"{folder / 'inputs.npy'}",
        f"dtype {np.dtype(dtype)}",
    )


def test_values_out_of_range(tmp_path, capsys, mazes):
    x, y = mazes
    folder = maze_folder(tmp_path, x * 255, y)
    fails(capsys, [*TRAIN, "--data-root", tmp_path, "--out", tmp_path], f"{folder / 'inputs.npy'}", "[0, 255]")


def test_solutions_that_are_not_a_mask(tmp_path, capsys, mazes):
    x, y = mazes
    folder = maze_folder(tmp_path, x, y * 0.5)
    fails(capsys, [*TRAIN, "--data-root", tmp_path, "--out", tmp_path], f"{folder / 'solutions.npy'}", "0/1")


@pytest.mark.parametrize("channels", [1, 4])
def test_wrong_number_of_channels(tmp_path, capsys, mazes, channels):
    x, y = mazes
    x = np.concatenate([x, x], axis=1)[:, :channels]
    folder = maze_folder(tmp_path, x, y)
    fails(
        capsys, [*TRAIN, "--data-root", tmp_path, "--out", tmp_path], f"{folder / 'inputs.npy'}", f"16, {channels}, 16"
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs(tmp_path, capsys, checkpoint, bad):
    x, y = generate_mazes(8, 5, seed=1, split="test")
    x = x.astype(np.float32)
    x[5, 1, 3, 4] = bad
    folder = maze_folder(tmp_path / "data", x, y, split="test")
    argv = ["sweep", checkpoint, "--sizes", "5", "--steps", "1:2", "--data-root", tmp_path / "data"]
    fails(capsys, argv, f"{folder / 'inputs.npy'}", "non-finite", "(5, 1, 3, 4)")


def test_non_finite_inputs_from_python_are_refused_at_the_dataset():
    x = np.zeros((6, 3, 4, 4), np.float32)
    x[4, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="sample 4 holds a non-finite value"):
        ArrayDataset(x, np.zeros(6, np.int64))
    with pytest.raises(ValueError, match=re.escape("shape (N, channels, H, W), got (6, 4, 4)")):
        ArrayDataset(x[:, 0], np.zeros(6, np.int64))


@pytest.fixture(scope="module")
def pathfinder_pngs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pathfinder")
    argv = ["data", "pathfinder", "--length", "6", "--n", "40", "--size", "32", "--root", root, "--workers", "1"]
    assert main([str(a) for a in argv]) == 0
    return root


def pathfinder_copy(src: Path, dest: Path) -> Path:
    for f in src.rglob("*"):
        if f.is_file() and ".locrnn_cache" not in f.parts:
            (dest / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            (dest / f.relative_to(src)).write_bytes(f.read_bytes())
    return dest


PF_TRAIN = ["train", "--task", "pathfinder", "--preset", "pathfinder-paper", "--size", "6", "--image-size", "32"]
PF_TRAIN += ["--width", "8", "--steps", "2", "--n-train", "0", "--n-val", "4", "--batch-size", "8", "--epochs", "1"]
PF_TRAIN += ["--progress", "false", "--precision", "fp32"]


def test_blank_and_truncated_pngs_are_skipped_with_one_line_naming_them(tmp_path, capsys, pathfinder_pngs):
    """A few bad images in a large public set are skipped (pathfinder.md 2e), named in one warning."""
    root = pathfinder_copy(pathfinder_pngs, tmp_path / "data")
    imgs = root / "curv_baseline" / "imgs" / "0"
    (imgs / "sample_3.png").write_bytes(b"")
    png = (imgs / "sample_5.png").read_bytes()
    (imgs / "sample_5.png").write_bytes(png[: len(png) // 2])
    Image.new("L", (32, 32), 0).save(imgs / "sample_7.png")
    capsys.readouterr()
    assert main([str(a) for a in [*PF_TRAIN, "--data-root", root, "--out", tmp_path]]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("locrnn train: warning: skipped 3 "), lines
    for name, why in [("sample_3.png", "empty file"), ("sample_5.png", "truncated"), ("sample_7.png", "blank")]:
        assert re.search(rf"{re.escape(str(imgs / name))} \([^)]*{why}", lines[0]), (name, lines[0])


def test_only_unreadable_pngs(tmp_path, capsys, pathfinder_pngs):
    root = pathfinder_copy(pathfinder_pngs, tmp_path / "data")
    for png in (root / "curv_baseline" / "imgs" / "0").iterdir():
        png.write_bytes(png.read_bytes()[:40])
    capsys.readouterr()
    line = fails(capsys, [*PF_TRAIN, "--data-root", root, "--out", tmp_path], "no readable PathFinder images")
    assert str(root / "curv_baseline" / "imgs" / "0") in line


# --- names ----------------------------------------------------------------------------------------


def test_unknown_model(tmp_path, capsys):
    fails(capsys, [*TRAIN, "--model", "no_such_net", "--out", tmp_path], "unknown model 'no_such_net'", "locrnn")


def test_unknown_task(tmp_path, capsys):
    fails(capsys, [*TRAIN, "--task", "sudoku", "--out", tmp_path], "unknown task 'sudoku'", "mazes")
    fails(capsys, ["models", "--task", "sudoku"], "unknown task 'sudoku'")


# --- checkpoints ---------------------------------------------------------------------------------


def test_checkpoint_of_another_model(capsys, checkpoint):
    meta = json.loads((checkpoint / "best.json").read_text())
    keep = ("task", "width", "steps")  # a description locrnn_no_s takes; the weights are a full LocRNN's
    meta["model"] = {"name": "locrnn_no_s", **{k: meta["model"][k] for k in keep}}
    (checkpoint / "best.json").write_text(json.dumps(meta))
    fails(capsys, ["sweep", checkpoint, "--sizes", "5"], f"{checkpoint / 'best.safetensors'}", "do not match the model")


def test_checkpoint_of_an_incompatible_version(capsys, checkpoint):
    meta = json.loads((checkpoint / "best.json").read_text())
    meta["format_version"] = 99
    (checkpoint / "best.json").write_text(json.dumps(meta))
    fails(capsys, ["sweep", checkpoint, "--sizes", "5"], f"{checkpoint / 'best'}", "format version 99")


def test_truncated_weights(capsys, checkpoint):
    path = checkpoint / "best.safetensors"
    path.write_bytes(path.read_bytes()[:64])
    fails(capsys, ["sweep", checkpoint, "--sizes", "5"], f"corrupt weights file {path}")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    assert main([*TRAIN, "--out", str(out), "--name", "done"]) == 0
    return out / "done"


def copy_run(run: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in run.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


def test_resume_from_a_training_state_of_another_model(tmp_path, capsys, finished_run):
    run = copy_run(finished_run, tmp_path / "run")
    cfg = json.loads((run / "config.json").read_text())
    cfg["model_args"] = {"width": 16}
    (run / "config.json").write_text(json.dumps(cfg))
    fails(capsys, ["train", "--resume", run], f"{run / 'trainer_state.pt'}", "does not fit", "size mismatch")


def test_resume_from_a_training_state_of_another_version(tmp_path, capsys, finished_run):
    run = copy_run(finished_run, tmp_path / "run")
    state = torch.load(run / "trainer_state.pt", weights_only=True)
    state["format_version"] = 99
    torch.save(state, run / "trainer_state.pt")
    fails(capsys, ["train", "--resume", run], f"{run / 'trainer_state.pt'}", "format version 99")


def test_resume_from_a_truncated_training_state(tmp_path, capsys, finished_run):
    run = copy_run(finished_run, tmp_path / "run")
    path = run / "trainer_state.pt"
    path.write_bytes(path.read_bytes()[:1000])
    fails(capsys, ["train", "--resume", run], f"corrupt training state {path}")


def test_resume_with_a_config_of_another_version(tmp_path, capsys, finished_run):
    run = copy_run(finished_run, tmp_path / "run")
    cfg = json.loads((run / "config.json").read_text())
    cfg["a_field_from_the_future"] = 1
    (run / "config.json").write_text(json.dumps(cfg))
    fails(capsys, ["train", "--resume", run], f"{run / 'config.json'}", "a_field_from_the_future")


# --- output folders -------------------------------------------------------------------------------


def test_existing_run_folder_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    fails(capsys, [*TRAIN, "--out", tmp_path, "--name", "mine"], f"{tmp_path / 'mine'}", "already exists")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_existing_data_folder_is_not_overwritten(tmp_path, capsys, mazes):
    folder = maze_folder(tmp_path, *mazes)
    before = (folder / "inputs.npy").read_bytes()
    argv = ["data", "mazes", "--size", "5", "--n", "4", "--root", tmp_path]
    fails(capsys, argv, f"{folder}", "already exists", "--overwrite")
    assert (folder / "inputs.npy").read_bytes() == before


def test_output_folder_that_cannot_be_written(tmp_path, capsys, checkpoint):
    # tests run as root, which ignores permission bits: a folder under a regular file can never be made
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    where = blocker / "out"
    fails(capsys, [*TRAIN, "--out", where], f"cannot write to folder {where}", "Not a directory")
    fails(capsys, ["sweep", checkpoint, "--sizes", "5", "--out", where], f"cannot write to folder {where}")
    fails(capsys, ["data", "mazes", "--size", "5", "--n", "4", "--root", where], f"cannot write to folder {where}")
    assert blocker.read_text() == ""


# --- nothing is unpickled -------------------------------------------------------------------------


def test_nothing_is_unpickled_from_files():
    """Weights are safetensors, arrays load with allow_pickle=False, torch files with weights_only."""
    src = Path(__file__).resolve().parents[1] / "src" / "locrnn"
    for path in src.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(pickle|dill|joblib|cloudpickle)\b", text, re.M), path
        assert "allow_pickle=True" not in text, path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path}: {call}"


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    """Files and folders written atomically get what open()/mkdir would give (not mkstemp's 0600)."""
    import os

    from locrnn.io import atomic_dir, save_json

    mask = os.umask(0)
    os.umask(mask)
    save_json(tmp_path / "a.json", {"x": 1})
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask
    with atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("1")
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~mask
