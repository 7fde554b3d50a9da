"""A folder's lock: one process at a time trains (or resumes) a run.

The lock is a file ``.<name>.lock`` beside the folder holding the owner's pid; it is made whole
under a private name and hard-linked into place, so it never lacks its pid. A live owner makes a
second process fail with a ``UserError``; a lock whose process is gone is taken over. A process
that already holds a folder's lock may claim it again (reproduce's runner holds a run's lock
while the trainer takes it too). Under torchrun only rank 0 takes it: every rank trains the same
run together.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .io import UserError, alive


@contextmanager
def claim(folder: str | os.PathLike) -> Iterator[None]:
    """Hold ``folder``'s training lock while the body runs (see the module's docstring)."""
    folder = Path(folder)
    if int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    lock = folder.with_name(f".{folder.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    mine = lock.with_name(f"{lock.name}.{os.getpid()}")
    mine.write_text(str(os.getpid()))  # linked into place whole: a lock never lacks its pid
    try:
        for attempt in range(2):
            try:
                os.link(mine, lock)
                break
            except FileExistsError:
                pid = owner(lock)
                if pid == os.getpid():  # this process holds it already: the outer claim releases it
                    yield
                    return
                if attempt or (pid is not None and alive(pid)):
                    raise UserError(
                        f"{folder} is being trained by process {pid} ({lock}); wait for it or stop it"
                    ) from None
                lock.unlink(missing_ok=True)  # its process is gone
    finally:
        mine.unlink(missing_ok=True)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None
