"""Command line: ``locrnn {demo,data,train,sweep,reproduce,models,info}``. The only place that parses
arguments or prints for people; user errors become one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .io import UserError

if TYPE_CHECKING:
    from .evaluation.spec import SweepSpec


def _add_train(sub) -> None:
    from .training.config import FIELD_NOTES, FIELDS

    p = sub.add_parser(
        "train",
        help="train a model (any TrainConfig field can be set)",
        description="Train a model. Every field of locrnn.training.TrainConfig "
        "is an option; a preset (e.g. --preset paper) sets several at once.",
    )
    p.add_argument("--preset", help="preset file to start from (cpu, paper, pathfinder-cpu, ...)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    p.add_argument("--width", type=int, help="shortcut for --model-args '{\"width\": W}'")
    p.add_argument("--length", dest="size", metavar="N", help="PathFinder path length (the same field as --size)")
    for name, f in FIELDS.items():
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            metavar=str(f.type).split("[")[0].replace(" | None", "").upper(),
            help=" ".join(
                [FIELD_NOTES.get(name, "")] + ([f"(default {f.default!r})"] if not callable(f.default_factory) else [])
            ).strip()
            or None,
        )


def _build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="locrnn", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "demo", help="train LocRNN on 9x9 mazes and show extrapolation to 13x13 (<= 10 min on 2 CPU cores)"
    )
    d.add_argument("--out", default="runs", help="folder for the run (default: runs)")
    d.add_argument(
        "--n-train", type=int, default=12_000, help="most training mazes (default 12000; stops at 96%% validation)"
    )
    d.add_argument(
        "--minutes", type=float, default=None, help="also stop training after this many minutes (default: no limit)"
    )
    d.add_argument("--n-test", type=int, default=200, help="test mazes per size in the sweep")
    d.add_argument("--seed", type=int, default=0)

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
    _add_pathfinder_data(dsub)

    _add_train(sub)

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
    s.add_argument("--patience", type=int, default=5, help="halting: unchanged steps needed to stop")
    s.add_argument("--tol", type=float, default=1e-3, help="halting by state: relative change that counts as unchanged")

    r = sub.add_parser("reproduce", help="train, sweep and report the paper's figures")
    r.add_argument(
        "figure",
        help="fig1, fig2, fig3a, fig3b, fig4, fig7, all, or stability / stability-long (beyond the paper); "
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

    mo = sub.add_parser("models", help="list the model zoo")
    mo.add_argument("--task", default=None)

    i = sub.add_parser("info", help="versions, device, CPU features, precision and a measured convolution rate")
    i.add_argument("--json", action="store_true", help="print it as JSON")
    i.add_argument("--device", default="auto")
    i.add_argument("--seconds", type=float, default=1.0, help="time per measured rate (default 1)")
    return ap


def _add_pathfinder_data(dsub) -> None:
    from .data.pathfinder import PRESETS, SPLITS
    from .data.pathfinder_write import LAYOUTS

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
    p.add_argument("--overwrite", action="store_true")


def _cmd_pathfinder(args) -> None:
    from .data.pathfinder import pathfinder_params, preset_params
    from .data.pathfinder_write import dataset_name, write_pathfinder

    opts = dict(continuity=args.continuity, n_distractors=args.distractors, distractor_length=args.distractor_length)
    if args.preset:
        p = preset_params(args.preset, length=args.length, size=args.size, **opts)
    else:
        p = pathfinder_params(args.length or 14, args.size, family=args.family, **opts)
    folders = write_pathfinder(
        args.root, p, args.n, seed=args.seed, split=args.split, layout=args.layout, workers=args.workers,
        overwrite=args.overwrite, preview=args.preview, progress=True,
    )  # fmt: skip
    print(f"wrote {args.n} PathFinder images ({p.describe()}) to {', '.join(str(f) for f in folders)}")
    if args.preview:
        print(f"preview: {Path(args.root) / (dataset_name(p.length) + '_preview.png')}")


def _check_new_folder(folder: Path, overwrite: bool) -> None:
    from .io import writable_dir

    if folder.exists() and not overwrite:
        raise UserError(f"{folder} already exists (pass --overwrite to replace it)")
    writable_dir(folder.parent)


def _cmd_data(args) -> None:
    from .data.maze_io import v2_folder, write_mazes
    from .data.mazes import check_size, generate_mazes

    _at_least(args, n=1, workers=1)
    if args.dataset == "pathfinder":
        return _cmd_pathfinder(args)
    size = check_size(args.size)
    _check_new_folder(v2_folder(args.root, args.split, size), args.overwrite)  # before the work
    t0 = time.perf_counter()
    x, y = generate_mazes(args.n, size, seed=args.seed, split=args.split, workers=args.workers, progress=True)
    folder = write_mazes(args.root, args.split, size, x, y, overwrite=args.overwrite, dtype=args.dtype)
    took = time.perf_counter() - t0
    print(f"wrote {args.n} mazes of size {size} ({x.shape[-1]}x{x.shape[-1]} px) to {folder} in {took:.1f} s")


def _cmd_train(args) -> None:
    from .tasks import get_task
    from .training.config import FIELDS, make_config, parse_value
    from .training.trainer import train

    if args.resume:  # the run goes on with its own config.json: an option given too would be ignored
        given = [n for n in (*FIELDS, "preset", "width") if getattr(args, n, None) is not None]
        if given:
            flag = "--size/--length" if given[0] == "size" else f"--{given[0].replace('_', '-')}"
            raise UserError(
                f"{flag} cannot be given with --resume: {args.resume} continues with the settings in its "
                "config.json (start a new run to train with other settings)"
            )
        train(None, resume=args.resume, argv=sys.argv)  # type: ignore[arg-type]
        return
    overrides = {n: parse_value(n, getattr(args, n)) for n in FIELDS if getattr(args, n) is not None}
    if args.width is not None:
        overrides["model_args"] = {**overrides.get("model_args", {}), "width": args.width}
    task = overrides.get("task", "mazes")
    get_task(task)  # an unknown task is named as such, not as a missing preset
    preset = args.preset or ("cpu" if task == "mazes" else f"{task}-cpu")
    cfg = make_config(preset, **overrides)
    train(cfg, argv=sys.argv)


def _at_least(args, **lowest) -> None:
    """Refuse an option below its lowest value (before any work), naming it."""
    for name, lo in lowest.items():
        value = getattr(args, name, None)
        if value is not None and value < lo:
            raise UserError(f"--{name.replace('_', '-')} must be at least {lo}, got {value}")


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"{flag}: cannot read {text!r} as comma-separated integers (e.g. 9,11,13)") from None
    return values


def _sweep_spec(args) -> SweepSpec:
    """The ``SweepSpec`` of ``locrnn sweep``'s options, checked before any work (naming the flags)."""
    from .evaluation.spec import SweepSpec

    if args.pretrained == "":
        raise UserError("--pretrained needs a name, e.g. locrnn-mazes (see src/locrnn/pretrained/)")
    if (args.run is None) == (args.pretrained is None):
        raise UserError("give either a run folder / checkpoint or --pretrained NAME")
    _at_least(args, n=1, batch_size=1, patience=1, max_steps=1)
    if not args.tol > 0:
        raise UserError(f"--tol must be positive, got {args.tol}")
    checkpoint, out = args.run, args.out
    if args.pretrained:
        from .models.hub import pretrained_path

        checkpoint = str(pretrained_path(args.pretrained))
        out = out or str(Path("runs") / "pretrained" / args.pretrained / ("halting" if args.halt else "sweep"))
    return SweepSpec(
        checkpoint,
        difficulties=_int_list(args.difficulties, "--sizes") if args.difficulties else None,
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
    )


