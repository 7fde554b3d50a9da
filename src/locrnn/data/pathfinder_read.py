"""Read PathFinder data in any layout of :mod:`.pathfinder_write` (where the layouts are
described), with labels normalised to 1 = connected; decoded images are kept in a uint8
memory-mapped cache beside the data.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np

from ..io import UserError, atomic_dir, load_npy, save_npy
from ..pool import pool_map, worker_count
from .pathfinder_write import SLICES, dataset_name


def _names(length: int) -> list[str]:
    """Folder names a set of this path length may have (length 6 is also ``curv_baseline``)."""
    return [dataset_name(length)] + ([f"curv_contour_length_{length}"] if length == 6 else [])


def read_metadata(path: str | os.PathLike) -> list[list[str]]:
    """Rows of a metadata file: a binary ``.npy`` string array or whitespace-separated text."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read metadata file {path}: {e.strerror or e}") from None
    if raw.startswith(b"\x93NUMPY"):
        try:
            arr = np.load(io.BytesIO(raw), allow_pickle=False)
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise UserError(f"{path}: a pickled object array; re-save it as a string array or text") from None
            raise UserError(f"corrupt metadata file {path}: {e}") from None
        except (OSError, EOFError) as e:
            raise UserError(f"corrupt metadata file {path}: {e}") from None
        arr = np.atleast_2d(arr)
        if arr.dtype.kind == "S":
            arr = np.char.decode(arr, "utf-8")
        rows = [[str(v) for v in r] for r in arr]
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"metadata file {path} is neither a .npy array nor text") from None
        rows = [line.split() for line in text.splitlines() if line.strip()]
    for k, r in enumerate(rows):
        if len(r) < 4 or r[3] not in ("0", "1", "0.0", "1.0"):
            raise UserError(f"{path}: row {k} is not 'subpath filename index label ...': {' '.join(r)[:80]}")
    return rows


