"""A run folder's lock (lock.py): one process at a time; a dead owner's lock is taken over."""

import os
import subprocess
import sys

import pytest

from locrnn.io import UserError
from locrnn.lock import claim, owner


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_the_lock_holds_this_pid_while_claimed_and_is_gone_after(tmp_path):
    run = tmp_path / "run"
    lock = tmp_path / ".run.lock"
    with claim(run):
        assert owner(lock) == os.getpid()
        with claim(run):  # this process again (reproduce's runner, then the trainer): allowed
            assert owner(lock) == os.getpid()
        assert lock.exists()  # the inner claim leaves it to the outer one
    assert not lock.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_live_owner_is_refused_and_a_dead_one_taken_over(tmp_path):
    run, lock = tmp_path / "run", tmp_path / ".run.lock"
    lock.write_text(str(os.getppid()))  # a live process that is not this one
    with pytest.raises(UserError, match=rf"being trained by process {os.getppid()}"):
        with claim(run):
            pass
    assert owner(lock) == os.getppid()  # the live owner's lock is untouched
    lock.write_text(str(_dead_pid()))
    with claim(run):
        assert owner(lock) == os.getpid()
    assert not lock.exists()


def test_under_torchrun_only_rank_0_takes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    with claim(tmp_path / "run"):
        assert not (tmp_path / ".run.lock").exists()


def test_an_unreadable_lock_names_no_owner(tmp_path):
    (tmp_path / "l").write_text("garbage")
    assert owner(tmp_path / "l") is None and owner(tmp_path / "missing") is None
