"""Faults and bad inputs (issue 17): a run never silently wrong, nothing counted twice, every
failure one line that names what went wrong. docs/reliability.md lists what these tests try."""

import json
import time
from pathlib import Path

import pytest
import torch

from locrnn.cli import main
from locrnn.models import build_model
from locrnn.training import guard

TINY = ["--task", "mazes", "--size", "5", "--width", "8", "--steps", "2", "--n-train", "64", "--n-val", "16"]
TINY += ["--batch-size", "16", "--progress", "false", "--precision", "fp32", "--device", "cpu"]


def run_cli(capsys, argv) -> tuple[int, list[str]]:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, [line for line in err.splitlines() if line.strip()]


def fails(capsys, argv, *expected: str, code: int = 2) -> str:
    rc, lines = run_cli(capsys, argv)
    assert rc == code, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"locrnn {argv[0]}: error: "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# --- 1. divergence -------------------------------------------------------------------------------


def test_a_diverging_run_stops_naming_the_iteration_and_cause_and_saves_no_best(tmp_path, capsys):
    argv = ["train", *TINY, "--n-train", "256", "--epochs", "2", "--lr", "1e3", "--ckpt-every", "1"]
    line = fails(capsys, [*argv, "--out", tmp_path, "--name", "run", "--log-every", "1"], code=1)
    assert "training diverged at iteration" in line and "learning rate (1000) is likely too high" in line
    run = tmp_path / "run"
    assert not list(run.glob("best.*")) and not (run / "summary.json").exists()  # never a success
    state = torch.load(run / "trainer_state.pt", weights_only=True)
    stopped = int(line.split("iteration ")[1].split(":")[0])
    assert state["position"]["iteration"] < stopped  # the last checkpoint written before the blow-up
    assert f"(iteration {state['position']['iteration']}) is kept" in line
    assert max(r["iteration"] for r in rows(run)) == stopped


def test_the_guard_stops_on_huge_weights_even_when_the_loss_looks_calm():
    model = build_model("locrnn", task="mazes", width=8, steps=2)
    pos = {"iteration": 7}
    assert guard.check(pos, 0.7, 1.0, model) is None and not pos["suspect"]
    with torch.no_grad():
        next(model.parameters()).mul_(0).add_(8e17)  # the 0.693 plateau of a blown-up run
    assert "a weight reached magnitude 8e+17" in guard.check(pos, 0.693, 0.0, model)
    assert "gradient norm became nan" in guard.check({}, 0.7, float("nan"), build_model("locrnn", width=8))


def test_the_guard_waits_out_one_spike_but_holds_checkpoints_meanwhile():
    model = build_model("locrnn", task="mazes", width=8, steps=2)
    pos: dict = {}
    for loss in (0.7, 0.5, 0.4):
        assert guard.check(pos, loss, 1.0, model) is None
    assert guard.check(pos, 50.0, 1.0, model) is None and pos["suspect"]  # a spike: no checkpoint now
    assert guard.check(pos, 0.45, 1.0, model) is None and not pos["suspect"]  # back: checkpoints again
    for _ in range(guard.PATIENCE - 1):
        assert guard.check(pos, 50.0, 1.0, model) is None
    assert "stayed above 10x its lowest value (0.4)" in guard.check(pos, 50.0, 1.0, model)


# --- 6, 11. every option checked before any work; clear messages ---------------------------------


