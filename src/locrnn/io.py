"""Files that are never half-written: atomic writes, npy arrays, checkpoints (safetensors + JSON).

Every writer writes to a temporary name in the target folder and renames it into place
(``os.replace`` is atomic on POSIX), so a killed process leaves either the old file or the new
one, never a truncated file under the final name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1


class UserError(ValueError):
    """A problem with what the user gave us (a path, a file, an argument): shown as one line by the
    CLI (exit code 2). A ``ValueError``, so that callers of the Python API may catch either; any
    other exception, a plain ``ValueError`` included, is a bug and surfaces as a traceback.

    ``settings`` names the settings (config fields) the message is about, as the message writes
    them; the CLI shows them as its flags (``batch_size`` -> ``--batch-size``)."""

    def __init__(self, message: str, *, settings: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.settings = tuple(settings)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        try:
            yield tmp
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the file gets the permissions open() would give
            os.replace(tmp, path)
        except Exception as e:  # a full disk, a file size limit, ...: one line naming the file
            cause = write_failure(e, path.parent)
            if cause is None:
                raise
            raise UserError(f"cannot write {path}: {cause} (the previous file, if any, is kept)") from None
    finally:
        if tmp.exists():
            tmp.unlink()


_WRITE_ERRORS = ("os error", "file too large", "no space left", "quota exceeded", "requested and", "failed writing")


def write_failure(e: BaseException, folder: Path) -> str | None:
    """Why writing into ``folder`` failed, in words, if ``e`` is a failed write: an ``OSError``
    (ENOSPC, EFBIG, EDQUOT, EIO, ...), or the error that torch, safetensors or NumPy raise for one
    (their messages do not always carry the errno); None for anything else (a bug: re-raised)."""
    text = str(e).lower()
    if isinstance(e, OSError) and e.strerror:
        return e.strerror[0].lower() + e.strerror[1:]
    torch_writer = isinstance(e, RuntimeError) and any(
        w in text for w in ("inline_container", "pytorchstreamwriter", "iostream error", "file write failed")
    )  # torch.save's zip writer does not pass the errno on
    if not (isinstance(e, OSError) or torch_writer or any(w in text for w in _WRITE_ERRORS)):
        return None
    for errno_, words in ((28, "no space left on device"), (27, "file too large"), (122, "disk quota exceeded")):
        if f"os error {errno_})" in text or words in text:
            return words
    try:  # the error does not say: look
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY:
            return f"the write failed: a file size limit (ulimit -f) of {soft} bytes is set"
    except (ImportError, ValueError, OSError):
        pass
    try:
        if shutil.disk_usage(folder).free < 64 << 20:
            return "no space left on device"
    except OSError:
        pass
    return f"the write failed ({' '.join(str(e).split())[:200]})"


@contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that is renamed to ``path`` once everything in it is written."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists (pass overwrite=True to replace it)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent)  # of writers killed before
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        try:
            yield tmp
        except UserError as e:  # e.g. a full disk: named by the final path, not the temporary one
            raise UserError(str(e).replace(str(tmp), str(path))) from None
        except Exception as e:
            cause = write_failure(e, path.parent)
            if cause is None:
                raise
            raise UserError(f"cannot write {path}: {cause}") from None
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


_TEMP = re.compile(r"^\..+?\.(?:(\d+)-)?[^.]+\.tmp$")


def remove_stale_temps(folder: str | os.PathLike, *, owned: bool = False) -> list[Path]:
    """Remove the temporary files and folders (``.<name>.<pid>-XXXX.tmp``) that writers killed
    mid-write left in ``folder``: those of a process that is gone; with ``owned`` (the caller holds
    the folder's lock, so no one else writes there) also those that name no process (older
    locrnn). Returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if not m:
            continue
        pid = int(m.group(1)) if m.group(1) else None
        if pid == os.getpid() or (pid is None and not owned) or (pid is not None and alive(pid)):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass  # another process cleaned it first, or it cannot be removed: harmless
    return removed


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs. A killed process that nobody has reaped yet (a zombie,
    e.g. a torchrun worker whose launcher was killed, waiting for init) has stopped: not alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    try:  # Linux: the state letter after the command name in /proc/PID/stat
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def load_npy(path: str | os.PathLike, *, mmap: bool = False) -> np.ndarray:
    """Load an ``.npy`` file; a missing, corrupt or truncated file raises ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"missing data file {path}")
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise UserError(f"{path} is not a .npy file (no NumPy header): corrupt, or another format")
        _check_npy_size(path, f)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):  # object arrays are pickles: never loaded
            raise UserError(f"{path} holds Python objects (a pickle), which locrnn does not load") from None
        raise UserError(f"corrupt or truncated .npy file {path}: {e}") from None
    except (OSError, EOFError) as e:
        raise UserError(f"corrupt or truncated .npy file {path}: {e}") from None


def _check_npy_size(path: Path, f) -> None:
    """Refuse a header that promises more data than the file holds (before anything is
    allocated: a crafted shape would otherwise ask for terabytes)."""
    f.seek(0)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError, EOFError, SyntaxError) as e:
        raise UserError(f"corrupt .npy header in {path}: {e}") from None
    if dtype.hasobject:  # a pickle: refused by the loader with its own message
        return
    need = f.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = path.stat().st_size
    if have < need:
        raise UserError(
            f"corrupt or truncated .npy file {path}: its header says shape {tuple(shape)} of {dtype} "
            f"({need} bytes), but the file holds {have} bytes"
        )


def writable_dir(path: str | os.PathLike) -> Path:
    """Create folder ``path`` if needed (before long work that writes there); ``UserError`` if impossible."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot write to folder {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to folder {path}: permission denied")
    return path


def save_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def load_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"missing file {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"corrupt JSON file {path}: {e}") from None
