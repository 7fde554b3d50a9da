"""The locrnn benchmarks in one command: speed, memory, data rates, each side by side.

    .venv/bin/python benchmarks/run.py            # the full run (~25 min on 2 idle cores)
    .venv/bin/python benchmarks/run.py --quick    # smaller batches, fewer rounds (~6 min)
    .venv/bin/python benchmarks/run.py --smoke    # tiny sizes: checks the harness (~1 min)

Prints Markdown tables (and writes them with the raw numbers as JSON with ``--json``). Every
speed figure is a ratio to the plain eager fp32 oracle (``tests/oracle.py``) measured in the same
run, in interleaved rounds; each candidate's best round counts (see ``_common.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import conv_peak, fmt_table, loadavg, machine  # noqa: E402

SECTIONS = ("peak", "levers", "models", "memory", "accuracy", "data")


@dataclass
class Settings:
    width: int = 64  # LocRNN maze width (the paper's)
    maze_size: int = 11
    batch: int = 32
    rounds: int = 3
    configs: list = field(default_factory=lambda: None)  # None: speed.PAPER_CONFIGS
    model_args: dict = field(default_factory=dict)
    sweep_steps: tuple = (1, 15, 100, 1000)
    sweep_batch: int = 16
    sweep_size: int = 13
    ckpt_steps: tuple = (15, 60)
    ckpt_batch: int = 8
    acc_iterations: int = 300
    acc_width: int = 32
    acc_size: int = 7  # at size 9, 240 iterations reach only 2-4% exact-match: too little to compare
    acc_n_val: int = 1000
    acc_seeds: int = 1  # training seeds of the accuracy comparison (--acc-seeds)
    maze_sizes: tuple = (9, 11, 13, 15, 25, 59)
    pf_presets: tuple = ("pf9", "pf14", "pf18")
    pf_n: int = 2000
    compile: bool = True
    cold_compile: bool = False
    quick: bool = False


def accuracy_check(rows: list[dict]) -> tuple[str, bool, str]:
    """Mean exact-match difference (fast path - oracle) over seeds, against two standard errors:
    the larger of the binomial one (pooled over seeds) and the spread of the per-seed differences."""
    by_seed: dict[int, list[dict]] = {}
    for r in rows:
        by_seed.setdefault(r.get("seed", 0), []).append(r)
    diffs = [rs[1]["val_accuracy"] - rs[0]["val_accuracy"] for rs in by_seed.values()]  # oracle first, fast second
    k, n = len(diffs), sum(rs[0]["n_val"] for rs in by_seed.values())
    p = max(sum(rs[0]["val_accuracy"] + rs[1]["val_accuracy"] for rs in by_seed.values()) / (2 * k), 1 / n)
    se = (2 * p * (1 - p) / n) ** 0.5
    if k >= 2:
        mean = sum(diffs) / k
        se = max(se, (sum((d - mean) ** 2 for d in diffs) / (k - 1) / k) ** 0.5)
    d = sum(diffs) / k
    tol = max(0.02, 2 * se)
    per_seed = ", ".join(f"{100 * x:+.1f}" for x in diffs)
    return (
        f"same accuracy after the same training ({k} seed{'s' if k > 1 else ''})",
        abs(d) <= tol,
        f"mean diff {100 * d:+.1f} pt (per seed {per_seed}; tol. {100 * tol:.1f})",
    )


def settings(mode: str) -> Settings:
    if mode == "quick":
        return Settings(
            batch=16,
            rounds=2,
            sweep_batch=4,
            ckpt_batch=4,
            acc_iterations=120,
            maze_sizes=(9, 11, 13, 25),
            pf_n=500,
            compile=False,
            quick=True,
        )
    if mode == "smoke":
        return Settings(
            width=8,
            maze_size=5,
            batch=2,
            rounds=1,
            configs=[("mazes", 5, "maze 5 (16 px)"), ("pathfinder", 64, "PF 64 px")],
            model_args={"width": 8},
            sweep_steps=(1, 3, 12),
            sweep_batch=2,
            sweep_size=5,
            ckpt_steps=(4,),
            ckpt_batch=2,
            acc_iterations=3,
            acc_width=8,
            acc_size=5,
            acc_n_val=32,
            maze_sizes=(5,),
            pf_presets=("pf9",),
            pf_n=32,
            compile=False,
            quick=True,
        )
    return Settings()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller batches and fewer rounds")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes, to check the harness")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    p.add_argument("--models", default=None, help="comma-separated model names (default: the paper's models)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile lever (slow to compile)")
    p.add_argument(
        "--cold-compile", action="store_true", help="compile with an empty inductor cache (minutes on 2 cores)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--acc-seeds", type=int, default=None, help="seeds of the accuracy comparison (default 1)")
    p.add_argument("--json", default=None, help="also write every table and raw number to this JSON file")
    args = p.parse_args(argv)
    s = settings("smoke" if args.smoke else "quick" if args.quick else "full")
    if args.no_compile:
        s.compile = False
    s.cold_compile = args.cold_compile
    if args.acc_seeds:
        s.acc_seeds = args.acc_seeds
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    bad = sorted(set(wanted) - set(SECTIONS))
    if bad:
        p.error(f"unknown section(s) {bad}; choose from {SECTIONS}")
    report = Report()
    report.line(f"# locrnn benchmarks ({'smoke' if args.smoke else 'quick' if args.quick else 'full'})")
    report.line(f"machine: {machine()}")
    report.line(f"load average at start: {loadavg()}")
    report.raw["settings"] = asdict(s)
    t_start = time.time()
    peak = conv_peak(rounds=s.rounds, quick=s.quick)
    report.section_peak(peak)
    if "levers" in wanted:
        report.section_levers(s)
    if "models" in wanted:
        report.section_models(s, peak, args.models)
    if "memory" in wanted:
        report.section_memory(s)
    if "accuracy" in wanted:
        report.section_accuracy(s)
    if "data" in wanted:
        report.section_data(s)
    end_peak = conv_peak(rounds=s.rounds, quick=s.quick)
    report.raw["peak_at_end"] = end_peak
    report.line(
        "\nconvolution peak again at the end (GFLOP/s): "
        + ", ".join(f"{k} {v['gflops']:.0f}" for k, v in end_peak.items())
        + " (the shares above use the peak measured at the start)"
    )
    report.line(f"load average at end: {loadavg()}; total {time.time() - t_start:.0f} s")
    report.floors()
    if args.json:
        Path(args.json).write_text(json.dumps(report.raw, indent=1, default=str) + "\n")
    return 0


class Report:
    """Prints each table as soon as it is measured and keeps the raw numbers."""

    def __init__(self) -> None:
        self.raw: dict = {}

    def line(self, text: str = "") -> None:
        print(text, flush=True)

    def table(self, key: str, title: str, rows: list[dict], columns: list[tuple[str, str]], note: str = "") -> None:
        self.raw[key] = rows
        self.line(f"\n## {title}\n")
        self.line(fmt_table(rows, columns))
        if note:
            self.line(f"\n{note}")

    def section_peak(self, peak: dict) -> None:
        self.raw["peak"] = peak
        rows = [{"precision": k, **v} for k, v in peak.items()]
        self.table(
            "peak_rows",
            "Convolution peak (the reference for every share of peak)",
            rows,
            [("precision", "precision"), ("gflops", "GFLOP/s"), ("shape", "best shape"), ("layout", "layout")],
        )
        self.peak = peak

    def section_levers(self, s: Settings) -> None:
        from levers import agreement, breakdown, flops, levers

        fl = flops(s.width, s.maze_size)
        self.raw["flops"] = fl
        self.line(
            f"\nTraining GFLOP per image, LocRNN width {s.width}, maze {s.maze_size}, 15 steps (counted by "
            f"torch.utils.flop_counter from the layer shapes, forward + backward): "
            + ", ".join(f"{k} {v:.2f}" for k, v in fl.items())
        )
        self.line("\n(measuring the levers: every variant in the same interleaved rounds)")
        rows = levers(
            size=s.maze_size,
            width=s.width,
            batch=s.batch,
            rounds=s.rounds,
            compile_too=s.compile,
            cold_compile=s.cold_compile,
        )
        ref_flops = fl["plain oracle"]
        for r in rows:  # share of the peak of the precision used, counting the FLOPs each one runs
            prec = "bf16" if "bf16" in r["variant"] else "fp32"
            f = ref_flops if "oracle" in r["variant"] else fl["fused cell"]
            r["peak_share"] = f * r["train_ips"] / self.peak[prec]["gflops"]
        self.table(
            "levers",
            f"Levers: LocRNN maze training (width {s.width}, 15 steps, maze {s.maze_size}, batch {s.batch})",
            rows,
            [
                ("variant", "variant"),
                ("train_ips", "train img/s"),
                ("x_oracle", "x oracle"),
                ("peak_share", "share of peak"),
                ("cpu", "CPU/wall"),
                ("note", "note"),
            ],
            "Share of peak: FLOPs the variant runs x images/s over the convolution peak of its precision.",
        )
        agree = agreement(size=s.maze_size, width=s.width)
        self.table(
            "agreement",
            "Outputs against the oracle (same weights, 8 mazes, logits after 15 steps)",
            agree,
            [
                ("variant", "variant"),
                ("max_abs_diff", "max abs diff"),
                ("max_rel_to_max_logit", "max abs diff / max abs logit"),
                ("mean_abs_diff", "mean abs diff"),
                ("same_argmax", "same prediction"),
            ],
        )
        self.table(
            "breakdown",
            "Where the fast path's training step spends its time (torch.profiler, self CPU time)",
            breakdown(size=s.maze_size, width=s.width, batch=s.batch),
            [("kind", "kind of op"), ("share", "share")],
        )

    def section_models(self, s: Settings, peak: dict, models: str | None) -> None:
        from speed import PAPER_CONFIGS, default_models, model_speed

        names = models.split(",") if models else default_models()
        rows = []
        for name in names:
            rows += model_speed(
                name, s.configs or PAPER_CONFIGS, batch=s.batch, rounds=s.rounds, peak=peak, model_args=s.model_args
            )
            self.line(f"  measured {name}")
        self.table(
            "models",
            f"Models at their paper configuration (batch {s.batch}; fast path = the trainer's automatic precision)",
            rows,
            [
                ("model", "model"),
                ("config", "config"),
                ("precision", "fast"),
                ("train_ips", "train img/s"),
                ("train_ips_base", "baseline"),
                ("train_x", "x"),
                ("train_peak_share", "share of peak"),
                ("train_peak_share_base", "baseline share"),
                ("infer_ips", "infer img/s"),
                ("infer_ips_base", "baseline"),
                ("infer_x", "x"),
                ("baseline", "baseline is"),
                ("cpu_per_wall", "CPU/wall"),
            ],
            "Baseline: eager fp32; for LocRNN the plain oracle of tests/oracle.py, for the others the same model. "
            "Share of peak: training FLOPs per image (counted) x images/s over the convolution peak of the precision.",
        )

    def section_memory(self, s: Settings) -> None:
        from memory import checkpoint_memory, checkpoint_time, sweep_memory

        rows = sweep_memory(s.sweep_steps, width=s.width, size=s.sweep_size, batch=s.sweep_batch)
        self.table(
            "sweep_memory",
            f"No-gradient sweep (evaluate_steps, every step scored; LocRNN width {s.width}, maze {s.sweep_size}, "
            f"batch {s.sweep_batch}, fp32; one subprocess each)",
            rows,
            [
                ("steps", "steps"),
                ("peak_mib", "peak RSS MiB"),
                ("growth_mib", "growth MiB"),
                ("seconds", "seconds"),
                ("exact", "peak reset"),
            ],
            "peak RSS: the process's resident-set high-water mark during the sweep (VmHWM after "
            "clear_refs); growth: that peak minus the resident set just before the sweep.",
        )
        ck = checkpoint_memory(s.ckpt_steps, width=s.width, size=s.maze_size, batch=s.ckpt_batch)
        times = {
            n: checkpoint_time(n, width=s.width, size=s.maze_size, batch=s.ckpt_batch, rounds=s.rounds)
            for n in s.ckpt_steps
        }
        for r in ck:
            t = times[r["steps"]]
            r["train_ips"] = t["ips_ckpt"] if r["checkpoint"] else t["ips"]
        self.table(
            "checkpoint",
            f"Per-step gradient checkpointing (training forward + backward, LocRNN width {s.width}, maze "
            f"{s.maze_size}, batch {s.ckpt_batch})",
            ck,
            [
                ("steps", "steps"),
                ("checkpoint", "checkpoint"),
                ("peak_mib", "peak RSS MiB"),
                ("growth_mib", "growth MiB"),
                ("train_ips", "train img/s (interleaved)"),
            ],
        )

    def section_accuracy(self, s: Settings) -> None:
        from accuracy import side_by_side

        rows = []
        for seed in range(s.acc_seeds):  # each seed: its own data, initial weights and batch order
            for r in side_by_side(
                iterations=s.acc_iterations, size=s.acc_size, width=s.acc_width, n_val=s.acc_n_val, seed=seed
            ):
                rows.append({"seed": seed, **r})
        self.table(
            "accuracy",
            f"Same training, both implementations (LocRNN width {s.acc_width}, maze {s.acc_size}, batch 32, "
            f"{s.acc_iterations} iterations, same seed and batches)",
            rows,
            [
                ("seed", "seed"),
                ("run", "run"),
                ("train_seconds", "train s"),
                ("final_loss", "final loss"),
                ("val_accuracy", "val exact-match"),
                ("val_pixel_accuracy", "val pixel acc"),
                ("n_val", "n val"),
                ("same_pixels_as_fast", "same pixel predictions as the fast path"),
            ],
        )

    def section_data(self, s: Settings) -> None:
        from data_rate import maze_rates, pathfinder_report

        self.table(
            "maze_rates",
            "Maze generation (generate_mazes)",
            maze_rates(s.maze_sizes),
            [
                ("size", "size"),
                ("pixels", "px"),
                ("n", "n"),
                ("mazes_per_s_one_core", "mazes/s, 1 process"),
                ("mazes_per_s_all_cores", "mazes/s, all CPUs"),
            ],
        )
        pf = pathfinder_report(s.pf_presets, n=s.pf_n, rounds=1 if s.quick else 2)
        self.raw["pathfinder"] = pf
        self.line("\n## PathFinder generation (benchmarks/bench_pathfinder.py)\n")
        self.line(f"```\n{pf}\n```" if pf is not None else "(bench_pathfinder.py is not there yet)")

    def floors(self) -> None:
        """The issue's floors, checked on this run's numbers."""
        checks = []
        lev = {r["variant"]: r for r in self.raw.get("levers", [])}
        fast = lev.get("fused (current cell), bf16 autocast")
        if fast:
            checks.append(
                ("LocRNN maze training >= 2x the plain fp32 oracle", fast["x_oracle"] >= 2, f"{fast['x_oracle']:.2f}x")
            )
        sweep = {r["steps"]: r for r in self.raw.get("sweep_memory", [])}
        top = max(sweep) if sweep else None
        if top and 15 in sweep:
            for key, what in (("peak_mib", "process peak RSS"), ("growth_mib", "growth over the RSS before")):
                ref = max(sweep[k][key] for k in sweep if k <= 15)
                ratio = sweep[top][key] / ref
                checks.append(
                    (f"sweep to {top} steps <= 1.1x the memory of 1-15 steps ({what})", ratio <= 1.1, f"{ratio:.3f}x")
                )
        acc = self.raw.get("accuracy")
        if acc and len(acc) >= 2:
            checks.append(accuracy_check(acc))
        if checks:
            self.raw["floors"] = [{"floor": a, "met": b, "value": c} for a, b, c in checks]
            self.table("floors", "Floors", self.raw["floors"], [("floor", "floor"), ("value", "value"), ("met", "met")])


if __name__ == "__main__":
    sys.exit(main())