@pytest.mark.parametrize(
    "option, expected",
    [
        (["--n-val", "0"], "--n-val must be an integer >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be an integer >= 1, got 0"),
        (["--batch-size", "-4"], "--batch-size must be an integer >= 1, got -4"),
        (["--n-train", "8"], "--n-train must be at least one batch (--batch-size 16), got 8"),
        (["--ckpt-every", "0"], "--ckpt-every must be an integer >= 1"),
        (["--log-every", "0"], "--log-every must be an integer >= 1"),
        (["--model-args", "[1]"], "--model-args must be a JSON object, got [1]"),
        (["--objective", "bogus"], "--objective must be one of fixed, random_steps"),
        (["--width", "0"], '"width" is an integer >= 1'),
        (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
        (["--lr", "-1"], "--lr must be a number > 0"),
        (["--warmup", "2"], "--warmup must be a number between 0 and 1"),
        (["--name", "../elsewhere"], "--name must be a plain folder name"),
        (["--min-steps", "5", "--max-steps", "2"], "--max-steps must be at least --min-steps (5)"),
        (["--precision", "fp8"], "--precision must be one of auto, fp32, bf16, fp16"),
    ],
)
def test_a_bad_train_option_is_refused_before_any_work(tmp_path, capsys, option, expected):
    fails(capsys, ["train", *TINY, *option, "--out", tmp_path / "runs"], expected)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no orphan run folder


def test_an_option_given_with_resume_is_refused_not_ignored(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    fails(capsys, ["train", "--resume", tmp_path / "run", "--lr", "1"], "--lr cannot be given with --resume")
    fails(capsys, ["train", "--resume", tmp_path / "run", "--width", "4"], "--width cannot be given with --resume")


def test_a_resumed_config_with_a_value_of_the_wrong_type(tmp_path, capsys):
    from locrnn.training.config import make_config

    run = tmp_path / "run"
    run.mkdir()
    cfg = make_config("cpu").to_dict() | {"epochs": "3"}
    (run / "config.json").write_text(json.dumps(cfg))
    fails(
        capsys, ["train", "--resume", run], f"cannot resume: {run / 'config.json'}: epochs must be an integer, got '3'"
    )


@pytest.mark.parametrize(
    "option, expected",
    [
        (["--batch-size", "-1"], "--batch-size must be at least 1, got -1"),
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["--n", "0"], "--n must be at least 1, got 0"),
        (["--halt", "prediction", "--patience", "0"], "--patience must be at least 1, got 0"),
        (["--steps", "5:1"], "the range '5:1' is empty"),
        (["--steps", "1:9:0"], "the stride of '1:9:0' must be at least 1"),
        (["--sizes", "abc"], "--sizes: cannot read 'abc' as comma-separated integers"),
    ],
)
def test_a_bad_sweep_option_is_refused_before_any_work(tmp_path, capsys, option, expected):
    fails(capsys, ["sweep", "--pretrained", "locrnn-mazes", "--out", tmp_path, *option], expected)
    assert not (tmp_path / "sweep.csv").exists()


def test_an_empty_pretrained_name(capsys):
    fails(capsys, ["sweep", "--pretrained", ""], "--pretrained needs a name")


def test_reproduce_with_no_seeds(tmp_path, capsys):
    fails(capsys, ["reproduce", "fig2", "--seeds", "0", "--root", tmp_path], "--seeds must be at least 1, got 0")


# --- 12. only errors about the user's input are user errors ----------------------------------------


def test_an_internal_value_error_is_a_traceback_not_a_user_error(monkeypatch):
    import locrnn.cli.tools

    def bug(args):
        raise ValueError("an internal bug")

    monkeypatch.setattr(locrnn.cli.tools, "models", bug)
    with pytest.raises(ValueError, match="an internal bug"):
        main(["models"])


def test_input_checks_deep_in_the_package_are_still_user_errors(capsys):
    fails(capsys, ["train", *TINY, "--model", "resnet12"], "feed-forward")  # the model's own check
    fails(capsys, ["models", "--task", "chess"], "unknown task 'chess'")


# --- 2, 3. resume: every row once; one process per run folder ------------------------------------


def small_config(tmp_path, **kw):
    from locrnn.training.config import make_config

    opts = dict(size=5, model_args={"width": 8}, steps=2, n_train=64, n_val=16, batch_size=16, progress=False)
    opts |= dict(precision="fp32", device="cpu", out=str(tmp_path), name="run", log_every=1, ckpt_every=2)
    return make_config("cpu", **{**opts, **kw})


def killed_at_save(monkeypatch, cfg, nth: int) -> Path:
    """Train until the ``nth`` write of trainer_state.pt, which dies before it is written."""
    from locrnn.training import trainer

    calls, real = [], trainer._save_state

    def dying(*args, **kw):
        calls.append(1)
        if len(calls) == nth:
            raise KeyboardInterrupt  # as if killed: nothing after this point happens
        real(*args, **kw)

    monkeypatch.setattr(trainer, "_save_state", dying)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(cfg, log=lambda *a: None)
    monkeypatch.setattr(trainer, "_save_state", real)
    return Path(cfg.out) / cfg.name


@pytest.mark.parametrize("nth", [2, 3])  # mid-epoch (state of iteration 2 kept), after the epoch's validation
def test_a_resumed_run_logs_every_iteration_and_validation_once(tmp_path, monkeypatch, nth):
    from locrnn.training.trainer import train

    run = killed_at_save(monkeypatch, small_config(tmp_path), nth)
    assert [r["iteration"] for r in rows(run) if "loss" in r] == [1, 2, 3, 4]
    train(None, resume=run, log=lambda *a: None)
    assert [r["iteration"] for r in rows(run) if "loss" in r] == [1, 2, 3, 4]
    assert [r["iteration"] for r in rows(run) if "val_accuracy" in r] == [4]


def test_a_run_being_trained_cannot_be_resumed_by_a_second_process(tmp_path, capsys, monkeypatch):
    import os

    run = killed_at_save(monkeypatch, small_config(tmp_path), 2)
    lock = tmp_path / ".run.lock"
    lock.write_text(str(os.getppid()))  # a live process holds it
    before = (run / "metrics.jsonl").read_bytes()
    fails(capsys, ["train", "--resume", run], f"{run} is being trained by process {os.getppid()}")
    assert (run / "metrics.jsonl").read_bytes() == before and lock.read_text() == str(os.getppid())
    lock.write_text("999999999")  # its process is gone: taken over, and released at the end
    assert main(["train", "--resume", str(run)]) == 0
    assert not lock.exists() and (run / "summary.json").is_file()


# --- 5. malformed checkpoint descriptions -------------------------------------------------------


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda m: m["model"].update(colour="red"), "model 'locrnn' takes no argument 'colour'"),
        (lambda m: m["model"].update(name=["locrnn"]), "the model's name must be a string, got ['locrnn']"),
        (lambda m: m.update(model="locrnn"), "is not a locrnn checkpoint"),
        (lambda m: m["model"].pop("name"), "the model has no name"),
        (lambda m: m["model"].update(width="8"), "width must be an integer >= 1, got '8'"),
        (lambda m: m["model"].update(width=-8), "width must be an integer >= 1, got -8"),
        (lambda m: m["model"].update(task=3), "the model's task must be a string, got 3"),
    ],
)
def test_a_malformed_checkpoint_description_is_one_line_naming_it(tmp_path, capsys, change, expected):
    from locrnn.models.hub import save_model

    save_model(tmp_path / "best", build_model("locrnn", task="mazes", width=8, steps=2))
    meta = json.loads((tmp_path / "best.json").read_text())
    change(meta)
    (tmp_path / "best.json").write_text(json.dumps(meta))
    line = fails(capsys, ["sweep", tmp_path / "best", "--sizes", "5", "--steps", "1:2", "--n", "4"], expected)
    assert str(tmp_path / "best.json") in line


