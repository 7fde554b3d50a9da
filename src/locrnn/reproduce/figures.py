"""The paper's experiments as data: which models, datasets, recipes and step ranges make each figure,
and what the paper claims about it (so every measured number can stand beside its claim)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..io import UserError
from .sizes import SIZE_DT, SIZE_TRAIN, SIZE_VARIANTS, size_tests

MAZE_SIZES = (9, 11, 13)
# Fig. 1 at quick scale: the sizes a CPU-sized run learns with the same data for every model
# (16,000 mazes: LocRNN 90% on 9x9, 40% on 11x11; 6,000: LocRNN 0% on 13x13, ConvGRU 2% on 9x9)
QUICK_MAZE_SIZES = (9,)
PF_LENGTHS = (9, 14, 18)
# PathFinder at quick scale: the CPU preset (48 px, 4 steps) learns length 6 (84% in 13 min) but
# stays at chance on length 14 in the same time, so quick runs train on 6 and test on 4 and 9.
QUICK_PF_LENGTH = 6
QUICK_PF_TESTS = (4, 6, 9)

MAZE_RECURRENT = ("locrnn", "convgru", "hconvgru", "rresnet12", "rresnet20", "rresnet36")
MAZE_FEEDFORWARD = ("resnet12", "resnet20", "resnet36")
PF_MODELS = ("locrnn", "convgru", "hconvgru", "cornet_s", "convrnn", "rresnet18", "resnet10", "resnet18")
ABLATIONS = (
    "locrnn",
    "locrnn_no_s",
    "locrnn_no_s_2x",
    "locrnn_ls_readout",
    "locrnn_tanh",
    "locrnn_relu6",
    "locrnn_no_gates",
    "locrnn_no_ln",
)


# Training objectives compared for stable extrapolation (docs/stability.md); T = trained steps.
VARIANTS: dict[str, dict] = {
    "paper": {},  # loss after T steps (the paper)
    "progressive": {"objective": "progressive", "alpha": 0.5},  # DeepThinking, n + k <= T
    "random": {"objective": "random_steps", "min_steps": 10, "max_steps": 30},  # unroll length drawn per batch
    "deep": {"objective": "deep", "min_steps": 10, "max_steps": 30},  # loss at every step from 10 to 30
    "penalty": {"objective": "random_steps", "min_steps": 10, "max_steps": 30, "state_penalty": 1.0},
    # a long detached prefix (n + k <= 60, gradients through k <= T steps) + the fixed-point penalty
    "longreach": {"objective": "progressive", "alpha": 0.5, "max_steps": 60, "state_penalty": 1.0},
    "longreach10": {"objective": "progressive", "alpha": 0.5, "max_steps": 60, "state_penalty": 10.0},  # 10x penalty
    # longreach with the penalty on the plain relative change (its pull does not fade near a fixed point)
    "fixedpoint": {"objective": "progressive", "alpha": 0.5, "max_steps": 60, "state_penalty": 1.0, "penalty_power": 1},
    # fixedpoint fine-tuned on 8,000 of the same mazes with the contraction penalty
    # (training/contraction.py): the resting state must also attract. From the start (weight 10) it
    # stopped the model from learning at all (5% at any step): it is switched on once the task is learned.
    "contractive": {
        "finetune": "fixedpoint",
        "objective": "progressive",
        "alpha": 0.5,
        "max_steps": 60,
        "state_penalty": 1.0,
        "penalty_power": 1,
        "contraction": 10.0,
        "n_train": 8000,
        "lr": 1e-3,
    },
    # learned adaptive computation time (AdRNN): a halting head, a budget of 30 steps, ponder cost 0.1
    "act": {"objective": "act", "max_steps": 30},
    # DeepThinking's maze recipe for dt_recall (../shared/reference/mazes.md 3b-3c): progressive loss
    # with alpha 0.01, 30 training steps, Adam lr 1e-3, weight decay 2e-4, batch 50, the recurrent
    # block (recall conv + 2 blocks) at lr / 30, an exponential warm-up with a time constant of 10 of
    # their 50 epochs (0.2 of training), a constant LR after it (their milestone 100 never fires
    # within 50 epochs) and no gradient clipping. Quick scale: reproduce/recipes.py QUICK_DT.
    "deepthinking": {
        "objective": "progressive",
        "alpha": 0.01,
        "steps": 30,
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 2e-4,
        "batch_size": 50,
        "recurrent_lr_factor": 1 / 30,
        "warmup_kind": "exponential",
        "warmup": 0.2,
        "schedule": "constant",
        "clip": 0.0,
    },
}
STABILITY_VARIANTS = ("paper", "progressive", "random", "deep", "penalty", "longreach", "longreach10")
STABILITY_VARIANTS += ("fixedpoint", "contractive", "act")  # LocRNN's objectives of docs/stability.md


@dataclass(frozen=True)
class Run:
    """One training run: a model trained on one difficulty of one task (with a seed)."""

    model: str
    task: str
    difficulty: int
    seed: int = 0
    variant: str = "paper"  # a training objective from VARIANTS

    @property
    def key(self) -> str:
        tag = "" if self.variant == "paper" else f"-{self.variant}"
        return f"{self.task}{self.difficulty}-{self.model}{tag}-s{self.seed}"

    @property
    def base(self) -> Run | None:
        """The run a fine-tuning variant starts from (trained before it), else None."""
        base = VARIANTS[self.variant].get("finetune")
        return None if base is None else dataclasses.replace(self, variant=base)


@dataclass(frozen=True)
class Sweep:
    """Evaluate ``run`` on ``difficulties`` at every step in ``steps`` (None: the trained steps)."""

    run: Run
    difficulties: tuple[int, ...]
    steps: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    runs: tuple[Run, ...]
    sweeps: tuple[Sweep, ...]
    claims: tuple[str, ...]
    kind: str  # bars | steps | efficiency | predictions | size
    extra: dict = field(default_factory=dict)
    task: str | None = None  # only this task's runs (``only_task``)

    @property
    def folder(self) -> str:
        """Where its results go under ``results/``: one task's half gets its own folder."""
        return self.name if self.task is None else f"{self.name}-{self.task}"

    def command(self, scale: str) -> str:
        seeds = 1 + max((r.seed for r in self.runs), default=0)
        return (
            f"locrnn reproduce {self.name} --scale {scale}"
            + (f" --task {self.task}" if self.task else "")
            + (f" --seeds {seeds}" if seeds > 1 else "")
        )


