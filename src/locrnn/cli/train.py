"""``locrnn train``: every field of ``TrainConfig`` is an option (its type's name, or its
``Literal`` choices, as the metavar; its note as the help)."""

from __future__ import annotations

import argparse
import sys
import types
from typing import Any, Literal, Union, get_args, get_origin

from ..io import UserError


def add_parser(sub) -> None:
    from ..training.config import FIELD_NOTES, FIELDS, TYPES

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
            **({"nargs": "?", "const": "true"} if TYPES[name] is bool else {}),  # a bare --flag: true
            metavar=metavar(TYPES[name]),
            help=" ".join(
                [FIELD_NOTES.get(name, "")] + ([f"(default {f.default!r})"] if not callable(f.default_factory) else [])
            ).strip()
            or None,
        )


def metavar(tp: Any) -> str:
    """How help names a field's values: ``{a,b}`` for a ``Literal``, else its type (``INT``,
    ``FLOAT``, ``LIST``, ...); ``None`` as an alternative is left out."""
    alternatives = [a for a in get_args(tp) if a is not type(None)] if _is_union(tp) else [tp]
    if len(alternatives) == 1 and get_origin(alternatives[0]) is Literal:
        return "{" + ",".join(str(c) for c in get_args(alternatives[0])) + "}"
    return "|".join(getattr(get_origin(a) or a, "__name__", str(a)).upper() for a in alternatives)


def _is_union(tp: Any) -> bool:
    return get_origin(tp) is Union or isinstance(tp, types.UnionType)


def run(args: argparse.Namespace) -> None:
    from ..tasks import get_task
    from ..training.config import FIELDS, make_config, parse_value
    from ..training.trainer import train

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