# --- 8, 9. maze files: few mazes, misnamed folders, crafted headers -----------------------------


def maze_folder(root: Path, n: int, size: int, name_size: int | None = None) -> Path:
    from locrnn.data.mazes import generate_mazes
    from locrnn.io import save_npy

    x, y = generate_mazes(n, size, seed=0, split="train")
    folder = root / f"maze_data_train_{name_size or size}"
    save_npy(folder / "inputs.npy", x)
    save_npy(folder / "solutions.npy", y)
    return folder


def test_fewer_than_five_mazes_still_validate_on_mazes_never_trained_on(tmp_path):
    from locrnn.tasks import get_task

    maze_folder(tmp_path, 4, 5)
    train, val = get_task("mazes").datasets(5, 0, 16, root=str(tmp_path))
    assert (len(train), len(val)) == (3, 1)
    assert not any((val.inputs[0] == t).all() for t in train.inputs)  # x[-0:] was the whole set


def test_a_single_maze_is_refused(tmp_path, capsys):
    maze_folder(tmp_path, 1, 5)
    fails(capsys, ["train", *TINY, "--data-root", tmp_path, "--n-train", "0", "--batch-size", "1"], "need 2 or more")


def test_a_folder_named_for_another_size_is_refused(tmp_path, capsys):
    maze_folder(tmp_path, 4, 11, name_size=9)
    line = fails(capsys, ["train", *TINY, "--size", "9", "--data-root", tmp_path, "--batch-size", "1"], "28x28 px")
    assert "the folder's name says size 9, whose mazes are 24x24 px (size 11 mazes are 28x28 px)" in line