def _slash(values: tuple[int, ...]) -> str:
    return "/".join(map(str, values))


def _span(lo: int, hi: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1))


def figure(name: str, seeds: int = 1, task: str | None = None, scale: str = "paper") -> Figure:
    """The experiment ``name`` with ``seeds`` seeds per run (only the runs of ``task`` if given).
    At ``scale="quick"`` the figures use the difficulties a CPU run learns: Fig. 1 compares the
    models on 9x9 mazes and PathFinder-6, Figs. 3A/3B train on PathFinder-6 (3A tests 4 and 9)."""
    return only_task(_figure(name, seeds, scale), task)


def _figure(name: str, seeds: int, scale: str) -> Figure:
    s = range(seeds)
    if name == "fig1":
        sizes = QUICK_MAZE_SIZES if scale == "quick" else MAZE_SIZES
        lengths = (QUICK_PF_LENGTH,) if scale == "quick" else PF_LENGTHS
        runs = [Run(m, "mazes", d, k) for m in MAZE_RECURRENT + MAZE_FEEDFORWARD for d in sizes for k in s]
        runs += [Run(m, "pathfinder", d, k) for m in PF_MODELS for d in lengths for k in s]
        return Figure(
            "fig1",
            f"Accuracy of every model on Mazes {_slash(sizes)} and PathFinder {_slash(lengths)} "
            "(trained and tested on each)",
            tuple(runs),
            tuple(Sweep(r, (r.difficulty,)) for r in runs),
            (
                "All recurrent networks outperform the ResNet-based feed-forward baselines on Mazes.",
                "ConvGRU is the best model on Mazes, ahead of LocRNN by 1.34 points.",
                "LocRNN is the best model on PathFinder at every difficulty.",
                "R-ResNet-18 cannot learn even PathFinder-9; ConvGRU is at chance on all PathFinder levels.",
                "hConvGRU learns PathFinder-9 but stays at chance on 14 and 18.",
            ),
            "bars",
        )
    if name == "fig2":
        models = ("locrnn", "convgru", "rresnet36")
        runs = [Run(m, "mazes", 11, k) for m in models + ("resnet36",) for k in s]
        sweeps = [Sweep(r, (9, 13), None if r.model == "resnet36" else _span(1, 40)) for r in runs]
        return Figure(
            "fig2",
            "Maze extrapolation: trained on medium (11), tested on small (9) and large (13) by steps",
            tuple(runs),
            tuple(sweeps),
            (
                "Recurrent networks do better on easier/harder mazes with fewer/more steps than trained.",
                "ConvGRU extrapolates best to large mazes (95.6%).",
                "ResNet-36 (fixed depth) is significantly worse than every recurrent model on the larger maze.",
            ),
            "steps",
            {"baseline": "resnet36"},
        )
    medium, tests = (QUICK_PF_LENGTH, QUICK_PF_TESTS) if scale == "quick" else (14, (9, 14, 18))
    if name == "fig3a":
        runs = [Run("locrnn", "pathfinder", medium, k) for k in s]
        return Figure(
            "fig3a",
            f"PathFinder extrapolation: LocRNN trained on PathFinder-{medium}, tested on {_slash(tests)} by steps",
            tuple(runs),
            tuple(Sweep(r, tests, _span(1, 24)) for r in runs),
            (
                "PathFinder-9: from chance at 12 steps (trained) to > 90% with 8 steps.",
                "PathFinder-18: from chance at 12 steps to 62% with 14 steps.",
            ),
            "steps",
        )
    if name == "fig3b":
        runs = [Run(m, "pathfinder", medium, k) for m in ABLATIONS for k in range(max(seeds, 1))]
        return Figure(
            "fig3b",
            f"LocRNN ablations on PathFinder-{medium}: accuracy and sample efficiency",
            tuple(runs),
            tuple(Sweep(r, (r.difficulty,)) for r in runs),
            (
                "Without S (interneurons) LocRNN converges in 1 of 3 seeds, 38% less sample efficient.",
                "Without S but with L twice as wide: 2 of 3 seeds converge.",
                "Sending both L and S to the readout: 1 of 3 seeds, very poor sample efficiency.",
                "tanh instead of ReLU completely breaks LocRNN; ReLU clipped at 6 costs nothing.",
                "Without LayerNorm LocRNN still exceeds 80% but is less sample efficient; without gates both suffer.",
            ),
            "efficiency",
        )
    if name == "fig4":
        runs = [Run("locrnn", "mazes", 11, 0)]
        return Figure(
            "fig4",
            "LocRNN (trained on medium mazes) predictions after each step",
            tuple(runs),
            (Sweep(runs[0], (11,), _span(1, 60)),),
            (
                "Predictions are most stable near the trained number of steps; beyond it they blur and the "
                "prediction's activity grows without bounds.",
            ),
            "predictions",
            {"steps": (1, 3, 6, 9, 12, 15, 20, 30, 45, 60)},
        )
    if name == "fig7":
        runs = [Run(m, "mazes", 11, k) for m in ("locrnn", "convgru") for k in s]
        return Figure(
            "fig7",
            "Validation accuracy vs recurrent steps for LocRNN and ConvGRU on medium mazes",
            tuple(runs),
            tuple(Sweep(r, (11,), _span(1, 100)) for r in runs),
            ("LocRNN is unstable when the number of steps is increased heavily; ConvGRU is more stable.",),
            "steps",
        )
    if name == "stability":
        runs = [Run("locrnn", "mazes", 9, k, v) for v in STABILITY_VARIANTS for k in s]
        return Figure(
            "stability",
            "Stable extrapolation: LocRNN trained on 9x9 mazes with each objective, tested on 9/11/13",
            tuple(runs),
            tuple(Sweep(r, (9, 11, 13), _span(1, 150)) for r in runs),
            ("(Sec. 5.4, open problem) LocRNN's accuracy collapses when it runs many more steps than trained.",),
            "steps",
            {"halting": True},
        )
    if name == "stability-long":  # the long view: 10x the longest unroll any of these trained with
        runs = [Run("locrnn", "mazes", 9, k, v) for v in LONG_VARIANTS for k in s]
        grid = _span(1, 60) + tuple(range(65, 601, 5))
        return Figure(
            "stability-long",
            "LocRNN trained on 9x9 mazes, run to 600 steps (10x the longest training unroll)",
            tuple(runs),
            tuple(Sweep(r, (9, 11, 13) if r.variant == LONG_VARIANTS[-1] else (9,), grid) for r in runs),
            ("(Sec. 5.4, open problem) LocRNN's accuracy collapses when it runs many more steps than trained.",),
            "steps",
        )
    if name == "size-extrapolation":
        return size_figure(seeds, scale)
    raise UserError(f"unknown figure {name!r}; choose one of: {', '.join(EXPERIMENTS)}, all")


