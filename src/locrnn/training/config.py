"""Training configuration: one typed dataclass, small TOML presets, CLI overrides of any field."""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

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
    grad_checkpoint: bool = False
    compile: bool | None = None  # torch.compile the training step; None: on CUDA only (runtime.pick_compile)
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


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
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(list_presets())}")
    data = tomllib.loads(path.read_text())
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValueError(f"preset {name!r} sets unknown fields: {sorted(unknown)}")
    return data


def parse_value(name: str, text: str) -> Any:
    """Turn a command-line string into the type of field ``name``."""
    if name not in FIELDS:
        raise ValueError(f"unknown config field {name!r}")
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
        raise ValueError(f"--{name.replace('_', '-')}: cannot read {text!r} as {kind}") from None
    return value


def make_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the task's preset file, then ``overrides``."""
    values: dict[str, Any] = {}
    if preset:
        values.update(load_preset(preset))
    for k, v in overrides.items():
        if k not in FIELDS:
            raise ValueError(f"unknown config field {k!r}")
        if v is not None:
            values[k] = v
    cfg = TrainConfig(**values)
    if cfg.val_steps is not None and (
        not cfg.val_steps or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 1 for t in cfg.val_steps)
    ):
        raise ValueError(f"val_steps must be a list of step counts >= 1, got {cfg.val_steps!r}")
    if cfg.geometry not in ("paper", "lra"):
        raise ValueError(f"geometry must be paper or lra (PathFinder families), got {cfg.geometry!r}")
    if cfg.penalty_power not in (1, 2):
        raise ValueError(f"penalty_power must be 1 or 2, got {cfg.penalty_power}")
    return cfg
