"""Files that are never half-written (io.py): atomic files and folders, npy/JSON readers, user errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

from locrnn.io import (
    UserError,
    alive,
    atomic_dir,
    atomic_path,
    load_json,
    load_npy,
    remove_stale_temps,
    save_json,
    save_npy,
    writable_dir,
)


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".f.txt.") and tmp.name.endswith(".tmp")
        tmp.write_text("new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_an_atomic_folder_appears_whole_and_refuses_to_overwrite_unless_asked(tmp_path):
    target = tmp_path / "d"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
        assert not target.exists()
    assert (target / "a").read_text() == "1"
    with pytest.raises(UserError, match="already exists") as e:
        with atomic_dir(target):
            pass
    assert "overwrite=True" in str(e.value)  # the setting, not a flag
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_stale_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".x.npy.{dead_pid}-abc.tmp"
    mine = tmp_path / f".y.npy.{os.getpid()}-abc.tmp"
    old_style = tmp_path / ".z.npy.abc.tmp"  # no pid: removed only by a folder's owner
    for p in (stale, mine, old_style):
        p.write_text("")
    assert not alive(dead_pid) and alive(os.getpid())
    assert remove_stale_temps(tmp_path) == [stale]
    assert remove_stale_temps(tmp_path, owned=True) == [old_style]
    assert mine.exists()


def test_npy_and_json_round_trip_and_bad_files_are_user_errors(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_npy(tmp_path / "a.npy", a)
    assert np.array_equal(load_npy(tmp_path / "a.npy"), a)
    assert np.array_equal(load_npy(tmp_path / "a.npy", mmap=True), a)
    save_json(tmp_path / "m.json", {"x": [1, 2]})
    assert load_json(tmp_path / "m.json") == {"x": [1, 2]}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UserError, match="corrupt JSON file"):
        load_json(tmp_path / "bad.json")
    with pytest.raises(UserError, match="missing file"):
        load_json(tmp_path / "none.json")
    with pytest.raises(UserError, match="missing data file"):
        load_npy(tmp_path / "none.npy")
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(UserError, match="not a .npy file"):
        load_npy(tmp_path / "text.npy")


def test_writable_dir_makes_the_folder_or_names_why_not(tmp_path):
    assert writable_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="cannot write to folder"):
        writable_dir(tmp_path / "file" / "sub")


def test_a_user_error_is_a_value_error_that_names_its_settings():
    e = UserError("batch_size must be at least 1", settings=("batch_size",))
    assert isinstance(e, ValueError) and e.settings == ("batch_size",) and str(e) == "batch_size must be at least 1"
    assert UserError("plain").settings == ()
