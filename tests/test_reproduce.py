"""`locrnn reproduce` end to end at smoke scale: trains, skips finished runs, sweeps, reports."""

import csv
import json

import pytest
import torch

from locrnn.cli import main
from locrnn.reproduce import FIGURES, figure, recipe


def test_every_figure_is_defined_and_its_models_exist():
    from locrnn.models import get_entry

    for name in FIGURES:
        fig = figure(name, seeds=2)
        assert fig.runs and fig.claims
        for run in fig.runs:
            assert run.task in get_entry(run.model).tasks
            quick, paper = recipe(run, "quick"), recipe(run, "paper")
            assert quick.n_train <= paper.n_train * paper.epochs and paper.time_budget is None
    with pytest.raises(ValueError, match="unknown figure"):
        figure("fig9")


def test_every_run_of_every_figure_builds_from_its_recipe_at_every_scale():
    """Presets are written for LocRNN (e.g. ``init``, a step count): every other model of a figure
    still gets a recipe it can be built and called with."""
    from locrnn.training.trainer import build_for

    seen = set()
    for name in FIGURES:
        for run in figure(name).runs + figure(name, scale="quick").runs:
            for scale in ("smoke", "quick", "paper"):
                if (run.model, run.task, scale) in seen:
                    continue
                seen.add((run.model, run.task, scale))
                cfg = recipe(run, scale)
                model = build_for(cfg)
                if not model.recurrent:
                    assert cfg.steps is None, run
                if scale == "smoke":
                    assert torch.isfinite(model.eval()(torch.rand(2, 3, 48, 48))).all(), run
    assert {m for m, t, _ in seen if t == "pathfinder"} >= {"convgru", "resnet18", "locrnn_no_s"}


def test_fig4_smoke(tmp_path, capsys):
    assert main(["reproduce", "fig4", "--scale", "smoke", "--root", str(tmp_path)]) == 0
    out = tmp_path / "fig4"
    for f in ("README.md", "fig4.png", "predictions.png", "efficiency.png", "rows.csv", "efficiency.csv"):
        assert (out / f).is_file(), f
    rows = list(csv.DictReader(open(out / "rows.csv")))
    assert [int(r["steps"]) for r in rows] == list(range(1, 61))
    assert len(list(csv.DictReader(open(out / "efficiency.csv")))) >= 2
    run = tmp_path / "runs" / "smoke" / "mazes11-locrnn-s0"
    stamp = (run / "summary.json").stat().st_mtime
    swept = out / "sweeps" / "mazes11-locrnn-s0" / "sweep.json"
    swept_at = swept.stat().st_mtime
    assert main(["reproduce", "fig4", "--scale", "smoke", "--root", str(tmp_path)]) == 0  # reuses the run
    assert (run / "summary.json").stat().st_mtime == stamp
    assert swept.stat().st_mtime == swept_at  # and its sweep (same checkpoint, same parameters)
    assert "redrawn since" in (out / "README.md").read_text()  # the page keeps the time it took to make
    assert main(["reproduce", "fig4", "--scale", "smoke", "--root", str(tmp_path), "--n-test", "8"]) == 0
    assert swept.stat().st_mtime != swept_at  # other parameters: swept again
    assert "redrawn since" not in (out / "README.md").read_text()
    swept_at = swept.stat().st_mtime
    assert main(["reproduce", "fig4", "--scale", "smoke", "--root", str(tmp_path)]) == 0  # a redraw keeps n = 8
    assert swept.stat().st_mtime == swept_at and "redrawn since" in (out / "README.md").read_text()
    assert all(r["n"] == 8 for r in json.loads(swept.read_text()))
    assert "The paper's claims" in (out / "README.md").read_text()
    seconds = json.loads((run / "summary.json").read_text())["seconds"]
    assert f"Training its 1 run took {seconds / 60:.1f} min in all" in (out / "README.md").read_text()


