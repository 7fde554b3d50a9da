"""Checks of option values shared by the commands: each refuses a bad value before any work,
naming its flag."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io import UserError, writable_dir


def at_least(args: argparse.Namespace, **lowest: float) -> None:
    """Refuse an option below its lowest value (before any work), naming it."""
    for name, lo in lowest.items():
        value = getattr(args, name, None)
        if value is not None and value < lo:
            raise UserError(f"--{name.replace('_', '-')} must be at least {lo}, got {value}")


def int_list(text: str, flag: str) -> list[int]:
    """``'9,11,13'`` -> ``[9, 11, 13]``; anything else is refused naming ``flag``."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"{flag}: cannot read {text!r} as comma-separated integers (e.g. 9,11,13)") from None
    return values


def check_new_folder(folder: Path, overwrite: bool) -> None:
    """Refuse an existing output folder unless ``--overwrite``; its parent must be writable."""
    if folder.exists() and not overwrite:
        raise UserError(f"{folder} already exists (pass --overwrite to replace it)")
    writable_dir(folder.parent)
