"""The small commands: ``locrnn demo`` (train and sweep in minutes), ``locrnn models`` (the zoo)
and ``locrnn info`` (versions, device, measured speed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io import UserError
from .checks import at_least


def add_demo(sub) -> None:
    d = sub.add_parser(
        "demo", help="train LocRNN on 9x9 mazes and show extrapolation to 13x13 (<= 10 min on 2 CPU cores)"
    )
    d.add_argument("--out", default="runs", help="folder for the run (default: runs)")
    d.add_argument(
        "--n-train",
        type=int,
        default=12_000,
        help="most training mazes (default 12000; stops at 97%% validation at a trained step count)",
    )
    d.add_argument(
        "--minutes", type=float, default=None, help="also stop training after this many minutes (default: no limit)"
    )
    d.add_argument("--n-test", type=int, default=200, help="test mazes per size in the sweep")
    d.add_argument("--seed", type=int, default=0)


def demo(args: argparse.Namespace) -> None:
    from ..demo import run_demo

    at_least(args, n_test=1, n_train=8)
    if args.minutes is not None and not args.minutes > 0:
        raise UserError(f"--minutes must be positive, got {args.minutes}")
    run_demo(out=Path(args.out), n_train=args.n_train, minutes=args.minutes, n_test=args.n_test, seed=args.seed)


def add_models(sub) -> None:
    mo = sub.add_parser("models", help="list the model zoo")
    mo.add_argument("--task", default=None)


def models(args: argparse.Namespace) -> None:
    from ..models import get_entry, list_models
    from ..models.summary import model_table

    if args.task is not None:
        from ..tasks import get_task

        get_task(args.task)
    names = list_models(args.task)
    print(model_table([get_entry(n) for n in names], task=args.task))


def add_info(sub) -> None:
    i = sub.add_parser("info", help="versions, device, CPU features, precision and a measured convolution rate")
    i.add_argument("--json", action="store_true", help="print it as JSON")
    i.add_argument("--device", default="auto")
    i.add_argument("--seconds", type=float, default=1.0, help="time per measured rate (default 1)")


def info(args: argparse.Namespace) -> None:
    import json

    from ..info import format_info, system_info

    if args.seconds <= 0:
        raise UserError(f"--seconds must be positive, got {args.seconds}")
    result = system_info(device=args.device, seconds=args.seconds)
    print(json.dumps(result, indent=2) if args.json else format_info(result))