def test_a_crafted_npy_header_is_refused_before_allocating(tmp_path, capsys):
    folder = maze_folder(tmp_path, 4, 9)
    import io

    import numpy as np

    data = (folder / "inputs.npy").read_bytes()
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": (999999999, 3, 24, 24)})
    (folder / "inputs.npy").write_bytes(buf.getvalue() + data[data.index(b"\n") + 1 :])
    line = fails(
        capsys, ["train", *TINY, "--size", "9", "--data-root", tmp_path], "header says shape (999999999, 3, 24, 24)"
    )
    assert str(folder / "inputs.npy") in line


# --- 4. a full disk (here: a file size limit) ----------------------------------------------------


def limited(argv, limit_bytes: int):
    """Run the CLI in a process whose files may not grow beyond ``limit_bytes`` (ulimit -f)."""
    import resource
    import subprocess
    import sys

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    cmd = [sys.executable, "-m", "locrnn", *[str(a) for a in argv]]
    return subprocess.run(cmd, capture_output=True, text=True, preexec_fn=cap, timeout=600)


def test_a_full_disk_while_writing_data_names_the_file_and_leaves_nothing(tmp_path):
    out = limited(["data", "mazes", "--size", "5", "--n", "400", "--root", tmp_path, "--workers", "1"], 20_000)
    lines = [line for line in out.stderr.strip().splitlines() if "maze/s]" not in line]  # (progress bars)
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith(f"locrnn data: error: cannot write {tmp_path / 'maze_data_train_5' / 'inputs.npy'}: ")
    assert "file size limit" in lines[0] or "file too large" in lines[0]
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary file


def test_a_full_disk_while_checkpointing_names_the_file_and_keeps_the_old_state(tmp_path, monkeypatch):
    run = killed_at_save(monkeypatch, small_config(tmp_path), 2)
    state = (run / "trainer_state.pt").read_bytes()
    out = limited(["train", "--resume", run], len(state) - 2048)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith(f"locrnn train: error: cannot write {run / 'trainer_state.pt'}: ")
    assert "file size limit" in lines[0] or "file too large" in lines[0]
    assert (run / "trainer_state.pt").read_bytes() == state  # the old one survives
    assert not list(run.glob(".*.tmp"))


# --- 7. the PathFinder cache follows the files ---------------------------------------------------


def test_a_repaired_png_is_read_again_not_skipped_from_the_cache(tmp_path, capsys):
    from locrnn.data.pathfinder_read import load_pathfinder

    argv = ["data", "pathfinder", "--length", "6", "--n", "20", "--size", "32", "--root", tmp_path, "--workers", "1"]
    assert main([str(a) for a in argv]) == 0
    png = tmp_path / "curv_baseline" / "imgs" / "0" / "sample_5.png"
    good = png.read_bytes()
    png.write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="sample_5.png"):
        broken, _ = load_pathfinder(tmp_path, 6, "train", size=32)
    png.write_bytes(good)  # repaired: the same list of files
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "skipped" warning from a stale cache
        repaired, _ = load_pathfinder(tmp_path, 6, "train", size=32)
    assert len(repaired) == len(broken) + 1


# --- 10. leftovers of killed writes --------------------------------------------------------------


