"""Figures from rows (plots.py): each drawing writes a non-empty PNG, atomically (no temporary
file is left, a failed drawing keeps the previous file)."""

import numpy as np
import pytest

from locrnn import plots

PNG = b"\x89PNG\r\n\x1a\n"


def _rows():
    rows = []
    for model in ("locrnn", "convgru"):
        for seed in (0, 1):
            for d in (9, 13):
                for s in (1, 5, 10):
                    acc = min(1.0, s / 10) * (0.9 if d == 9 else 0.5) - 0.05 * seed
                    rows.append(
                        dict(run=f"mazes9-{model}-s{seed}", model=model, task="mazes", trained_on=9, difficulty=d,
                             steps=s, accuracy=acc, trained_steps=5, seed=seed, nonfinite=0.0)
                    )  # fmt: skip
    rows.append(dict(run="mazes9-resnet-s0", model="resnet", task="mazes", trained_on=9, difficulty=9, steps=None,
                     accuracy=0.4, trained_steps=None, seed=0, nonfinite=0.0))  # fmt: skip
    return rows


def _png_only(folder, names):
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)  # no temporary files left
    for name in names:
        data = (folder / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 1000, name


def test_every_drawing_writes_a_png_from_rows(tmp_path):
    rows = _rows()
    steps_rows = [r for r in rows if r["steps"] in (5,) or r["steps"] is None]
    eff = [dict(run=r, images=i, val_accuracy=a) for r in ("a", "b") for i, a in ((100, 0.1), (200, 0.6))]
    plots.plot_sweep(rows, tmp_path / "sweep.png", title="sweep")
    plots.plot_halting({9: [3, 4, 4, 5], 13: [6, 8, 9]}, tmp_path / "halting.png", title="halting")
    plots.plot_bars(steps_rows, tmp_path / "bars.png", "bars")
    plots.plot_efficiency(eff, tmp_path / "efficiency.png", "efficiency")
    plots.plot_panels(rows, tmp_path / "panels.png", "panels")
    rng = np.random.default_rng(0)
    probs = {t: rng.random((2, 8, 8)) for t in (1, 5)}
    plots.plot_predictions(rng.random((2, 3, 8, 8)), rng.integers(0, 2, (2, 8, 8)), probs, tmp_path / "pred.png")
    _png_only(tmp_path, ["sweep.png", "halting.png", "bars.png", "efficiency.png", "panels.png", "pred.png"])


def test_a_drawing_that_fails_keeps_the_previous_file(tmp_path, monkeypatch):
    path = plots.plot_sweep(_rows(), tmp_path / "sweep.png")
    before = path.read_bytes()

    def broken(self, *args, **kwargs):
        raise RuntimeError("the renderer failed")

    monkeypatch.setattr(plots.plt.Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="renderer failed"):
        plots.plot_sweep(_rows()[:3], path)
    assert path.read_bytes() == before
    _png_only(tmp_path, ["sweep.png"])


def test_size_extrapolation_drawings_write_pngs_from_halting_and_sweep_rows(tmp_path):
    halting = [
        dict(model=m, difficulty=d, accuracy=a, mean_steps=s, max_steps=50 * d)
        for m, k in (("locrnn", 1.0), ("locrnn (contractive)", 0.5))
        for d, a, s in ((9, 0.98 * k, 40), (19, 0.4 * k, 300), (59, 0.0, 2950))
    ]
    sweep = [dict(model=h["model"], difficulty=19, steps=s, accuracy=0.1 * i) for i, s in enumerate((10, 100, 950))
             for h in halting[:2]]  # fmt: skip
    plots.plot_accuracy_vs_size(halting, tmp_path / "accuracy_vs_size.png", title="size")
    plots.plot_size_steps(sweep, [h for h in halting if h["difficulty"] == 19], tmp_path / "steps_19.png", title="19")
    _png_only(tmp_path, ["accuracy_vs_size.png", "steps_19.png"])