def size_figure(seeds: int = 1, scale: str = "quick", *, large: bool = False, dt: bool = False) -> Figure:
    """Size extrapolation (reproduce/sizes.py): LocRNN trained on 9x9 mazes with the paper's
    objective and the contractive recipe, tested with halting on 9..59 (99 with ``large``), and
    swept at a sparse grid per size. ``dt`` (always at paper scale) adds dt_recall with
    DeepThinking's recipe, the anchor of issue #18."""
    models = SIZE_VARIANTS + ((SIZE_DT,) if dt or scale == "paper" else ())
    runs = tuple(Run(m, "mazes", SIZE_TRAIN, k, v) for m, v in models for k in range(seeds))
    tests = size_tests(scale, large)
    return Figure(
        "size-extrapolation",
        f"Size extrapolation: trained on {SIZE_TRAIN}x{SIZE_TRAIN} mazes, tested with halting on "
        + "/".join(str(t.size) for t in tests),
        runs,
        tuple(Sweep(r, (t.size,), t.grid) for r in runs for t in tests),
        (
            "(issue #18) DeepThinking's recall net trained on 9x9 mazes solves 100% of 100 mazes at every "
            "size 9..99 by running 3,000 iterations (Knutson et al., on Bansal et al. 2022's model).",
            "(issue #18) the contractive LocRNN keeps 98.3% on 9x9 to 600 steps, but only 45% on 19x19 "
            "and 3-8% on 33x33 (best over 30-400 steps, fp32, 40 mazes).",
        ),
        "size",
        {"tests": tests},
    )


