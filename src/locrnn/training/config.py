"""Training configuration: one typed dataclass, small TOML presets, CLI overrides of any field."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..io import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded as ``config.json`` in its run folder)."""

    # what to learn
    task: str = "mazes"
    size: int = 9  # maze size S (mazes) or path length (pathfinder)
    model: str = "locrnn"
    model_args: dict[str, Any] = field(default_factory=dict)  # e.g. {"width": 32}
    steps: int | None = None  # recurrent steps in training (None: the model's default)
    # data: generated in memory unless data_root points at files in a public layout
    data_root: str | None = None
    n_train: int = 20000
    n_val: int = 1000
    image_size: int | None = None  # pathfinder: side of the generated images
    geometry: str = "paper"  # pathfinder: paper (hGRU/LocRNN sets, drawn at image_size) | lra (32/64/128/256 px)
    data_seed: int = 0
    init_from: str | None = None  # start from these weights (a checkpoint of the same model): fine-tuning
    # optimisation
    epochs: int = 1
    batch_size: int = 32
    optimizer: str = "adamw"  # adam | adamw | sgd
    lr: float = 2e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "cosine"  # cosine | constant | multistep
    warmup: float = 0.05  # fraction of all iterations with a linear warm-up
    milestones: list[float] = field(default_factory=list)  # multistep: fractions of training
    gamma: float = 0.1
    clip: float | None = 1.0  # gradient-norm clipping (None: off)
    time_budget: float | None = None  # seconds: stop then, with the schedule stretched to fit
    # objective (see locrnn.training.losses)
    objective: str = "fixed"  # fixed | random_steps | progressive | deep | act
    alpha: float = 0.5  # progressive: weight of the progressive term
    min_steps: int | None = None  # random_steps / deep: the range of unroll lengths
    max_steps: int | None = None
    grad_steps: int | None = None  # fixed: backpropagate through the last N steps only (truncated BPTT)
    state_penalty: float = 0.0  # weight of the last-step relative state change (fixed point)
    contraction: float = 0.0  # progressive: weight of the contraction penalty (training/contraction.py)
    penalty_power: int = 2  # 2: squared relative change; 1: its square root (no vanishing gradient)
    ponder: float = 0.1  # act: weight of the ponder cost (the mean halting remainder)
    act_warmup: float = 0.3  # act: share of training with halting off (the loss after max_steps)
    # running
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    device: str = "auto"
    seed: int = 0
    out: str = "runs"
    name: str | None = None
    log_every: int = 20
    ckpt_every: int = 200  # iterations between resumable checkpoints
    val_every: int = 0  # iterations between validations (0: at the end of each epoch)
    val_steps: list[int] | None = None  # validate at these step counts, score = the lowest (None: [T])
    stop_at: float | None = None  # stop once validation accuracy reaches this share (e.g. 0.97; None: never)
    grad_checkpoint: bool = False
    compile: bool | None = None  # torch.compile the training step; None: on CUDA only (runtime.pick_compile)
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self, where: str | None = None) -> TrainConfig:
        """Check every field against its declared type, its allowed choices and its range, before
        any work is done; ``UserError`` names the first bad one (as its option ``--name``, or as
        ``where: name`` for a config read from a file). Returns ``self``."""
        for name, f in FIELDS.items():
            value = getattr(self, name)
            if not _type_ok(value, str(f.type)):
                raise UserError(f"{_opt(name, where)} must be {_describe(str(f.type))}, got {value!r}")
        for name, ok, want in _rules(self):
            if not ok:
                raise UserError(f"{_opt(name, where)} must be {want}, got {getattr(self, name)!r}")
        from ..models import get_entry
        from ..tasks import get_task

        get_task(self.task)  # "unknown task ...; choose one of ..."
        get_entry(self.model)  # likewise for the model
        return self


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
CHOICES = {
    "objective": ("fixed", "random_steps", "progressive", "deep", "act"),
    "optimizer": ("adam", "adamw", "sgd"),
    "schedule": ("cosine", "constant", "multistep"),
    "precision": ("auto", "fp32", "bf16", "fp16"),
    "geometry": ("paper", "lra"),
    "penalty_power": (1, 2),
}


def _opt(name: str, where: str | None) -> str:
    return f"{where}: {name}" if where else f"--{name.replace('_', '-')}"