def test_variants_stay_apart_in_tables_and_panels(tmp_path):
    """Runs of one model trained with different objectives get their own rows, lines and panels."""
    from locrnn.plots import plot_panels
    from locrnn.reproduce.report import _steps_table, label_variants

    fig = figure("stability")
    paper, penalty = [r for r in fig.runs if r.variant in ("paper", "penalty")]
    rows = [
        {
            "run": run.key,
            "model": "locrnn",
            "task": "mazes",
            "trained_on": 9,
            "difficulty": d,
            "steps": s,
            "trained_steps": 15,
            "accuracy": acc,
        }
        for run, acc in ((paper, 0.5), (penalty, 0.9))
        for d in (9, 13)
        for s in (1, 15, 30)
    ]
    labelled = label_variants(fig, rows)
    assert {r["model"] for r in labelled} == {"locrnn", "locrnn (penalty)"}
    table = "\n".join(_steps_table(labelled))
    assert "| mazes | locrnn (penalty) | 9 | 13 |  90.0 (T=15)" in table
    assert "| mazes | locrnn | 9 | 13 |  50.0 (T=15)" in table
    plot_panels(labelled, tmp_path / "p.png", "t")
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_a_run_trained_with_another_recipe_is_not_reused(tmp_path):
    """A finished run whose recorded config differs from the recipe (e.g. an older quick recipe)
    is refused by name, and left as it is."""
    import json

    from locrnn.io import UserError
    from locrnn.reproduce.figures import Run
    from locrnn.reproduce.runs import ensure_trained

    run = Run("locrnn", "mazes", 5, 0)
    folder = ensure_trained(run, "smoke", tmp_path, log=lambda *a: None)
    assert ensure_trained(run, "smoke", tmp_path, log=lambda *a: None) == folder  # same recipe: reused
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "n_train": 7, "lr": 0.5}))
    with pytest.raises(UserError, match=r"another recipe: lr=0.5 \(recipe: 0.002\), n_train=7"):
        ensure_trained(run, "smoke", tmp_path, log=lambda *a: None)
    assert (folder / "summary.json").is_file()


def test_quick_fig1_compares_every_maze_model_on_the_same_data():
    quick, paper = figure("fig1", scale="quick", task="mazes"), figure("fig1", task="mazes")
    assert {r.model for r in quick.runs} == {r.model for r in paper.runs}
    assert {r.difficulty for r in paper.runs} == {9, 11, 13} and {r.difficulty for r in quick.runs} == {9}
    assert len({recipe(r, "quick").n_train for r in quick.runs}) == 1
    pf = figure("fig1", scale="quick", task="pathfinder")
    assert {(r.difficulty, recipe(r, "quick").image_size) for r in pf.runs} == {(6, 48)}  # what the CPU preset learns


def test_quick_pathfinder_extrapolation_trains_on_the_middle_length_and_tests_both_sides():
    for name in ("fig3a", "fig3b"):
        quick, paper = figure(name, scale="quick"), figure(name)
        assert {r.difficulty for r in quick.runs} == {6} and {r.difficulty for r in paper.runs} == {14}
    (sweep,) = figure("fig3a", scale="quick").sweeps
    assert sweep.difficulties == (4, 6, 9) and figure("fig3a").sweeps[0].difficulties == (9, 14, 18)
    assert {sw.difficulties for sw in figure("fig3b", scale="quick").sweeps} == {(6,)}  # tested where trained


def test_a_finetuning_variant_trains_its_base_first_and_starts_from_it(tmp_path):
    from locrnn.reproduce.figures import VARIANTS, Run
    from locrnn.reproduce.runs import ensure_trained

    base = VARIANTS["contractive"]["finetune"]
    folder = ensure_trained(Run("locrnn", "mazes", 5, 0, "contractive"), "smoke", tmp_path, log=lambda *a: None)
    import json

    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["init_from"] == str(tmp_path / "runs" / "smoke" / f"mazes5-locrnn-{base}-s0" / "best")
    assert (
        cfg["contraction"] > 0 and (tmp_path / "runs" / "smoke" / f"mazes5-locrnn-{base}-s0" / "summary.json").is_file()
    )


def test_stability_long_runs_every_long_variant_to_ten_times_its_longest_unroll():
    from locrnn.reproduce.figures import LONG_VARIANTS, VARIANTS

    fig = figure("stability-long")
    assert [r.variant for r in fig.runs] == list(LONG_VARIANTS)
    longest = max(VARIANTS[v].get("max_steps") or 15 for v in LONG_VARIANTS)
    for sw in fig.sweeps:
        assert max(sw.steps) >= 10 * longest and 9 in sw.difficulties
    assert [sw.difficulties for sw in fig.sweeps][-1] == (9, 11, 13)


