"""``locrnn reproduce``: train, sweep and report the paper's figures (or train one run by name)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..io import UserError
from .checks import at_least


def add_parser(sub) -> None:
    r = sub.add_parser("reproduce", help="train, sweep and report the paper's figures")
    r.add_argument(
        "figure",
        help="fig1, fig2, fig3a, fig3b, fig4, fig7, all, or stability / stability-long / size-extrapolation "
        "(beyond the paper); "
        "or one run's name (e.g. pathfinder6-convgru-s0) to train just that run",
    )
    r.add_argument(
        "--scale",
        default="quick",
        choices=["quick", "paper", "smoke"],
        help="quick: this CPU (minutes per run); paper: the paper's recipes (GPU, runs under torchrun)",
    )
    r.add_argument("--seeds", type=int, default=1, help="training seeds per run")
    r.add_argument("--root", default="results", help="results/<fig>/ and results/runs/<scale>/ go here")
    r.add_argument("--n-test", type=int, default=None, help="test samples per difficulty")
    r.add_argument(
        "--task", choices=["mazes", "pathfinder"], default=None, help="only this task's runs (fig1 has both halves)"
    )
    r.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="train this many missing runs side by side, each in its own process with its share of the cores",
    )
    r.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop each run then, with its schedule stretched to fit (the paper's recipes in a short GPU lease); "
        "a budgeted run is a recipe of its own",
    )
    r.add_argument(
        "--compile",
        choices=["auto", "on", "off"],
        default="auto",
        help="torch.compile the training step (auto: on CUDA only)",
    )

    g = r.add_argument_group("size-extrapolation")
    g.add_argument("--large", action="store_true", help="also test 99x99 mazes (always at paper scale)")
    g.add_argument(
        "--dt", action="store_true", help="also dt_recall with DeepThinking's recipe (always at paper scale)"
    )
    g.add_argument(
        "--pretrained",
        nargs="+",
        default=(),
        metavar="NAME",
        help="test these shipped checkpoints (e.g. locrnn-mazes-stable locrnn-mazes) or checkpoint paths "
        "instead of training LocRNN's runs (with --dt, dt_recall's run is still trained and tested)",
    )
    g.add_argument(
        "--cached-only",
        nargs="+",
        default=(),
        metavar="NAME",
        help="of the models tested (as named in --pretrained, or run names), read these only from the sizes "
        "measured before: a size not measured yet is left out (-), not computed",
    )
    g.add_argument("--progress", action="store_true", help="a progress bar per size (steps, mazes left, ETA)")


def run(args: argparse.Namespace) -> None:
    from ..reproduce import EXPERIMENTS, FIGURES, ensure_trained, figure, find_run, make_figure, make_size_figure
    from ..reproduce.figures import runs_to_train
    from ..reproduce.parallel import train_side_by_side
    from ..reproduce.recipes import RunOptions
    from ..reproduce.runs import train_under_torchrun

    at_least(args, seeds=1, n_test=1, jobs=1)
    if args.time_budget is not None and args.time_budget <= 0:
        raise UserError(f"--time-budget must be a positive number of seconds, got {args.time_budget:g}")
    opts = RunOptions(args.time_budget, {"auto": None, "on": True, "off": False}[args.compile])
    root, distributed = Path(args.root), int(os.environ.get("WORLD_SIZE", "1")) > 1
    if args.figure != "size-extrapolation" and (args.large or args.dt or args.pretrained or args.cached_only):
        raise UserError("--large, --dt, --pretrained and --cached-only are settings of size-extrapolation only")
    if args.figure != "all" and args.figure not in EXPERIMENTS:  # one run, by name
        run = find_run(args.figure, scale=args.scale, seeds=args.seeds)
        if distributed:
            train_under_torchrun([run], args.scale, root, opts=opts)
        else:
            print(f"{run.key}: {ensure_trained(run, args.scale, root, opts=opts)}")
        return
    names = list(FIGURES) if args.figure == "all" else [args.figure]
    if args.figure == "all" and args.task:  # every figure that has runs of that task
        names = [n for n in names if any(r.task == args.task for r in figure(n, scale=args.scale).runs)]
    figs = [_figure(name, args) for name in names]
    runs = [r for fig in figs for r in (runs_to_train(fig, args.pretrained) if fig.kind == "size" else fig.runs)]
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {args.jobs}")
    if distributed:  # all processes train every run together; rank 0 alone then sweeps and reports
        if not train_under_torchrun(runs, args.scale, root, opts=opts):
            return
    else:
        train_side_by_side(runs, args.scale, root, args.jobs, opts)
    for name, fig in zip(names, figs):
        if fig.kind == "size":
            out = make_size_figure(
                fig,
                scale=args.scale,
                root=root,
                n_test=args.n_test,
                pretrained=args.pretrained,
                cached_only=args.cached_only,
                progress=args.progress,
                opts=opts,
            )
        else:
            out = make_figure(fig, scale=args.scale, root=root, n_test=args.n_test, opts=opts)
        print(f"{name}: {out / 'README.md'}")


def _figure(name: str, args: argparse.Namespace):
    """The experiment ``name`` as the flags ask for it (size-extrapolation: its own flags)."""
    from ..reproduce import figure, size_figure

    if name == "size-extrapolation":
        return size_figure(args.seeds, args.scale, large=args.large, dt=args.dt)
    return figure(name, seeds=args.seeds, task=args.task, scale=args.scale)