def _type_ok(value: Any, kind: str) -> bool:
    """Whether ``value`` has the declared type ``kind`` (e.g. ``int | None``, ``list[float]``,
    ``dict[str, Any]``); a bool is not an int, an int is a float."""
    for k in (k.strip() for k in kind.split("|")):
        base, inner = k.split("[")[0], k[k.find("[") + 1 : -1] if "[" in k else ""
        if (
            (k == "None" and value is None)
            or (base == "bool" and isinstance(value, bool))
            or (base == "int" and isinstance(value, int) and not isinstance(value, bool))
            or (base == "float" and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (base == "str" and isinstance(value, str))
            or (base == "dict" and isinstance(value, dict) and all(isinstance(key, str) for key in value))
            or (base == "list" and isinstance(value, list) and all(_type_ok(v, inner) for v in value))
        ):
            return True
    return False


def _describe(kind: str) -> str:
    words = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false", "None": "none"}
    words |= {"dict": "a JSON object", "list": "a JSON list"}
    parts = []
    for k in (k.strip() for k in kind.split("|")):
        base = k.split("[")[0]
        inner = k[k.find("[") + 1 : -1] if base == "list" else ""
        parts.append(words.get(base, k) + (f" of {words.get(inner, inner).split(' ', 1)[-1]}s" if inner else ""))
    return " or ".join(parts)


def _rules(c: TrainConfig):
    """(field, holds, what it must be): the ranges and choices of TrainConfig's fields."""
    finite = math.isfinite
    root = c.data_root is not None  # with files, 0 samples means all of them
    for name, choices in CHOICES.items():
        yield name, getattr(c, name) in choices, f"one of {', '.join(map(str, choices))}"
    width = c.model_args.get("width", 1)
    yield "model_args", type(width) is int and width >= 1, 'a JSON object whose "width" is an integer >= 1'
    for name in ("epochs", "batch_size", "log_every", "ckpt_every"):
        yield name, getattr(c, name) >= 1, "an integer >= 1"
    for name in ("n_train", "n_val"):
        yield name, getattr(c, name) >= (0 if root else 1), "an integer >= 1" + (" (0: all)" if root else "")
    yield "n_train", root or c.n_train >= c.batch_size, f"at least one batch (--batch-size {c.batch_size})"
    for name in ("steps", "min_steps", "max_steps", "image_size", "grad_steps"):
        yield name, getattr(c, name) is None or getattr(c, name) >= 1, "an integer >= 1 (or none)"
    lo, hi = c.min_steps, c.max_steps
    yield "max_steps", lo is None or hi is None or lo <= hi, f"at least --min-steps ({lo})"
    yield "val_steps", c.val_steps is None or (c.val_steps and min(c.val_steps) >= 1), "a list of step counts >= 1"
    yield "val_every", c.val_every >= 0, "an integer >= 0 (0: at the end of each epoch)"
    yield "stop_at", c.stop_at is None or 0 < c.stop_at <= 1, "a share in (0, 1] (or none)"
    for name in ("seed", "data_seed"):
        yield name, getattr(c, name) >= 0, "an integer >= 0"
    yield "lr", finite(c.lr) and c.lr > 0, "a number > 0"
    for name in ("weight_decay", "state_penalty", "contraction", "ponder"):
        yield name, finite(getattr(c, name)) and getattr(c, name) >= 0, "a number >= 0"
    for name in ("warmup", "alpha", "act_warmup"):
        yield name, 0 <= getattr(c, name) <= 1, "a number between 0 and 1"
    yield "momentum", 0 <= c.momentum < 1, "a number in [0, 1)"
    yield "gamma", finite(c.gamma) and c.gamma > 0, "a number > 0"
    yield "milestones", all(0 < m < 1 for m in c.milestones), "a list of fractions of training, each in (0, 1)"
    for name in ("clip", "time_budget"):
        v = getattr(c, name)
        yield name, v is None or (finite(v) and v >= 0), "a number >= 0 (0 or none: off)"
    yield "out", bool(c.out), "a folder name"
    bad_name = c.name is not None and (c.name in ("", ".", "..") or "/" in c.name or "\\" in c.name)
    yield "name", not bad_name, "a plain folder name (no '/')"


def _field_notes() -> dict[str, str]:
    """Each field's trailing comment in the class source: the help text of its CLI option."""
    import inspect
    import re

    try:
        source = inspect.getsource(TrainConfig)
    except (OSError, TypeError):  # no source (e.g. a frozen build): options keep their defaults only
        return {}
    found = (re.match(r"\s+(\w+):[^#]*#\s*(.+)$", line) for line in source.splitlines())
    return {m.group(1): m.group(2).strip() for m in found if m and m.group(1) in FIELDS}


FIELD_NOTES = _field_notes()


def list_presets() -> list[str]:
    root = resources.files("locrnn") / "presets"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_preset(name: str) -> dict[str, Any]:
    path = resources.files("locrnn") / "presets" / f"{name}.toml"
    if not path.is_file():
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(list_presets())}")
    data = tomllib.loads(path.read_text())
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise UserError(f"preset {name!r} sets unknown fields: {sorted(unknown)}")
    return data


def parse_value(name: str, text: str) -> Any:
    """Turn a command-line string into the type of field ``name``."""
    if name not in FIELDS:
        raise UserError(f"unknown config field {name!r}")
    kind = str(FIELDS[name].type)
    if text.lower() in ("none", "null") and "None" in kind:
        return None
    try:
        if kind.startswith("dict") or kind.startswith("list"):
            value = json.loads(text)
        elif kind.startswith("bool"):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            value = text.lower() in ("true", "1", "yes")
        elif kind.startswith("int"):
            value = int(text)
        elif kind.startswith("float"):
            value = float(text)
        else:
            value = text
    except ValueError:
        raise UserError(f"--{name.replace('_', '-')}: cannot read {text!r} as {kind}") from None
    if not _type_ok(value, kind):
        raise UserError(f"--{name.replace('_', '-')} must be {_describe(kind)}, got {value!r}")
    return value


def make_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the task's preset file, then ``overrides``."""
    values: dict[str, Any] = {}
    if preset:
        values.update(load_preset(preset))
    for k, v in overrides.items():
        if k not in FIELDS:
            raise UserError(f"unknown config field {k!r}")
        if v is not None:
            values[k] = v
    return TrainConfig(**values).validate()