def test_a_figure_can_be_restricted_to_one_task():
    from locrnn.reproduce import figure

    full, mazes = figure("fig1"), figure("fig1", task="mazes")
    assert {r.task for r in full.runs} == {"mazes", "pathfinder"}
    assert {r.task for r in mazes.runs} == {"mazes"} and {s.run.task for s in mazes.sweeps} == {"mazes"}
    assert len(mazes.runs) == sum(r.task == "mazes" for r in full.runs) and "mazes only" in mazes.title
    assert (full.folder, mazes.folder, mazes.command("quick")) == (
        "fig1",
        "fig1-mazes",
        "locrnn reproduce fig1 --scale quick --task mazes",
    )
    assert figure("fig4", task="mazes") == figure("fig4")  # nothing to drop
    with pytest.raises(ValueError, match="no 'pathfinder' runs"):
        figure("fig4", task="pathfinder")


def test_the_efficiency_table_reads_when_each_run_first_reached_each_level():
    from locrnn.reproduce.report import _efficiency_table

    eff = [
        {"run": "fast", "images": n, "val_accuracy": a} for n, a in [(100, 0.5), (200, 0.75), (300, 0.85), (400, 0.8)]
    ] + [{"run": "slow", "images": n, "val_accuracy": a} for n, a in [(100, 0.5), (200, 0.55), (300, 0.65)]]
    lines = _efficiency_table(eff, levels=(0.7, 0.8))
    assert lines[2].startswith("| fast | 200 | 300 | 85.0") and lines[2].endswith("| 300 |")
    assert lines[3].startswith("| slow | not reached | not reached | 65.0")


def test_a_run_another_live_process_is_training_is_refused_and_a_stale_lock_is_taken_over(tmp_path):
    import subprocess

    from locrnn.io import UserError
    from locrnn.reproduce.figures import Run
    from locrnn.reproduce.runs import ensure_trained, run_folder

    run = Run("locrnn", "mazes", 5, 0)
    folder = run_folder(run, "smoke", tmp_path)
    lock = folder.with_name(f".{folder.name}.lock")
    lock.parent.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "30"])
    try:
        lock.write_text(str(other.pid))
        with pytest.raises(UserError, match=f"being trained by process {other.pid}"):
            ensure_trained(run, "smoke", tmp_path, log=lambda *a: None)
        assert lock.is_file() and not folder.exists()  # the other process's lock and files stay
    finally:
        other.kill()
        other.wait()
    assert ensure_trained(run, "smoke", tmp_path, log=lambda *a: None) == folder  # its process is gone
    assert (folder / "summary.json").is_file() and not lock.exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no lock files left


def test_one_run_trains_by_its_name_and_its_folder_records_a_command_that_does_so(tmp_path, capsys):
    from locrnn.reproduce import find_run

    assert find_run("pathfinder6-convgru-s0", scale="quick").model == "convgru"
    with pytest.raises(ValueError, match="unknown figure or run 'pathfinder6-nosuch-s0'"):
        find_run("pathfinder6-nosuch-s0", scale="quick")
    root = str(tmp_path)
    assert main(["reproduce", "mazes11-locrnn-s0", "--scale", "smoke", "--root", root]) == 0
    run = tmp_path / "runs" / "smoke" / "mazes11-locrnn-s0"
    assert (run / "summary.json").is_file() and not (tmp_path / "fig4").exists()
    recorded = (run / "command.txt").read_text().split()
    assert recorded[:2] == ["locrnn", "reproduce"]
    stamp = (run / "summary.json").stat().st_mtime
    assert main(recorded[1:] + ["--root", root]) == 0  # the recorded command is valid: finds it finished
    assert (run / "summary.json").stat().st_mtime == stamp
    assert main(["reproduce", "mazes11-nosuch-s0", "--scale", "smoke", "--root", root]) == 2
    assert "unknown figure or run 'mazes11-nosuch-s0'" in capsys.readouterr().err


