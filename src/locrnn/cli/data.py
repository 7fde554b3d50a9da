"""``locrnn data {mazes,pathfinder}``: generate datasets in the public formats."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .checks import at_least, check_new_folder


def add_parser(sub) -> None:
    data = sub.add_parser("data", help="generate datasets in the public formats")
    dsub = data.add_subparsers(dest="dataset", required=True)
    m = dsub.add_parser("mazes", help="mazes in the easy-to-hard v2 layout")
    m.add_argument("--size", required=True, help="odd maze size S >= 3 (9, 11, 13, 59, ...)")
    m.add_argument("--split", default="train", choices=["train", "test", "val"])
    m.add_argument("--n", type=int, required=True, help="number of mazes")
    m.add_argument("--root", required=True, help="writes ROOT/maze_data_{split}_{S}/")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    m.add_argument("--dtype", default="uint8", choices=["uint8", "float32", "float64"])
    m.add_argument("--overwrite", action="store_true")
    _add_pathfinder(dsub)


def _add_pathfinder(dsub) -> None:
    from ..data.pathfinder import PRESETS, SPLITS
    from ..data.pathfinder_write import LAYOUTS

    p = dsub.add_parser("pathfinder", help="PathFinder images in the official layout (imgs/, metadata/)")
    p.add_argument("--length", type=int, default=None, help="paddles per target path (default 14)")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--root", required=True, help="writes ROOT/curv_contour_length_N/")
    p.add_argument("--size", type=int, default=None, help="image side, px (default 150; 32/64/128/256: the LRA sets)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a named set; --length, --size, ... override it")
    p.add_argument("--family", default="auto", choices=["auto", "paper", "lra"], help="geometry (default auto)")
    p.add_argument("--continuity", type=float, default=None, help="curvature rule: turns < 90/c degrees")
    p.add_argument("--distractors", type=int, default=None, help="number of distractor paths")
    p.add_argument("--distractor-length", type=int, default=None, help="paddles per distractor path")
    p.add_argument("--layout", default="lra", choices=LAYOUTS, help="on-disk layout (default lra)")
    p.add_argument("--split", default="train", choices=sorted(SPLITS), help="random stream (default train)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--preview", action="store_true", help="also save ROOT/<name>_preview.png")
    p.add_argument(
        "--balance-distance",
        action="store_true",
        help="draw negatives whose marker distance follows the positives' (distance alone then tells nothing)",
    )
    p.add_argument("--overwrite", action="store_true")


def run(args: argparse.Namespace) -> None:
    from ..data.maze_io import v2_folder, write_mazes
    from ..data.mazes import check_size, generate_mazes

    at_least(args, n=1, workers=1)
    if args.dataset == "pathfinder":
        return _pathfinder(args)
    size = check_size(args.size)
    check_new_folder(v2_folder(args.root, args.split, size), args.overwrite)  # before the work
    t0 = time.perf_counter()
    x, y = generate_mazes(args.n, size, seed=args.seed, split=args.split, workers=args.workers, progress=True)
    folder = write_mazes(args.root, args.split, size, x, y, overwrite=args.overwrite, dtype=args.dtype)
    took = time.perf_counter() - t0
    print(f"wrote {args.n} mazes of size {size} ({x.shape[-1]}x{x.shape[-1]} px) to {folder} in {took:.1f} s")


def _pathfinder(args: argparse.Namespace) -> None:
    from ..data.pathfinder import preset_params, published_params
    from ..data.pathfinder_write import dataset_name, write_pathfinder

    opts = dict(continuity=args.continuity, n_distractors=args.distractors, distractor_length=args.distractor_length)
    opts["balance_distance"] = args.balance_distance
    if args.preset:
        p = preset_params(args.preset, length=args.length, size=args.size, **opts)
    else:
        p = published_params(args.length or 14, args.size, family=args.family, **opts)
    folders = write_pathfinder(
        args.root, p, args.n, seed=args.seed, split=args.split, layout=args.layout, workers=args.workers,
        overwrite=args.overwrite, preview=args.preview, progress=True,
    )  # fmt: skip
    print(f"wrote {args.n} PathFinder images ({p.describe()}) to {', '.join(str(f) for f in folders)}")
    if args.preview:
        print(f"preview: {Path(args.root) / (dataset_name(p.length) + '_preview.png')}")