def dead_pid() -> int:
    import subprocess

    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_half_written_files_of_a_killed_run_are_removed_when_it_resumes(tmp_path, monkeypatch):
    from locrnn.training.trainer import train

    run = killed_at_save(monkeypatch, small_config(tmp_path), 2)
    stale = [run / ".trainer_state.pt.abc123.tmp", run / f".best.safetensors.{dead_pid()}-x1y2z3.tmp"]
    for f in stale:
        f.write_bytes(b"half")
    train(None, resume=run, log=lambda *a: None)
    assert not list(run.glob(".*.tmp"))


def test_a_data_writer_removes_the_temporary_folders_of_killed_writers(tmp_path):
    import os

    dead, live = (
        tmp_path / f".maze_data_train_5.{dead_pid()}-abc.tmp",
        tmp_path / f".maze_data_test_5.{os.getppid()}-d.tmp",
    )
    for d in (dead, live):
        (d / "inputs.npy").parent.mkdir()
        (d / "inputs.npy").write_bytes(b"half")
    assert main(["data", "mazes", "--size", "5", "--n", "4", "--root", str(tmp_path), "--workers", "1"]) == 0
    assert not dead.exists() and live.exists()  # another live writer's folder is left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "maze_data_train_5"])


# --- kill -9 at random moments, resume each time ---------------------------------------------------


def last_iteration(run: Path) -> int:
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return 0
    done = [json.loads(line)["iteration"] for line in lines[:-1]]  # (the last one may be half-written)
    return max(done, default=0)


@pytest.mark.slow
def test_killed_again_and_again_the_run_ends_as_if_never_killed(tmp_path):
    """SIGKILL a small run at random moments (the first time while a checkpoint is being written),
    resume it each time: the weights equal an uninterrupted run's, bit for bit, and metrics.jsonl
    holds every row exactly once, the same rows as the uninterrupted run's."""
    import random
    import signal
    import subprocess
    import sys
    import time

    from locrnn.models.hub import load_model

    args = [*TINY, "--n-train", "256", "--epochs", "2", "--ckpt-every", "3", "--val-every", "5", "--log-every", "1"]
    cmd = [sys.executable, "-m", "locrnn", "train", *args, "--out", str(tmp_path)]
    subprocess.run([*cmd, "--name", "full"], check=True, capture_output=True)
    run, rnd, kills, reached = tmp_path / "part", random.Random(0), 0, 0
    proc = subprocess.Popen([*cmd, "--name", "part"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while kills < 4:
        deadline = time.time() + 120
        while not (run / "trainer_state.pt").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        if kills == 0:  # the first time: while a checkpoint is being written, if the poll catches one
            while not list(run.glob(".*.tmp")) and proc.poll() is None and time.time() < deadline:
                time.sleep(0.001)
        else:  # at a random moment once the resumed run has gone past where it was killed
            while last_iteration(run) <= reached and proc.poll() is None and time.time() < deadline:
                time.sleep(0.005)
            time.sleep(rnd.uniform(0, 0.3))
        if proc.poll() is not None:  # it finished first
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills, reached = kills + 1, last_iteration(run)
        proc = subprocess.Popen(
            [sys.executable, "-m", "locrnn", "train", "--resume", str(run)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert kills >= 2, "the run ended before it could be killed enough"

    a, b = load_model(tmp_path / "full" / "last"), load_model(run / "last")
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=0, atol=0, msg=k)
    full, part = (
        [{k: v for k, v in r.items() if k != "time"} for r in rows(folder)] for folder in (tmp_path / "full", run)
    )
    assert [r["iteration"] for r in part if "loss" in r] == list(range(1, 33))  # every iteration once
    assert part == full
    assert not list(run.glob(".*.tmp"))


def test_a_killed_but_unreaped_process_does_not_hold_a_lock():
    """A zombie (killed, not yet reaped by its parent) no longer runs: its lock may be taken over."""
    import subprocess
    import sys

    from locrnn.io import alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert alive(child.pid)
        child.kill()
        deadline = time.time() + 10
        while alive(child.pid) and time.time() < deadline:  # killed, and not reaped: a zombie
            time.sleep(0.01)
        assert not alive(child.pid)
    finally:
        child.kill()
        child.wait()