def test_the_table_keeps_tasks_apart_when_a_model_is_trained_on_the_same_difficulty_of_both():
    """Paper-scale Fig. 1 trains LocRNN on mazes 9 (15 steps) and PathFinder 9 (another T)."""
    from locrnn.reproduce.report import _steps_table

    rows = [
        {
            "task": task,
            "model": "locrnn",
            "trained_on": 9,
            "difficulty": 9,
            "steps": s,
            "trained_steps": t,
            "accuracy": a,
        }
        for task, t, a in (("mazes", 15, 0.8), ("pathfinder", 6, 0.7))
        for s in (t, 20)
    ]
    table = "\n".join(_steps_table(rows))
    assert "| mazes | locrnn | 9 | 9 |  80.0 (T=15) |" in table
    assert "| pathfinder | locrnn | 9 | 9 |  70.0 (T=6) |" in table


@pytest.mark.slow
def test_runs_train_side_by_side_in_their_own_processes_and_the_figure_then_reuses_them(tmp_path, capsys):
    root = tmp_path / "r"
    assert main(["reproduce", "fig7", "--scale", "smoke", "--root", str(root), "--jobs", "2"]) == 0
    runs = root / "runs" / "smoke"
    for key in ("mazes11-locrnn-s0", "mazes11-convgru-s0"):
        assert (runs / key / "summary.json").is_file()
        out = (runs / f".{key}.out").read_text()  # each was trained by its own process
        assert f"{key}: {runs / key}" in out, out[-500:]
    assert (root / "fig7" / "README.md").is_file()
    assert "2 runs, 2 at a time" in capsys.readouterr().err
    assert main(["reproduce", "fig7", "--scale", "smoke", "--root", str(root), "--jobs", "0"]) == 2


def test_a_finetuning_run_waits_for_its_base_run_when_runs_train_side_by_side():
    from locrnn.reproduce import Run
    from locrnn.reproduce.parallel import next_ready

    base, tuned, other = (Run("locrnn", "mazes", 9, 0, v) for v in ("fixedpoint", "contractive", "paper"))
    assert next_ready([tuned, base, other], set()) == base
    assert next_ready([tuned, other], {base}) == other  # its base is being trained: not yet
    assert next_ready([tuned], {base}) is None
    assert next_ready([tuned], {other}) == tuned  # its base is finished


def test_with_several_seeds_the_table_gives_the_mean_and_each_seed_and_the_bars_a_dot_per_seed(tmp_path, monkeypatch):
    """An ablation that converges in one seed of two must not read as a model at 68%."""
    import matplotlib.axes

    from locrnn.plots import plot_bars
    from locrnn.reproduce.report import _steps_table

    rows = [
        {"task": "pathfinder", "model": "locrnn_no_s", "trained_on": 6, "difficulty": 6, "steps": 4}
        | {"trained_steps": 4, "seed": seed, "accuracy": acc}
        for seed, acc in ((1, 0.88), (0, 0.49))
    ]
    table = "\n".join(_steps_table(rows))
    assert "| pathfinder | locrnn_no_s | 6 | 6 |  68.5 [49.0 / 88.0] (T=4) |" in table
    drawn = []
    plot = matplotlib.axes.Axes.plot
    monkeypatch.setattr(
        matplotlib.axes.Axes, "plot", lambda ax, x, y, *a, **k: drawn.append(y) or plot(ax, x, y, *a, **k)
    )
    plot_bars(rows, tmp_path / "b.png", "t")
    assert [sorted(y) for y in drawn] == [pytest.approx([49, 88])] and (tmp_path / "b.png").stat().st_size > 1000


def test_a_figures_command_names_its_seeds_and_task():
    assert figure("fig3b", scale="quick").command("quick") == "locrnn reproduce fig3b --scale quick"
    assert figure("fig3b", seeds=2).command("paper") == "locrnn reproduce fig3b --scale paper --seeds 2"
    assert figure("fig1", task="mazes").command("quick") == "locrnn reproduce fig1 --scale quick --task mazes"


def test_the_halting_rule_is_read_from_the_checkpoints_model(tmp_path):
    """A run is halted by its learned head when its checkpoint's model has one (halting: act), not
    because of the name of the objective it was trained with."""
    from locrnn.models import build_model
    from locrnn.models.hub import save_model
    from locrnn.reproduce.make import halting_rule

    save_model(tmp_path / "act", build_model("locrnn", task="mazes", width=8, steps=2, halting="act"))
    save_model(tmp_path / "plain", build_model("locrnn", task="mazes", width=8, steps=2))
    assert halting_rule(tmp_path / "act") == "act"
    assert halting_rule(tmp_path / "plain") == "prediction"


