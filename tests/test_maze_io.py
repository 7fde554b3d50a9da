"""Readers and writers of the public maze layouts; errors name the file at fault."""

import numpy as np
import pytest

from locrnn.data.arrays import ArrayDataset
from locrnn.data.maze_io import find_maze_folder, load_mazes, read_maze_folder, write_mazes
from locrnn.data.mazes import generate_mazes
from locrnn.io import UserError, atomic_dir, save_npy


def test_v2_round_trip(tmp_path):
    x, y = generate_mazes(20, 9, seed=0)
    folder = write_mazes(tmp_path, "train", 9, x, y)
    assert folder == tmp_path / "maze_data_train_9"
    assert sorted(p.name for p in folder.iterdir()) == ["inputs.npy", "solutions.npy"]
    x2, y2 = load_mazes(tmp_path, "train", 9)
    assert (x2 == x).all() and (y2 == y).all()
    ds = ArrayDataset(x2, y2)
    xi, yi = ds[0]
    assert xi.dtype.is_floating_point and xi.shape == (3, 24, 24)
    assert yi.dtype == __import__("torch").int64 and yi.shape == (24, 24)


def test_float64_as_the_public_generator_writes(tmp_path):
    x, y = generate_mazes(5, 11, seed=0)
    write_mazes(tmp_path, "test", 11, x, y, dtype="float64")
    x2, y2 = load_mazes(tmp_path, "test", 11)
    assert x2.dtype == np.float64 and (x2 == x).all() and (y2 == y).all()


def test_v1_layout(tmp_path):
    x, y = generate_mazes(6, 13, seed=0)
    folder = tmp_path / "maze_data" / "test_large"
    folder.mkdir(parents=True)
    np.save(folder / "inputs.npy", x.transpose(0, 2, 3, 1).astype(np.float32))
    np.save(folder / "solutions.npy", np.repeat(y[..., None], 3, -1).astype(np.float32))
    assert find_maze_folder(tmp_path, "test", 13) == folder
    x2, y2 = load_mazes(tmp_path, "test", 13)
    assert x2.shape == x.shape and (x2 == x).all() and (y2 == y).all()


def test_existing_folder_is_not_overwritten(tmp_path):
    x, y = generate_mazes(3, 9)
    write_mazes(tmp_path, "train", 9, x, y)
    with pytest.raises(UserError, match="already exists"):
        write_mazes(tmp_path, "train", 9, x, y)
    write_mazes(tmp_path, "train", 9, x[:2], y[:2], overwrite=True)
    assert len(load_mazes(tmp_path, "train", 9)[0]) == 2


def test_a_failed_write_leaves_nothing_under_the_final_name(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "maze_data_train_9") as tmp:
            save_npy(tmp / "inputs.npy", np.zeros(3))
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def _folder(tmp_path, x, y):
    f = tmp_path / "maze_data_train_9"
    f.mkdir()
    np.save(f / "inputs.npy", x)
    np.save(f / "solutions.npy", y)
    return f


def test_truncated_file_is_named(tmp_path):
    x, y = generate_mazes(4, 9)
    f = _folder(tmp_path, x, y)
    data = (f / "inputs.npy").read_bytes()
    (f / "inputs.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"corrupt or truncated .npy file .*inputs.npy"):
        read_maze_folder(f)


def test_wrong_shape_is_named(tmp_path):
    x, y = generate_mazes(4, 9)
    f = _folder(tmp_path, x[:, :2], y)
    with pytest.raises(UserError, match=r"inputs.npy: expected shape"):
        read_maze_folder(f)


def test_mismatched_solutions_are_named(tmp_path):
    x, y = generate_mazes(4, 9)
    f = _folder(tmp_path, x, y[:3])
    with pytest.raises(UserError, match=r"solutions.npy: expected shape"):
        read_maze_folder(f)


def test_value_range_is_checked(tmp_path):
    x, y = generate_mazes(4, 9)
    f = _folder(tmp_path, x.astype(np.float32) * 255, y)
    with pytest.raises(UserError, match=r"values must lie in \[0, 1\]"):
        read_maze_folder(f)


def test_missing_data_is_named(tmp_path):
    with pytest.raises(UserError, match="no maze data for split 'train', size 9"):
        load_mazes(tmp_path, "train", 9)
    (tmp_path / "maze_data_train_9").mkdir()
    with pytest.raises(UserError, match="missing data file .*inputs.npy"):
        load_mazes(tmp_path, "train", 9)


def test_a_99x99_set_is_written_quickly_and_says_how_long(tmp_path, capsys):
    """``locrnn data mazes --size 99 --n 100`` writes a v2 folder and reports the time it took."""
    import re

    from locrnn.cli import main

    assert main(["data", "mazes", "--size", "99", "--n", "100", "--root", str(tmp_path), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    took = re.search(r"wrote 100 mazes of size 99 \(204x204 px\) to .* in ([0-9.]+) s", out)
    assert took and float(took.group(1)) < 60
    x, y = load_mazes(tmp_path, "train", 99)
    assert x.shape == (100, 3, 204, 204) and y.shape == (100, 204, 204)