def runs_to_train(fig: Figure, pretrained: Sequence[str] = ()) -> tuple[Run, ...]:
    """The runs of the size figure ``fig`` a test needs: all of them, or with ``pretrained``
    checkpoints (which stand in for LocRNN's runs, sizes.SIZE_VARIANTS) only the others
    (dt_recall's, with ``dt``)."""
    if not pretrained:
        return fig.runs
    return tuple(r for r in fig.runs if (r.model, r.variant) not in SIZE_VARIANTS)


def only_task(fig: Figure, task: str | None) -> Figure:
    """``fig`` restricted to the runs of one task (Fig. 1 has a maze half and a PathFinder half)."""
    if task is None:
        return fig
    runs = tuple(r for r in fig.runs if r.task == task)
    if not runs:
        tasks = sorted({r.task for r in fig.runs})
        raise UserError(f"{fig.name} has no {task!r} runs; its tasks: {', '.join(tasks)}")
    if len(runs) == len(fig.runs):
        return fig
    sweeps = tuple(sw for sw in fig.sweeps if sw.run.task == task)
    return dataclasses.replace(fig, title=f"{fig.title} [{task} only]", runs=runs, sweeps=sweeps, task=task)


def find_run(key: str, scale: str = "paper", seeds: int = 1) -> Run:
    """The run called ``key`` (e.g. ``pathfinder6-convgru-s0``) in any experiment at ``scale``;
    ``locrnn reproduce KEY`` trains just that run, so several can train side by side."""
    figs = [_figure(name, max(seeds, 1), scale) for name in EXPERIMENTS]
    figs.append(size_figure(max(seeds, 1), scale, dt=True))  # dt_recall joins size-extrapolation with ``dt``
    for fig in figs:
        for run in fig.runs:
            if run.key == key:
                return run
    raise UserError(
        f"unknown figure or run {key!r}; choose one of: {', '.join(EXPERIMENTS)}, all, "
        f"or a run's name at scale {scale} (e.g. {_figure('fig1', 1, scale).runs[0].key})"
    )


LONG_VARIANTS = ("paper", "longreach", "fixedpoint", "contractive")  # stability-long; the last on every size
FIGURES = ("fig1", "fig2", "fig3a", "fig3b", "fig4", "fig7")
EXPERIMENTS = FIGURES + ("stability", "stability-long", "size-extrapolation")