def test_the_sweep_cache_reuses_rows_until_the_parameters_or_the_checkpoint_change(tmp_path):
    import os

    from locrnn.io import save_json
    from locrnn.reproduce.cache import cached_rows

    ck = tmp_path / "best"
    ck.with_suffix(".safetensors").write_bytes(b"weights")
    calls = []

    def compute(tag="a"):
        calls.append(tag)
        rows = [{"steps": 1, "accuracy": 0.5, "tag": tag}]
        save_json(tmp_path / "sweep" / "sweep.json", rows)  # as a sweep writes its rows
        return rows

    first, now = cached_rows(tmp_path / "sweep", "sweep", {"n": 8}, ck, compute)
    assert now and calls == ["a"]
    again, now = cached_rows(tmp_path / "sweep", "sweep", {"n": 8}, ck, lambda: compute("b"))
    assert not now and again == first and calls == ["a"]  # a redraw: not swept again
    _, now = cached_rows(tmp_path / "sweep", "sweep", {"n": 16}, ck, lambda: compute("c"))
    assert now and calls == ["a", "c"]  # other parameters
    stat = ck.with_suffix(".safetensors").stat()
    os.utime(ck.with_suffix(".safetensors"), (stat.st_atime, stat.st_mtime + 10))  # retrained
    _, now = cached_rows(tmp_path / "sweep", "sweep", {"n": 16}, ck, lambda: compute("d"))
    assert now and calls == ["a", "c", "d"]


def test_a_time_budget_enters_the_recipe_and_travels_to_the_processes_that_train_side_by_side(tmp_path):
    """``--time-budget`` (the paper's recipes in a short GPU lease) is part of a run's recipe: a
    budgeted run is neither reused as a full one nor the reverse; ``--compile`` only says how."""
    from locrnn.io import UserError
    from locrnn.reproduce.figures import Run
    from locrnn.reproduce.recipes import RunOptions
    from locrnn.reproduce.runs import ensure_trained

    run, quiet = Run("locrnn", "mazes", 5, 0), (lambda *a: None)
    opts = RunOptions(time_budget=30.0, compile=False)
    cfg = recipe(run, "paper", opts)
    assert (cfg.time_budget, cfg.compile, cfg.epochs) == (30.0, False, recipe(run, "paper").epochs)
    assert opts.flags() == ["--time-budget", "30", "--compile", "off"]
    assert RunOptions().flags() == [] and RunOptions(compile=True).flags() == ["--compile", "on"]
    folder = ensure_trained(run, "smoke", tmp_path, quiet, RunOptions(time_budget=60.0))
    assert json.loads((folder / "config.json").read_text())["time_budget"] == 60.0
    assert ensure_trained(run, "smoke", tmp_path, quiet, RunOptions(time_budget=60.0, compile=False)) == folder
    with pytest.raises(UserError, match=r"another recipe: time_budget=60.0 \(recipe: None\)"):
        ensure_trained(run, "smoke", tmp_path, quiet)


def test_a_budgeted_runs_page_says_how_much_of_its_recipe_it_trained(tmp_path):
    from locrnn.reproduce.report import budget_lines

    run = tmp_path / "mazes11-locrnn-s0"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"time_budget": 350.0, "epochs": 50, "n_train": 40000}))
    summary = {"images": 271360, "images_per_second": 769.2, "best_val_accuracy": 0.991}
    (run / "summary.json").write_text(json.dumps(summary))
    lines = budget_lines({"mazes11-locrnn-s0": run})
    assert "| mazes11-locrnn-s0 | 350 s | 271,360 of 2,000,000 (14%) | 769 | 99.1% |" in lines
    (run / "config.json").write_text(json.dumps({"time_budget": None, "epochs": 50, "n_train": 40000}))
    assert budget_lines({"mazes11-locrnn-s0": run}) == []


def test_reproduce_refuses_a_time_budget_that_is_not_positive(capsys):
    assert main(["reproduce", "fig2", "--scale", "smoke", "--time-budget", "0"]) == 2
    assert "--time-budget must be a positive number of seconds" in capsys.readouterr().err