def _natural(text: str) -> list:
    """Sort key that orders sample_2 before sample_10."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text) if t]


def _lra_entries(folder: Path) -> list[tuple[Path, int]]:
    files = sorted((folder / "metadata").glob("*.npy"), key=lambda f: _natural(f.name))
    files = [f for f in files if f.stem != "combined"] or files
    if not files:
        raise UserError(f"no metadata/*.npy files in {folder}")
    return [(folder / r[0] / r[1], int(float(r[3]))) for f in files for r in read_metadata(f)]


def _pngs(folder: Path) -> list[Path]:
    meta = folder / "metadata"
    if meta.is_dir() and any(meta.glob("*.npy")):
        return [p for p, _ in _lra_entries(folder)]
    return sorted(folder.rglob("*.png"), key=lambda p: [_natural(s) for s in p.relative_to(folder).parts])


def _interleave(pos: list[Path], neg: list[Path]) -> list[tuple[Path, int]]:
    out = []
    for k in range(max(len(pos), len(neg))):
        out += [(pos[k], 1)] if k < len(pos) else []
        out += [(neg[k], 0)] if k < len(neg) else []
    return out


def find_pathfinder(root: str | os.PathLike, length: int, split: str = "train") -> tuple[str, list[tuple[Path, int]]]:
    """Locate the images of one path length under ``root``; return (layout, [(png, label)]).

    ``root`` may be the dataset folder itself, its parent (``lra`` / ``2018``) or an
    ImageFolder root with ``train/``, ``val/`` (and ``test/``) inside.
    """
    if split not in SLICES:
        raise UserError(f"unknown split {split!r}; choose one of {sorted(SLICES)}")
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"missing PathFinder data folder {root}")
    for name in _names(length):
        for sub in [split, "val"] if split == "test" else [split]:
            base = root / sub
            if (base / name).is_dir() and (base / f"{name}_neg").is_dir():
                return "imagefolder", _interleave(_pngs(base / name), _pngs(base / f"{name}_neg"))
        if (root / f"{name}_neg").is_dir() and (root / name).is_dir():
            return "2018", _slice(_interleave(_pngs(root / name), _pngs(root / f"{name}_neg")), split)
        if (root / name / "metadata").is_dir():
            return "lra", _slice(_lra_entries(root / name), split)
    if (root / "metadata").is_dir() and (root / "imgs").is_dir():
        return "lra", _slice(_lra_entries(root), split)
    raise UserError(
        f"no PathFinder data of length {length} under {root}: expected {dataset_name(length)}/ with "
        f"metadata/ (LRA layout), {dataset_name(length)}/ and {dataset_name(length)}_neg/ (2018 layout), "
        f"or {split}/{dataset_name(length)}/ and {split}/{dataset_name(length)}_neg/ (ImageFolder)"
    )


def _slice(entries: list, split: str) -> list:
    lo, hi = SLICES[split]
    return entries[round(lo * len(entries)) : round(hi * len(entries))]


def _decode(args) -> tuple[list[np.ndarray | None], list[str]]:
    """Worker: decode PNGs to uint8 (size, size); blank or unreadable files give None + a reason."""
    from PIL import Image, UnidentifiedImageError

    paths, size = args
    out, bad = [], []
    for path in paths:
        try:
            with Image.open(path) as im:
                im = im.convert("L")
                if size and im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
            if arr.size == 0 or arr.min() == arr.max():
                out.append(None)
                bad.append(f"{path} (blank)")
            else:
                out.append(arr)
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
            out.append(None)
            empty = Path(path).is_file() and Path(path).stat().st_size == 0
            reason = "empty file" if empty else " ".join(str(e).split())[:80] or type(e).__name__
            bad.append(f"{path} ({'missing' if not Path(path).exists() else reason})")
    return out, bad


def _warn_skipped(bad: list[str]) -> None:
    if bad:
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        warnings.warn(f"skipped {len(bad)} blank or unreadable PathFinder image(s): {shown}", stacklevel=3)


def decode_images(
    entries: list[tuple[Path, int]], size: int | None = None, *, workers: int | None = None, out=None, progress=False
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode (png, label) entries; returns images (n, H, W) uint8, labels, and the skipped files.

    All images must share one size unless ``size`` resizes them (bilinear, anti-aliased). With
    ``out`` (an array of len(entries) rows, e.g. a memory map), images are written there in order.
    """
    workers = worker_count(workers)
    paths = [str(p) for p, _ in entries]
    step = max(1, min(512, -(-len(paths) // workers)))
    jobs = [(paths[a : a + step], size) for a in range(0, len(paths), step)]
    kept, labels, bad, at, shape = [], [], [], 0, None
    desc, total = "decode PathFinder PNGs", len(paths)
    with pool_map(_decode, jobs, workers=workers, progress=progress, desc=desc, total=total, unit="img") as results:
        for j, (arrays, why) in enumerate(results):
            bad += why
            for k, arr in enumerate(arrays):
                if arr is None:
                    continue
                if shape is None:
                    shape = arr.shape
                elif arr.shape != shape:
                    raise UserError(
                        f"{paths[j * step + k]} is {arr.shape[1]}x{arr.shape[0]} px, others are "
                        f"{shape[1]}x{shape[0]}; set size to resize them"
                    )
                if out is not None:
                    out[at] = arr
                else:
                    kept.append(arr)
                labels.append(entries[j * step + k][1])
                at += 1
    if at == 0:
        raise UserError(f"no readable PathFinder images among {len(paths)} files, e.g. {bad[0] if bad else paths[0]}")
    images = out[:at] if out is not None else np.stack(kept)
    return images, np.asarray(labels, dtype=np.int64), bad


def load_pathfinder(
    root: str | os.PathLike,
    length: int,
    split: str = "train",
    *,
    size: int | None = None,
    n: int | None = None,
    cache: bool = True,
    workers: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W) uint8 and labels (N,) int64 (1 = connected) of one split under ``root``.

    Blank or unreadable PNGs are skipped with one warning that names them. With ``cache``, the
    decoded images are kept in ``<root>/.locrnn_cache/`` as a uint8 ``.npy`` and memory-mapped
    on later calls (rebuilt when the list of files, or a file's size or time, changes), so epochs are not bound by PNG
    decoding. ``n`` keeps the first n images of the split.
    """
    layout, entries = find_pathfinder(root, length, split)
    if n:
        entries = entries[:n]
    if not entries:
        raise UserError(f"the {split} split of PathFinder length {length} under {root} is empty")
    if not cache:
        images, labels, bad = decode_images(entries, size, workers=workers, progress=progress)
        _warn_skipped(bad)
        return images, labels
    listing = "\n".join(f"{p} {y} {_stamp(p)}" for p, y in entries) + f"\nsize {size}\n"
    key = hashlib.sha1(listing.encode()).hexdigest()[:16]
    folder = Path(root) / ".locrnn_cache" / f"{dataset_name(length)}-{split}-{size or 'native'}px-{key}"
    if (folder / "images.npy").is_file() and (folder / "labels.npy").is_file():
        images, labels = load_npy(folder / "images.npy", mmap=True), load_npy(folder / "labels.npy")
        if len(images) == len(labels):
            bad = json.loads((folder / "skipped.json").read_text()) if (folder / "skipped.json").is_file() else []
            _warn_skipped(bad)
            return images, labels
    try:
        built = _build_cache(folder, entries, size, workers, progress)
    except UserError as e:
        if "cannot write" not in str(e):
            raise
        warnings.warn(f"cannot write a PathFinder cache under {root} ({e}); decoding into memory", stacklevel=2)
        images, labels, bad = decode_images(entries, size, workers=workers, progress=progress)
        _warn_skipped(bad)
        return images, labels
    _warn_skipped(built)
    return load_npy(folder / "images.npy", mmap=True), load_npy(folder / "labels.npy")


def _stamp(path: Path) -> str:
    """A file's size and modification time: a repaired (or replaced) PNG changes the cache key."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size} {st.st_mtime_ns}"


def _build_cache(folder: Path, entries, size, workers, progress) -> list[str]:
    from PIL import Image

    first = next((p for p, _ in entries if p.is_file() and p.stat().st_size > 0), None)
    if first is None:
        example = f"{entries[0][0]} (empty or missing)"
        raise UserError(f"no readable PathFinder images among {len(entries)} files, e.g. {example}")
    if size:
        shape = (size, size)
    else:
        try:
            with Image.open(first) as im:
                shape = im.size[::-1]
        except OSError:
            shape = None
    with atomic_dir(folder, overwrite=True) as tmp:
        if shape is None:  # the first file is unreadable: decode in memory, then save
            images, labels, bad = decode_images(entries, size, workers=workers, progress=progress)
            save_npy(tmp / "images.npy", images)
        else:
            mm = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(len(entries), *shape))
            images, labels, bad = decode_images(entries, size, workers=workers, out=mm, progress=progress)
            n_ok = len(images)
            mm.flush()
            del mm, images
            if n_ok < len(entries):
                _shrink_npy(tmp / "images.npy", n_ok)
        save_npy(tmp / "labels.npy", labels)
        (tmp / "skipped.json").write_text(json.dumps(bad))
    return bad


def _shrink_npy(path: Path, rows: int) -> None:
    """Keep the first ``rows`` rows of an ``.npy`` file (rewrite the header, truncate the data)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        offset = f.tell()
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": (rows, *shape[1:])}
    buf = io.BytesIO()
    write = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    write(buf, header)
    if buf.tell() == offset:
        with open(path, "r+b") as f:
            f.write(buf.getvalue())
        os.truncate(path, offset + rows * int(np.prod(shape[1:])) * dtype.itemsize)
        return
    full = np.load(path, mmap_mode="r")  # a header of another length: copy (rare)
    part = np.array(full[:rows])
    del full
    save_npy(path, part)