def _cmd_sweep(args) -> None:
    from .evaluation.extrapolation import evaluate_checkpoint
    from .evaluation.tables import halting_table, summary_table

    spec = _sweep_spec(args)
    rows, out = evaluate_checkpoint(spec)
    print(halting_table(rows) if spec.halt else summary_table(rows))
    print(f"rows: {out / (spec.folder + '.csv')}  plot: {out / (spec.folder + '.png')}")


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


def _cmd_reproduce(args) -> None:
    from .reproduce import EXPERIMENTS, FIGURES, ensure_trained, figure, find_run, make_figure
    from .reproduce.parallel import train_side_by_side
    from .reproduce.runs import train_under_torchrun

    _at_least(args, seeds=1, n_test=1, jobs=1)
    root, distributed = Path(args.root), int(os.environ.get("WORLD_SIZE", "1")) > 1
    if args.figure != "all" and args.figure not in EXPERIMENTS:  # one run, by name
        run = find_run(args.figure, scale=args.scale, seeds=args.seeds)
        if distributed:
            train_under_torchrun([run], args.scale, root)
        else:
            print(f"{run.key}: {ensure_trained(run, args.scale, root)}")
        return
    names = list(FIGURES) if args.figure == "all" else [args.figure]
    if args.figure == "all" and args.task:  # every figure that has runs of that task
        names = [n for n in names if any(r.task == args.task for r in figure(n, scale=args.scale).runs)]
    figs = [figure(name, seeds=args.seeds, task=args.task, scale=args.scale) for name in names]
    runs = [r for fig in figs for r in fig.runs]
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {args.jobs}")
    if distributed:  # all processes train every run together; rank 0 alone then sweeps and reports
        if not train_under_torchrun(runs, args.scale, root):
            return
    else:
        train_side_by_side(runs, args.scale, root, args.jobs)
    for name, fig in zip(names, figs):
        out = make_figure(fig, scale=args.scale, root=root, n_test=args.n_test)
        print(f"{name}: {out / 'README.md'}")


