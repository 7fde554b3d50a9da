"""Training configuration: one typed dataclass, small TOML presets, CLI overrides of any field.

A ``TrainConfig`` is checked when it is made (``__post_init__``): each field against its declared
type (``Literal`` fields against their choices), then the ranges of :func:`_rules`; a bad value
raises ``UserError`` naming the field. The help text of each field is its ``note``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
import sys
import types
from dataclasses import MISSING, InitVar, dataclass, field
from importlib import resources
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from ..io import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Objective = Literal["fixed", "random_steps", "progressive", "deep", "act"]  # training/objectives.py
ValScore = Literal["min", "max"]  # how validation over several step counts is scored
Optimizer = Literal["adam", "adamw", "sgd"]
Schedule = Literal["cosine", "constant", "multistep"]
WarmupKind = Literal["linear", "exponential"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Geometry = Literal["paper", "lra"]
PenaltyPower = Literal[1, 2]


def _f(default: Any = MISSING, note: str = "", *, factory: Any = MISSING) -> Any:
    """A field with a help note (the CLI option's help)."""
    return field(default=default, default_factory=factory, metadata={"note": note} if note else {})


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded as ``config.json`` in its run folder)."""

    # what to learn
    task: str = "mazes"
    size: int = _f(9, "maze size S (mazes) or path length (pathfinder)")
    model: str = "locrnn"
    model_args: dict[str, Any] = _f(note='e.g. {"width": 32}', factory=dict)
    steps: int | None = _f(None, "recurrent steps in training (None: the model's default)")
    # data: generated in memory unless data_root points at files in a public layout
    data_root: str | None = None
    n_train: int = 20000
    n_val: int = 1000
    image_size: int | None = _f(None, "pathfinder: side of the generated images")
    geometry: Geometry = _f(
        "paper", "pathfinder: paper (hGRU/LocRNN sets, drawn at image_size) | lra (32/64/128/256 px)"
    )
    balance_distance: bool = _f(
        False, "pathfinder: each negative's marker distance drawn from the positives' (no distance shortcut)"
    )
    data_seed: int = 0
    init_from: str | None = _f(None, "start from these weights (a checkpoint of the same model): fine-tuning")
    # optimisation
    epochs: int = 1
    batch_size: int = 32
    optimizer: Optimizer = _f("adamw", "adam | adamw | sgd")
    lr: float = 2e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: Schedule = _f("cosine", "cosine | constant | multistep")
    warmup: float = _f(0.05, "linear: share of training warming up; exponential: its time constant (share)")
    warmup_kind: WarmupKind = _f("linear", "linear (to 1 at warmup) | exponential (1 - exp(-p / warmup), DeepThinking)")
    milestones: list[float] = _f(note="multistep: fractions of training", factory=list)
    gamma: float = 0.1
    clip: float | None = _f(1.0, "gradient-norm clipping (0 or None: off)")
    recurrent_lr_factor: float = _f(
        1.0, "learning-rate factor of the recurrent block (the model's recurrent_parameters); DeepThinking: 1/steps"
    )
    time_budget: float | None = _f(None, "seconds: stop then, with the schedule stretched to fit")
    # objective (see locrnn.training.objectives)
    objective: Objective = _f("fixed", "fixed | random_steps | progressive | deep | act")
    alpha: float = _f(0.5, "progressive: weight of the progressive term")
    min_steps: int | None = _f(None, "random_steps / deep: the range of unroll lengths")
    max_steps: int | None = None
    grad_steps: int | None = _f(None, "fixed: backpropagate through the last N steps only (truncated BPTT)")
    state_penalty: float = _f(0.0, "weight of the last-step relative state change (fixed point)")
    contraction: float = _f(0.0, "progressive: weight of the contraction penalty (training/contraction.py)")
    state_noise: float = _f(0.0, "progressive: noise added to the detached start state, relative to its RMS")
    state_mix: float = _f(0.0, "progressive: share of samples whose start state gets a box of another sample's state")
    penalty_power: PenaltyPower = _f(2, "2: squared relative change; 1: its square root (no vanishing gradient)")
    ponder: float = _f(0.1, "act: weight of the ponder cost (the mean halting remainder)")
    act_warmup: float = _f(0.3, "act: share of training with halting off (the loss after max_steps)")
    # running
    precision: Precision = _f("auto", "auto | fp32 | bf16 | fp16")
    device: str = "auto"
    seed: int = 0
    out: str = "runs"
    name: str | None = None
    log_every: int = 20
    ckpt_every: int = _f(200, "iterations between resumable checkpoints")
    val_every: int = _f(0, "iterations between validations (0: at the end of each epoch)")
    val_steps: list[int] | None = _f(None, "validate at these step counts (None: [T]); val_score picks the score")
    val_score: ValScore = _f("min", "min: the lowest accuracy over val_steps (all must hold) | max: the highest")
    stop_at: float | None = _f(None, "stop once validation accuracy reaches this share (e.g. 0.97; None: never)")
    grad_checkpoint: bool = False
    compile: bool | None = _f(None, "torch.compile the training step; None: on CUDA only (runtime.pick_compile)")
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    where: InitVar[str | None] = None  # how messages name a field: None, its name; else "where: name"

    def __post_init__(self, where: str | None) -> None:
        _check(self, where)

    def validate(self) -> TrainConfig:
        """Check every field again (a config changed after it was made) and that the task and the
        model exist, before any work is done; ``UserError`` names the first bad one. Returns ``self``."""
        _check(self, None)
        from ..models import get_entry
        from ..tasks import get_task

        get_task(self.task)  # "unknown task ...; choose one of ..."
        get_entry(self.model)  # likewise for the model
        return self

    def model_kwargs(self) -> dict[str, Any]:
        """The model's arguments for ``build_model``: ``model_args``, the training step count, and
        the learned halting head that objective ``act`` trains (the one place that adds it: a loss
        choice does not change the architecture by itself)."""
        args = dict(self.model_args)
        if self.steps:
            args["steps"] = self.steps
        if self.objective == "act":
            args.setdefault("halting", "act")
        return args


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
TYPES = get_type_hints(TrainConfig)  # field name -> declared type (Literal choices included)
FIELD_NOTES = {name: f.metadata["note"] for name, f in FIELDS.items() if "note" in f.metadata}


def _check(c: TrainConfig, where: str | None) -> None:
    for name in FIELDS:
        value = getattr(c, name)
        if not _type_ok(value, TYPES[name]):
            raise UserError(
                f"{_opt(name, where)} must be {_describe(TYPES[name])}, got {value!r}",
                settings=() if where else (name,),
            )
    for name, ok, want in _rules(c):
        if not ok:
            named = tuple(s for s in FIELDS if s == name or re.search(rf"\b{s}\b", want))
            raise UserError(
                f"{_opt(name, where)} must be {want}, got {getattr(c, name)!r}", settings=() if where else named
            )


def _opt(name: str, where: str | None) -> str:
    return f"{where}: {name}" if where else name


def _alternatives(tp: Any) -> tuple[Any, ...]:
    """The members of a union type (``int | None``), or the type itself."""
    return get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)


def _type_ok(value: Any, tp: Any) -> bool:
    """Whether ``value`` has the declared type ``tp`` (e.g. ``int | None``, ``list[float]``,
    ``dict[str, Any]``, a ``Literal``); a bool is not an int, an int is a float."""
    for t in _alternatives(tp):
        origin, args = get_origin(t), get_args(t)
        if (
            (t is type(None) and value is None)
            or (origin is Literal and any(value == a and type(value) is type(a) for a in args))
            or (t is bool and isinstance(value, bool))
            or (t is int and isinstance(value, int) and not isinstance(value, bool))
            or (t is float and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (t is str and isinstance(value, str))
            or (origin is dict and isinstance(value, dict) and all(isinstance(key, str) for key in value))
            or (origin is list and isinstance(value, list) and all(_type_ok(v, args[0]) for v in value))
        ):
            return True
    return False


_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "none"}


def _describe(tp: Any) -> str:
    """``int | None`` -> "an integer or none"; ``list[int]`` -> "a JSON list of integers"."""
    parts = []
    for t in _alternatives(tp):
        origin, args = get_origin(t), get_args(t)
        if origin is Literal:
            parts.append(f"one of {', '.join(map(str, args))}")
        elif origin is list:
            parts.append(f"a JSON list of {_WORDS[args[0]].split(' ', 1)[-1]}s")
        elif origin is dict:
            parts.append("a JSON object")
        else:
            parts.append(_WORDS.get(t, str(t)))
    return " or ".join(parts)


def _rules(c: TrainConfig):
    """(field, holds, what it must be): the ranges of TrainConfig's fields (types hold)."""
    finite = math.isfinite
    root = c.data_root is not None  # with files, 0 samples means all of them
    width = c.model_args.get("width", 1)
    yield "balance_distance", c.task == "pathfinder" or not c.balance_distance, "false (a pathfinder setting)"
    yield "model_args", type(width) is int and width >= 1, 'a JSON object whose "width" is an integer >= 1'
    for name in ("epochs", "batch_size", "log_every", "ckpt_every"):
        yield name, getattr(c, name) >= 1, "an integer >= 1"
    for name in ("n_train", "n_val"):
        yield name, getattr(c, name) >= (0 if root else 1), "an integer >= 1" + (" (0: all)" if root else "")
    yield "n_train", root or c.n_train >= c.batch_size, f"at least one batch (batch_size {c.batch_size})"
    for name in ("steps", "min_steps", "max_steps", "image_size", "grad_steps"):
        yield name, getattr(c, name) is None or getattr(c, name) >= 1, "an integer >= 1 (or none)"
    lo, hi = c.min_steps, c.max_steps
    yield "max_steps", lo is None or hi is None or lo <= hi, f"at least min_steps ({lo})"
    yield "val_steps", c.val_steps is None or (c.val_steps and min(c.val_steps) >= 1), "a list of step counts >= 1"
    yield "val_every", c.val_every >= 0, "an integer >= 0 (0: at the end of each epoch)"
    yield "stop_at", c.stop_at is None or 0 < c.stop_at <= 1, "a share in (0, 1] (or none)"
    for name in ("seed", "data_seed"):
        yield name, getattr(c, name) >= 0, "an integer >= 0"
    yield "lr", finite(c.lr) and c.lr > 0, "a number > 0"
    yield "recurrent_lr_factor", finite(c.recurrent_lr_factor) and c.recurrent_lr_factor > 0, "a number > 0"
    for name in ("weight_decay", "state_penalty", "contraction", "state_noise", "ponder"):
        yield name, finite(getattr(c, name)) and getattr(c, name) >= 0, "a number >= 0"
    for name in ("warmup", "alpha", "act_warmup", "state_mix"):
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
    """Turn a command-line string into the declared type of field ``name``."""
    if name not in FIELDS:
        raise UserError(f"unknown config field {name!r}")
    tp = TYPES[name]
    kinds = [t for t in _alternatives(tp) if t is not type(None)]
    if text.lower() in ("none", "null") and len(kinds) < len(_alternatives(tp)):
        return None
    kind = kinds[0]
    if get_origin(kind) is Literal:  # read as the type of its choices (penalty_power: int)
        kind = type(get_args(kind)[0])
    try:
        if get_origin(kind) in (dict, list):
            value = json.loads(text)
        elif kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            value = text.lower() in ("true", "1", "yes")
        elif kind in (int, float):
            value = kind(text)
        else:
            value = text
    except ValueError:
        raise UserError(f"{name}: cannot read {text!r} as {_describe(tp)}", settings=(name,)) from None
    if not _type_ok(value, tp):
        raise UserError(f"{name} must be {_describe(tp)}, got {value!r}", settings=(name,))
    return value


def fit_preset(values: dict[str, Any], model: str) -> dict[str, Any]:
    """A preset's settings with those ``model`` does not take left out: its step count when the
    model is feed-forward, and ``model_args`` the model has no argument for (the PathFinder CPU
    preset's LocRNN ``init``). A preset serves every model of its task; a setting given
    explicitly is never dropped (the model then refuses it by name)."""
    from ..models import get_entry

    entry = get_entry(model)
    out = dict(values)
    if not entry.recurrent:
        out.pop("steps", None)
    if "model_args" in out:
        takes = set(inspect.signature(entry.fn).parameters)
        out["model_args"] = {k: v for k, v in out["model_args"].items() if k in takes}
    return out


def make_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the task's preset file (fitted to the model: :func:`fit_preset`), then
    ``overrides``."""
    values: dict[str, Any] = {}
    if preset:
        values.update(fit_preset(load_preset(preset), overrides.get("model") or FIELDS["model"].default))
    for k, v in overrides.items():
        if k not in FIELDS:
            raise UserError(f"unknown config field {k!r}")
        if v is not None:
            values[k] = v
    return TrainConfig(**values).validate()
