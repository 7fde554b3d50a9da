"""The training recipe of each run of the paper's figures at each scale (quick, paper, smoke)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..io import UserError, load_json
from ..training.config import TrainConfig, make_config
from .figures import VARIANTS, Run

SCALES = ("quick", "paper", "smoke")  # smoke: seconds-long runs that only check the plumbing
QUICK_MAZES = {True: 16_000, False: 6_000}  # training mazes per quick run (headline runs get more)
# dt_recall's quick recipe (DeepThinking's recipe otherwise: figures.VARIANTS["deepthinking"]): the
# width whose convolution FLOPs per step match LocRNN's quick model (width 32: 82.6 MFLOP per step
# per 9x9 maze; dt_recall width 40: 82.9), and the fresh training mazes that match the training FLOPs
# of the contractive LocRNN (fixedpoint 16,000 + contractive 8,000 images), in place of their
# 50 epochs of 50,000 mazes: benchmarks/dt_budget.py measures both (docs/size-extrapolation.md).
QUICK_DT = {"width": 40, "n_train": 17_900}
HEADLINE = {  # besides every 9x9 run (Fig. 1 compares all models there: the same data for each)
    ("mazes", 11, "locrnn"),
    ("mazes", 11, "convgru"),
    ("mazes", 11, "rresnet36"),
    ("mazes", 11, "resnet36"),
}


@dataclass(frozen=True)
class RunOptions:
    """How a figure's runs are trained beyond their scale's recipe. ``time_budget`` (seconds per
    run) stops each run then, with its schedule stretched to fit (warm-up and decays all happen):
    the paper's recipes in a GPU lease shorter than they need. It is part of the recipe (a budgeted
    run is not reused as a full one, nor the reverse). ``compile``: torch.compile the training step
    (None: on CUDA only); how, not what, so it never tells runs apart."""

    time_budget: float | None = None
    compile: bool | None = None

    def flags(self) -> list[str]:
        """These options as ``locrnn reproduce`` arguments (for a child process)."""
        out = [] if self.time_budget is None else ["--time-budget", f"{self.time_budget:g}"]
        return out + ([] if self.compile is None else ["--compile", "on" if self.compile else "off"])


def recipe(run: Run, scale: str, opts: RunOptions | None = None) -> TrainConfig:
    """The training configuration of ``run`` at ``scale`` (with ``opts``, if given)."""
    cfg = _recipe(run, scale)
    if opts is not None:
        cfg.time_budget = opts.time_budget
        cfg.compile = opts.compile
    return cfg  # (make_config left out what the model does not take: training.config.fit_preset)


def _recipe(run: Run, scale: str) -> TrainConfig:
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}; choose quick or paper (or smoke for a plumbing check)")
    if run.variant not in VARIANTS:
        raise UserError(f"unknown training variant {run.variant!r}; choose one of {sorted(VARIANTS)}")
    spec = {k: v for k, v in VARIANTS[run.variant].items() if k != "finetune"}  # (ensure_trained's business)
    common = dict(task=run.task, size=run.difficulty, model=run.model, seed=run.seed, data_seed=run.seed, **spec)
    if scale == "paper":
        return make_config("paper" if run.task == "mazes" else "pathfinder-paper", **common)
    preset = "cpu" if run.task == "mazes" else "pathfinder-cpu"
    if scale == "smoke":
        smoke = dict(n_train=64, n_val=32, batch_size=16, progress=False, val_every=2)
        cfg = make_config(preset, **{**common, **smoke})
        cfg.model_args = {**cfg.model_args, "width": 8}
        return cfg
    headline = (run.task, run.difficulty, run.model) in HEADLINE or run.variant != "paper"
    headline |= run.task == "mazes" and run.difficulty == 9
    cfg = make_config(preset, **common)
    if run.task == "mazes":  # a fixed number of fresh mazes (not a time budget): results do not depend on load
        quick = {"width": 32, "n_train": spec.get("n_train", QUICK_MAZES[headline])}
        quick = QUICK_DT if run.variant == "deepthinking" else quick
        cfg.model_args = {**cfg.model_args, "width": quick["width"]}
        cfg.n_train = quick["n_train"]
    cfg.n_val = min(cfg.n_val, 500)
    cfg.val_every = 60
    return cfg


_NOT_RECIPE = {"out", "name", "progress", "init_from", "device", "data_root", "compile"}  # where/how, not what


def check_recipe(folder: Path, cfg: TrainConfig) -> None:
    """Refuse to reuse (or resume) a run trained with another recipe than ``cfg`` (e.g. an older
    quick recipe): its numbers would not be this figure's."""
    done = load_json(folder / "config.json")
    want = {k: v for k, v in json.loads(json.dumps(dataclasses.asdict(cfg))).items() if k not in _NOT_RECIPE}
    diff = sorted(k for k, v in want.items() if k in done and done[k] != v)
    if diff:
        got = ", ".join(f"{k}={done[k]!r} (recipe: {want[k]!r})" for k in diff)
        raise UserError(f"{folder} was trained with another recipe: {got}; move it away to retrain it")