def _cmd_models(args) -> None:
    from .models import get_entry, list_models
    from .models.summary import model_table

    if args.task is not None:
        from .tasks import get_task

        get_task(args.task)
    names = list_models(args.task)
    print(model_table([get_entry(n) for n in names], task=args.task))


def _cmd_info(args) -> None:
    import json

    from .info import format_info, system_info

    if args.seconds <= 0:
        raise UserError(f"--seconds must be positive, got {args.seconds}")
    info = system_info(device=args.device, seconds=args.seconds)
    print(json.dumps(info, indent=2) if args.json else format_info(info))


# the library names settings; on the command line they are these flags
_FLAG_WORDS = (
    ("(pass overwrite=True to replace it)", "(pass --overwrite to replace it)"),
    ("(choose another name, or resume it)", "(choose another --name, or --resume it)"),
    ("init_from: ", "--init-from: "),
    ("try precision bf16 or fp32", "try --precision bf16 or fp32"),
    ("try clip 1", "--clip 1"),
)


def _as_flags(message: str, settings: tuple[str, ...] = ()) -> str:
    """A library message with the settings it names written as this command line's flags."""
    for setting, flag in _FLAG_WORDS:
        message = message.replace(setting, flag)
    for name in settings:  # the config fields a UserError says it is about, where it first names them
        message = re.sub(rf"(?<![\w-]){re.escape(name)}\b", "--" + name.replace("_", "-"), message, count=1)
    return message


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    with warnings.catch_warnings():  # warnings (e.g. skipped unreadable images) as one line each
        warnings.showwarning = lambda message, *_, **__: print(
            f"locrnn {args.command}: warning: {' '.join(str(message).split())}", file=sys.stderr
        )
        return _run(args)


def _run(args) -> int:
    try:
        if args.command == "demo":
            from .demo import run_demo

            _at_least(args, n_test=1, n_train=8)
            if args.minutes is not None and not args.minutes > 0:
                raise UserError(f"--minutes must be positive, got {args.minutes}")
            run_demo(out=Path(args.out), n_train=args.n_train, minutes=args.minutes, n_test=args.n_test, seed=args.seed)
        elif args.command == "data":
            _cmd_data(args)
        elif args.command == "train":
            _cmd_train(args)
        elif args.command == "sweep":
            _cmd_sweep(args)
        elif args.command == "reproduce":
            _cmd_reproduce(args)
        elif args.command == "models":
            _cmd_models(args)
        elif args.command == "info":
            _cmd_info(args)
    except (UserError, OSError) as e:  # OSError: e.g. a full disk (any other error is a bug: a traceback)
        message = _as_flags(" ".join(str(e).split()), getattr(e, "settings", ()))
        print(f"locrnn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # training diverged: a failed run, not a bad input
        print(f"locrnn {args.command}: error: {_as_flags(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
