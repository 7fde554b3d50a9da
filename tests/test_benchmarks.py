"""The plain oracle model and the benchmark scripts, at tiny sizes (the timings themselves are
measured by ``benchmarks/run.py``, never asserted here)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from locrnn.models import build_model
from oracle import PlainLocRNN

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def tiny_locrnn(task="mazes"):
    torch.manual_seed(0)
    return build_model("locrnn", task=task, width=8)


@pytest.mark.parametrize("task,side", [("mazes", 16), ("pathfinder", 40)])
def test_plain_model_equals_the_fused_model(task, side):
    model = tiny_locrnn(task).eval()
    plain = PlainLocRNN(model).eval()
    x = torch.rand(2, 3, side, side)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), model(x), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(plain(x, 20), model(x, 20), rtol=1e-4, atol=1e-5)
        for a, b in zip(plain.iterate(x, 4), model.iterate(x, 4)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_plain_model_trains_its_own_terms_and_exports_them():
    model = tiny_locrnn()
    plain = PlainLocRNN(model)
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in model.parameters())
    x = torch.rand(2, 3, 16, 16)
    opt = torch.optim.SGD(plain.parameters(), lr=0.1)
    plain(x).square().mean().backward()
    opt.step()
    assert not torch.equal(plain.weights["W_ls"], model.cell.w_l.weight[:, 8:])  # the copy moved, not the model
    plain.eval()
    exported = plain.export_to(tiny_locrnn()).eval()
    with torch.no_grad():
        torch.testing.assert_close(exported(x), plain(x), rtol=1e-4, atol=1e-5)


def test_oracle_refuses_what_it_does_not_cover():
    with pytest.raises(ValueError, match="full LocRNN"):
        PlainLocRNN(build_model("locrnn_no_s", task="mazes", width=8))


def test_cell_variants_compute_the_same_equations():
    from variants import no_zero_skip, out_of_place, two_tensor

    x = torch.rand(2, 3, 16, 16)
    ref = tiny_locrnn().eval()
    with torch.no_grad():
        expected = ref(x)
        for variant in (two_tensor, no_zero_skip, out_of_place):
            torch.testing.assert_close(variant(tiny_locrnn()).eval()(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_gpu_script_smoke_path(tmp_path):
    """benchmarks/gpu_paper_mazes.sh end to end on the CPU path with tiny sizes."""
    out = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_paper_mazes.sh"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["train_images_per_second"] > 0
    assert 0 <= report["best_val_accuracy"] <= 1
    assert set(report["test_accuracy"]) == {f"size {s}, {t} steps" for s in (5, 7) for t in (2, 4)}
    assert report["runtime"]["device"] == "cpu" and report["runtime"]["compiled"] is False
    assert "images/s" in out.stdout


@pytest.mark.slow
def test_the_one_lease_gpu_script_makes_every_page_and_packs_them(tmp_path):
    """benchmarks/gpu_paper.sh (Figs. 2, 7, 4 and 3A in one command) end to end at smoke scale:
    every page, the budget table, and the two packs a lease brings back."""
    import os
    import sys
    import tarfile

    env = {**os.environ, "LOCRNN_PY": sys.executable, "ROOT": str(tmp_path / "paper"), "PACK": str(tmp_path / "pack")}
    out = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_paper.sh"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    for fig in ("fig2", "fig7", "fig4", "fig3a"):
        page = (tmp_path / "gpu-smoke" / fig / "README.md").read_text()
        assert "| run | budget | images trained of the recipe's |" in page, fig
    assert "mazes exit 0, pathfinder exit 0" in out.stdout
    with tarfile.open(tmp_path / "pack" / "runs.tar.gz") as tar:
        names = tar.getnames()
    assert "mazes11-locrnn-s0/best.safetensors" in names and "pathfinder14-locrnn-s0/summary.json" in names


def test_accuracy_floor_pools_seeds():
    """The same-accuracy check averages the per-seed differences and widens its tolerance by their spread."""
    from run import accuracy_check

    def seed(k, oracle, fast, n=1000):
        return [{"seed": k, "val_accuracy": oracle, "n_val": n}, {"seed": k, "val_accuracy": fast, "n_val": n}]

    name, met, value = accuracy_check(seed(0, 0.65, 0.605))
    assert not met and "-4.5" in value  # one seed, 4.5 points apart: more than two binomial SEs (4.3)
    name, met, value = accuracy_check(seed(0, 0.65, 0.605) + seed(1, 0.60, 0.63) + seed(2, 0.62, 0.62))
    assert met and "3 seeds" in name and "per seed -4.5, +3.0, +0.0" in value
    assert not accuracy_check(seed(0, 0.9, 0.5) + seed(1, 0.9, 0.52))[1]  # consistently worse: fails


def test_cpu_levers_smoke(tmp_path, capsys):
    """benchmarks/cpu_levers.py end to end at tiny sizes: every row trains, with a positive rate and share."""
    from cpu_levers import BASELINE, FUSED, main

    threads = torch.get_num_threads()
    assert main(["--smoke", "--json", str(tmp_path / "levers.json")]) == 0
    assert torch.get_num_threads() == threads  # the thread rows restore the count
    res = json.loads((tmp_path / "levers.json").read_text())
    rows = {r["variant"]: r for r in res["rows"]}
    assert {BASELINE, FUSED, "fused, fp32, channels-last", "fused, fp32, batch 4"} <= set(rows)
    assert rows[BASELINE]["x_oracle"] == pytest.approx(1.0)
    for r in rows.values():
        assert r["train_ips"] > 0 and r["peak_share"] > 0 and r["gflop_per_img"] > 0, r
    assert ("fused, bf16 autocast" in rows) == res["native_bf16"]
    assert set(res["peak"]) == ({"fp32", "bf16"} if res["native_bf16"] else {"fp32"})
    assert res["cpu_class"].endswith("(native)" if res["native_bf16"] else "(fp32 only)") or "via" in res["cpu_class"]
    assert res["summary"].startswith(f"auto picks {res['auto_precision']}; LocRNN")
    out = capsys.readouterr().out
    assert "| plain oracle, fp32 (baseline)" in out and res["summary"] in out


def test_dt_budget_counts_one_step_of_dt_recall_as_its_five_convolutions():
    import dt_budget

    from locrnn.reproduce.figures import Run
    from locrnn.reproduce.recipes import recipe

    x, _ = dt_budget._mazes(1)
    cfg = dt_budget.with_width(recipe(Run("dt_recall", "mazes", 9, 0, "deepthinking"), "quick"), 8)
    side = x.shape[-1]  # the input's half of the recall conv runs once per forward, not per step
    assert dt_budget.step_flops(cfg, x) == 2 * 9 * side * side * 5 * 8 * 8


def test_pixel_norm_benchmark_baseline_is_the_same_norm():
    from pixel_norm import var_mean_norm

    from locrnn.models.layers import pixel_group_norm

    x, w, b = torch.randn(2, 8, 5, 6) * 2 + 1, torch.rand(8), torch.randn(8)
    torch.testing.assert_close(pixel_group_norm(x, 2, w, b), var_mean_norm(x, 2, w, b), atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_pixel_norm_benchmark_smoke(capsys):
    """benchmarks/pixel_norm.py at its smoke size: every row is timed."""
    from pixel_norm import main

    main(["--quick"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| training step") or line.startswith("| forward")]
    assert len(rows) == 6 and all(float(r.split("|")[3]) > 0 for r in rows), out


@pytest.mark.slow
def test_malloc_benchmark_smoke(capsys):
    """benchmarks/malloc.py at its smoke size: both settings run in their own processes and every row is timed."""
    from malloc import SETTINGS, main

    assert main(["--quick"]) == 0
    out = capsys.readouterr().out
    for name in SETTINGS:
        rates = [line for line in out.splitlines() if name in line and "/s" in line]
        assert len(rates) == 3 and all(float(r.split("|")[3].split()[0]) > 0 for r in rates), out
