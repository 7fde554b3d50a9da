"""Reading PathFinder data: blank and corrupt PNGs named and skipped, the memory-mapped cache,
and clear errors for missing or malformed data. (Round trips through the writer: test_pathfinder_write.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from locrnn.data.pathfinder import generate_pathfinder, published_params
from locrnn.data.pathfinder_read import find_pathfinder, load_pathfinder, read_metadata
from locrnn.data.pathfinder_write import dataset_name, write_pathfinder
from locrnn.io import UserError


@pytest.fixture(scope="module")
def small():
    p = published_params(9, 32, family="paper")
    x, y = generate_pathfinder(30, p, seed=1, workers=1)
    return p, x, y


def test_blank_and_corrupt_pngs_are_named_and_skipped(tmp_path, small):
    p, x, y = small
    write_pathfinder(tmp_path, p, 30, seed=1, workers=1, batch=100)
    imgs = tmp_path / dataset_name(9) / "imgs" / "0"
    (imgs / "sample_3.png").write_bytes(b"")
    (imgs / "sample_5.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(imgs / "sample_7.png")
    keep = [i for i in range(24) if i not in (3, 5, 7)]
    for cache in (False, True, True):  # the second cached call reads the memory map
        with pytest.warns(UserWarning, match="skipped 3") as rec:
            xs, ys = load_pathfinder(tmp_path, 9, "train", cache=cache, workers=2)
        message = str(rec[0].message)
        assert all(f"sample_{i}.png" in message for i in (3, 5, 7))
        assert np.array_equal(xs, x[keep]) and np.array_equal(ys, y[keep])
    assert isinstance(xs, np.memmap)


def test_cache_is_memory_mapped_resized_and_rebuilt_when_files_change(tmp_path, small):
    p, x, y = small
    write_pathfinder(tmp_path, p, 30, seed=1, workers=1)
    a, ya = load_pathfinder(tmp_path, 9, "train", size=16, workers=1)
    b, _ = load_pathfinder(tmp_path, 9, "train", size=16, workers=1)
    assert isinstance(b, np.memmap) and a.shape == (24, 16, 16) and np.array_equal(a, b)
    c, _ = load_pathfinder(tmp_path, 9, "train", size=16, n=10, workers=1)
    assert np.array_equal(c, a[:10]) and len(list((tmp_path / ".locrnn_cache").iterdir())) == 2


def test_missing_or_malformed_data_gives_clear_errors(tmp_path):
    with pytest.raises(UserError, match="missing PathFinder data folder"):
        find_pathfinder(tmp_path / "nope", 9)
    with pytest.raises(UserError, match="no PathFinder data of length 14"):
        find_pathfinder(tmp_path, 14)
    bad = tmp_path / "m.npy"
    bad.write_text("imgs/0 sample_0.png 0\n")
    with pytest.raises(UserError, match="row 0"):
        read_metadata(bad)
