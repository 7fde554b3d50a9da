"""Writing PathFinder data: the three layouts round-trip through the reader, metadata in
binary or text form, nothing left behind by a failed write, and the preview grid."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from locrnn.data.pathfinder import generate_pathfinder, published_params
from locrnn.data.pathfinder_read import find_pathfinder, load_pathfinder, read_metadata
from locrnn.data.pathfinder_write import dataset_name, preview_grid, write_pathfinder
from locrnn.io import UserError


@pytest.fixture(scope="module")
def small():
    p = published_params(9, 32, family="paper")
    x, y = generate_pathfinder(30, p, seed=1, workers=1)
    return p, x, y


def _index(path: Path, batch: int) -> int:
    b, i = map(int, re.findall(r"\d+", path.as_posix())[-2:])
    return b * batch + i


def _all(root, length):
    return [e for split in ("train", "val", "test") for e in find_pathfinder(root, length, split)[1]]


def test_lra_layout_round_trip_with_binary_and_text_metadata(tmp_path, small):
    p, x, y = small
    folders = write_pathfinder(tmp_path, p, 30, seed=1, workers=1, batch=8)
    folder = tmp_path / dataset_name(9)
    assert folders == [folder] and sorted(f.name for f in (folder / "metadata").iterdir()) == [
        "0.npy",
        "1.npy",
        "2.npy",
        "3.npy",
    ]
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".")]  # no temporary folders left
    rows = read_metadata(folder / "metadata" / "1.npy")
    assert rows[0][:4] == ["imgs/1", "sample_0.png", "0", str(y[8])] and len(rows[0]) == 11
    entries = _all(tmp_path, 9)
    assert [_index(e, 8) for e, _ in entries] == list(range(30)) and [lab for _, lab in entries] == list(y)
    for split, sl in (("train", slice(0, 24)), ("val", slice(24, 27)), ("test", slice(27, 30))):
        xs, ys = load_pathfinder(tmp_path, 9, split, cache=False, workers=1)
        assert np.array_equal(xs, x[sl]) and np.array_equal(ys, y[sl])
    # the LRA release stores the same rows as text; Python 2 wrote byte strings
    for f in (folder / "metadata").iterdir():
        rows = read_metadata(f)
        if f.name == "0.npy":
            f.write_text("".join(" ".join(r) + "\n" for r in rows))
        else:
            np.save(f, np.array(rows, dtype="S"))
    assert read_metadata(folder / "metadata" / "0.npy")[0][1] == "sample_0.png"
    assert _all(tmp_path, 9) == entries
    with pytest.raises(UserError, match="already exists"):
        write_pathfinder(tmp_path, p, 4, workers=1)


def test_2018_and_imagefolder_layouts_round_trip(tmp_path, small):
    p, x, y = small
    write_pathfinder(tmp_path / "old", p, 30, seed=1, workers=1, batch=8, layout="2018")
    assert (tmp_path / "old" / dataset_name(9) / "metadata").is_dir()
    write_pathfinder(tmp_path / "tv", p, 30, seed=1, workers=1, batch=8, layout="imagefolder", split="val")
    xv, yv = generate_pathfinder(30, p, seed=1, split="val", workers=1)  # the folder split = the random stream
    cases = [("2018", tmp_path / "old", _all(tmp_path / "old", 9), x, y)]
    cases.append(("imagefolder", tmp_path / "tv", find_pathfinder(tmp_path / "tv", 9, "val")[1], xv, yv))
    for layout, root, entries, x, y in cases:
        assert find_pathfinder(root, 9, "val")[0] == layout
        assert sorted(_index(e, 8) for e, _ in entries) == list(range(30))
        for path, label in entries:
            i = _index(path, 8)
            assert label == y[i]
            assert ("_neg" in path.as_posix()) == (label == 0)  # 1 = connected, whatever the folder order
            assert np.array_equal(np.asarray(Image.open(path)), x[i])
        labels = [lab for _, lab in entries]
        assert abs(sum(labels[:10]) - 5) <= 1  # interleaved: every slice is balanced


def test_a_failed_write_leaves_nothing_behind(tmp_path, small, monkeypatch):
    import locrnn.data.pathfinder_write as pio

    def boom(args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pio, "_write_pngs", boom)
    with pytest.raises(RuntimeError):
        write_pathfinder(tmp_path, small[0], 10, workers=1, layout="2018")
    assert list(tmp_path.iterdir()) == []


def test_the_preview_shows_positives_over_negatives():
    images = np.stack([np.full((8, 8), v, np.uint8) for v in (200, 100, 201, 101)])
    grid = preview_grid(images, np.array([1, 0, 1, 0]), per_row=3, tile=8)
    assert grid.shape == (2 * (8 + 18), 3 * (8 + 4))
    top, bottom = grid[18 : 18 + 8], grid[26 + 18 : 26 + 18 + 8]
    assert top[:, :8].min() == 200 and top[:, 12:20].min() == 201  # the positives, in order
    assert bottom[:, :8].max() == 100 and bottom[:, 12:20].max() == 101
    assert (top[:, 24:32] == 0).all()  # a missing third positive: an empty tile
