"""Read and write PathFinder data in the layouts users have; a uint8 memory-mapped cache.

Layouts (``pathfinder.md`` section 2), labels always normalised to 1 = connected:

* ``lra`` (the generator's and the Long Range Arena release's): ``<root>/<name>/imgs/<batch>/
  sample_<i>.png`` and ``<root>/<name>/metadata/<batch>.npy``, one row per image with the
  sub-folder in column 0, the file name in column 1 and the label in column 3. The generator
  writes binary ``.npy`` string arrays; the LRA release has plain text under the same name.
* ``2018`` (the hGRU release): ``<root>/<name>/`` (positives) and ``<root>/<name>_neg/``
  (negatives), each with ``imgs/`` (+ ``metadata/``); the label is the folder.
* ``imagefolder`` (the LocRNN authors' torchvision layout): ``<root>/<split>/<name>/*.png`` and
  ``<root>/<split>/<name>_neg/*.png`` (torchvision's class 0 is the positive folder; here 1).

``<name>`` is ``curv_contour_length_<N>`` (``curv_baseline`` for N = 6). Folders without
splits are cut in contiguous slices, train 80 % / val 10 % / test 10 % (as LRA does); the 2018
layout is first interleaved positive, negative, positive, ... so every slice is balanced.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..io import UserError, atomic_dir, atomic_path, load_npy, save_json, save_npy
from .pathfinder import PathFinderParams, check_params, chunk_jobs, generate_chunk, generate_pathfinder

LAYOUTS = ("lra", "2018", "imagefolder")
SLICES = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}
BATCH = 10000  # images per imgs/<batch>/ folder


def dataset_name(length: int) -> str:
    """Folder name of a path length in the official layouts."""
    return "curv_baseline" if length == 6 else f"curv_contour_length_{length}"


def _names(length: int) -> list[str]:
    return [dataset_name(length)] + ([f"curv_contour_length_{length}"] if length == 6 else [])


# --------------------------------------------------------------------------- writing


def _relpath(layout: str, index: int, batch: int) -> str:
    b, i = divmod(index, batch)
    return f"{b}_sample_{i}.png" if layout == "imagefolder" else f"imgs/{b}/sample_{i}.png"


def _write_pngs(args) -> tuple[np.ndarray, np.ndarray]:
    """Worker: generate a chunk and write its PNGs under ``dirs[label]``; return labels, margins."""
    from PIL import Image

    p, seed, split, start, count, layout, dirs, batch = args
    chunk = generate_chunk(p, seed, split, start, count)
    for k, (img, label) in enumerate(zip(chunk.images, chunk.labels)):
        path = Path(dirs[int(label)]) / _relpath(layout, start + k, batch)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, mode="L").save(path, format="PNG")
    return chunk.labels, chunk.margins


def _metadata_row(p: PathFinderParams, index: int, label: int, margin: float, batch: int) -> list[str]:
    b, i = divmod(index, batch)
    return [
        f"imgs/{b}",
        f"sample_{i}.png",
        str(i),
        str(label),
        f"{p.continuity:g}",
        str(p.length),
        str(p.distractor_length),
        f"{p.paddle_length:g}",
        f"{p.thickness:g}",
        f"{margin:g}",
        "1",
    ]


def write_pathfinder(
    root: str | os.PathLike,
    params: PathFinderParams,
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    layout: str = "lra",
    workers: int | None = None,
    overwrite: bool = False,
    preview: bool = False,
    batch: int = BATCH,
    progress: bool = False,
) -> list[Path]:
    """Generate ``n`` images and write them in ``layout``; return the folders written.

    Every folder is written under a temporary name and renamed once complete, so a killed run
    leaves no half-written dataset. ``lra`` also writes ``params.json`` (how the images were
    made). With ``preview``, ``<root>/<name>_preview.png`` shows 8 positives over 8 negatives.
    """
    p = check_params(params)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown PathFinder layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if n < 1:
        raise ValueError(f"number of images must be >= 1, got {n}")
    if batch < 1:
        raise ValueError(f"images per batch folder must be >= 1, got {batch}")
    root, name = Path(root), dataset_name(p.length)
    if layout == "lra":
        finals = {1: root / name, 0: root / name}
    elif layout == "2018":
        finals = {1: root / name, 0: root / f"{name}_neg"}
    else:
        finals = {1: root / split / name, 0: root / split / f"{name}_neg"}
    folders = sorted(set(finals.values()))
    workers = max(1, workers or os.cpu_count() or 1)
    with ExitStack() as stack:
        tmp = {f: stack.enter_context(atomic_dir(f, overwrite=overwrite)) for f in folders}
        dirs = {label: str(tmp[f]) for label, f in finals.items()}
        jobs = []
        for b0 in range(0, n, batch):  # a job never straddles two batch folders
            jobs += [(*j, layout, dirs, batch) for j in chunk_jobs(p, seed, split, b0, min(batch, n - b0), workers)]
        labels, margins = _run_jobs(jobs, workers, progress, f"write pathfinder {p.length} ({p.size} px)", n)
        if layout != "imagefolder":
            _write_metadata(p, labels, margins, finals, tmp, layout, batch)
        if layout == "lra":
            info = {"params": asdict(p), "seed": seed, "split": split, "n": n, "layout": layout, "batch": batch}
            save_json(tmp[finals[1]] / "params.json", info)
    if preview:
        write_preview(root / f"{name}_preview.png", p, seed=seed, split=split)
    return folders


def _run_jobs(jobs, workers, progress, desc, n) -> tuple[np.ndarray, np.ndarray]:
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=desc, unit="img")
    pool = ProcessPoolExecutor(min(workers, len(jobs))) if workers > 1 and len(jobs) > 1 else None
    labels, margins = [], []
    try:
        for y, m in pool.map(_write_pngs, jobs) if pool else map(_write_pngs, jobs):
            labels.append(y)
            margins.append(m)
            if bar is not None:
                bar.update(len(y))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    return np.concatenate(labels), np.concatenate(margins)


def _write_metadata(p, labels, margins, finals, tmp, layout, batch) -> None:
    for label, folder in ({1: finals[1]} if layout == "lra" else finals).items():
        meta = tmp[folder] / "metadata"
        meta.mkdir(exist_ok=True)
        for b0 in range(0, len(labels), batch):
            rows = [
                _metadata_row(p, i, int(labels[i]), float(margins[i]), batch)
                for i in range(b0, min(b0 + batch, len(labels)))
                if layout == "lra" or labels[i] == label
            ]
            if rows:
                save_npy(meta / f"{b0 // batch}.npy", np.array(rows, dtype=str))


def preview_grid(images: np.ndarray, labels: np.ndarray, per_row: int = 8, tile: int = 150) -> np.ndarray:
    """A uint8 grid: a row of positives over a row of negatives, tiles ``tile`` px, 4 px gaps."""
    from PIL import Image, ImageDraw

    rows = []
    for label, text in ((1, "connected (label 1)"), (0, "not connected (label 0)")):
        chosen = images[labels == label][:per_row]
        tiles = [np.asarray(Image.fromarray(im).resize((tile, tile), Image.NEAREST)) for im in chosen]
        tiles += [np.zeros((tile, tile), np.uint8)] * (per_row - len(tiles))
        row = np.full((tile + 18, per_row * (tile + 4)), 60, np.uint8)
        for k, t in enumerate(tiles):
            row[18:, k * (tile + 4) : k * (tile + 4) + tile] = t
        canvas = Image.fromarray(row)
        ImageDraw.Draw(canvas).text((4, 3), text, fill=255)
        rows.append(np.asarray(canvas))
    return np.concatenate(rows, 0)


def write_preview(path: str | os.PathLike, params: PathFinderParams, *, seed: int = 0, split: str = "train") -> Path:
    """Save a PNG grid of the first positives and negatives of a split (the same images as on disk)."""
    from PIL import Image

    x, y = generate_pathfinder(32, params, seed=seed, split=split, workers=1)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(preview_grid(x, y, tile=max(150, params.size))).save(tmp, format="PNG")
    return path


# --------------------------------------------------------------------------- reading


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
        raise ValueError(f"unknown split {split!r}; choose one of {sorted(SLICES)}")
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
    workers = max(1, workers or os.cpu_count() or 1)
    paths = [str(p) for p, _ in entries]
    step = max(1, min(512, -(-len(paths) // workers)))
    jobs = [(paths[a : a + step], size) for a in range(0, len(paths), step)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), desc="decode PathFinder PNGs", unit="img")
    pool = ProcessPoolExecutor(min(workers, len(jobs))) if workers > 1 and len(jobs) > 1 else None
    kept, labels, bad, at, shape = [], [], [], 0, None
    try:
        results = pool.map(_decode, jobs) if pool else map(_decode, jobs)
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
                        f"{shape[1]}x{shape[0]}; pass an image size to resize them"
                    )
                if out is not None:
                    out[at] = arr
                else:
                    kept.append(arr)
                labels.append(entries[j * step + k][1])
                at += 1
            if bar is not None:
                bar.update(len(arrays))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
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
    on later calls (rebuilt when the list of files changes), so epochs are not bound by PNG
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
    listing = "\n".join(f"{p} {y}" for p, y in entries) + f"\nsize {size}\n"
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
