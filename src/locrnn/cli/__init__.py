"""Command line: ``locrnn {demo,data,train,sweep,reproduce,models,info}``. The only place that parses
arguments or prints for people; user errors become one line on stderr and exit code 2.

Each command group is a module here with its parser and its command (``data``, ``train``,
``sweep``, ``reproduce``; ``tools``: demo, models and info); this module joins them and turns
errors into exit codes.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Callable

from ..io import UserError
from ..runtime import keep_freed_memory
from . import data, reproduce, sweep, tools, train

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="locrnn", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    tools.add_demo(sub)
    data.add_parser(sub)
    train.add_parser(sub)
    sweep.add_parser(sub)
    reproduce.add_parser(sub)
    tools.add_models(sub)
    tools.add_info(sub)
    return ap


def _command(name: str) -> Callable[[argparse.Namespace], None]:
    """The function of command ``name`` (looked up when called, so that a test may replace it)."""
    return {
        "demo": tools.demo,
        "data": data.run,
        "train": train.run,
        "sweep": sweep.run,
        "reproduce": reproduce.run,
        "models": tools.models,
        "info": tools.info,
    }[name]


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
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # large-maze evaluation: ~2x (runtime.keep_freed_memory)
    with warnings.catch_warnings():  # warnings (e.g. skipped unreadable images) as one line each
        warnings.showwarning = lambda message, *_, **__: print(
            f"locrnn {args.command}: warning: {' '.join(str(message).split())}", file=sys.stderr
        )
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        _command(args.command)(args)
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
