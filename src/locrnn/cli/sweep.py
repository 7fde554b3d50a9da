"""``locrnn sweep``: accuracy vs test-time steps (or per-sample halting) of a checkpoint, and the
step grammar of ``--steps`` (:func:`parse_steps`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..io import UserError
from .checks import at_least, int_list

if TYPE_CHECKING:
    from ..evaluation.spec import SweepSpec


def add_parser(sub) -> None:
    s = sub.add_parser("sweep", help="accuracy vs test-time steps on easier and harder data")
    s.add_argument("run", nargs="?", help="run folder or checkpoint (x.safetensors / x.json)")
    s.add_argument("--pretrained", default=None, help="a checkpoint shipped with locrnn, e.g. locrnn-mazes")
    s.add_argument(
        "--sizes",
        "--difficulties",
        "--lengths",
        dest="difficulties",
        default=None,
        help="comma-separated maze sizes or path lengths (default: the task's three)",
    )
    s.add_argument("--steps", default=None, help="e.g. 1:60, or 1:60,70:600:10 (default 1..4x trained steps)")
    s.add_argument("--n", type=int, default=1000, help="test samples per difficulty")
    s.add_argument("--data-root", default=None, help="read test data from here instead of generating")
    s.add_argument("--out", default=None, help="output folder (default RUN/sweep)")
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--device", default="auto")
    s.add_argument("--precision", default="auto")
    s.add_argument(
        "--halt",
        choices=["prediction", "state", "act"],
        default=None,
        help="instead of a fixed step count, stop each sample when its prediction (or state) stops changing, "
        "or when its learned halting head says so (act: models trained with --objective act)",
    )
    s.add_argument(
        "--max-steps", type=int, default=None, help="halting: the most steps a sample may use (default 10x trained)"
    )
    s.add_argument(
        "--patience",
        type=int,
        default=None,
        help="halting: unchanged steps needed to stop (default: the checkpoint's test_time setting, else 5)",
    )
    s.add_argument("--tol", type=float, default=1e-3, help="halting by state: relative change that counts as unchanged")
    s.add_argument(
        "--damping",
        type=float,
        default=None,
        help="test-time damping beta in (0, 1]: each step after the first moves beta of the way to the new state "
        "(same fixed points, smaller moves; default: the checkpoint's test_time setting, else 1 = as trained)",
    )


def run(args: argparse.Namespace) -> None:
    from ..evaluation.extrapolation import evaluate_checkpoint
    from ..evaluation.tables import halting_table, summary_table

    spec = sweep_spec(args)
    rows, out = evaluate_checkpoint(spec)
    print(halting_table(rows) if spec.halt else summary_table(rows))
    print(f"rows: {out / (spec.folder + '.csv')}  plot: {out / (spec.folder + '.png')}")


def sweep_spec(args: argparse.Namespace) -> SweepSpec:
    """The ``SweepSpec`` of ``locrnn sweep``'s options, checked before any work (naming the flags)."""
    from ..evaluation.spec import SweepSpec

    if args.pretrained == "":
        raise UserError("--pretrained needs a name, e.g. locrnn-mazes (see src/locrnn/pretrained/)")
    if (args.run is None) == (args.pretrained is None):
        raise UserError("give either a run folder / checkpoint or --pretrained NAME")
    at_least(args, n=1, batch_size=1, patience=1, max_steps=1)
    if not args.tol > 0:
        raise UserError(f"--tol must be positive, got {args.tol}")
    if args.damping is not None and not 0 < args.damping <= 1:
        raise UserError(f"--damping must be in (0, 1] (1: no damping), got {args.damping}")
    checkpoint, out = args.run, args.out
    if args.pretrained:
        from ..models.hub import pretrained_path

        checkpoint = str(pretrained_path(args.pretrained))
        out = out or str(Path("runs") / "pretrained" / args.pretrained / ("halting" if args.halt else "sweep"))
    return SweepSpec(
        checkpoint,
        difficulties=int_list(args.difficulties, "--sizes") if args.difficulties else None,
        steps=None if args.halt or not args.steps else parse_steps(args.steps),
        n=args.n,
        data_root=args.data_root,
        out=out,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        halt=args.halt,
        max_steps=args.max_steps,
        patience=args.patience,
        tol=args.tol,
        damping=args.damping,
    )


def parse_steps(text: str) -> list[int]:
    """'1:60' -> 1..60, '1:60:5' -> 1,6,...,56,60, '5,10,15' -> those; parts combine:
    '1:60,70:600:10' -> 1..60 then every 10th step to 600 (sorted, without repeats)."""
    steps: set[int] = set()
    try:
        for part in (p.strip() for p in text.strip().split(",")):
            if not part:
                continue
            if ":" not in part:
                steps.add(int(part))
                continue
            bounds = [int(p) for p in part.split(":")]
            if len(bounds) not in (2, 3):
                raise ValueError
            lo, hi, stride = bounds[0], bounds[1], bounds[2] if len(bounds) == 3 else 1
            if stride < 1:
                raise UserError(f"--steps {text!r}: the stride of {part!r} must be at least 1")
            if lo > hi:
                raise UserError(f"--steps {text!r}: the range {part!r} is empty (write FIRST:LAST with FIRST <= LAST)")
            steps.update(range(lo, hi + 1, stride))
            steps.add(hi)
    except UserError:
        raise
    except ValueError:
        raise UserError(f"cannot read steps {text!r}; use e.g. 1:60, 1:600:10, 5,10,15 or 1:60,70:600:10") from None
    if not steps:
        raise UserError(f"--steps {text!r} names no step count")
    if min(steps) < 1:
        raise UserError(f"--steps {text!r}: step counts must be >= 1, got {min(steps)}")
    return sorted(steps)
