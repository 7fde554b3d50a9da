"""What is specific to each baseline family: equations, per-step norm rules, weight tying, counts."""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from locrnn.models import build_model, get_entry, list_models
from locrnn.models.hub import load_model, save_model
from locrnn.models.summary import PARAM_NOTES, count_params, model_table


def maze_batch(n=2, side=16):
    return torch.rand(n, 3, side, side)


def randomise_norms(model):
    """Give every norm non-default weights and running statistics (as training would)."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                    m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model


def outputs(model, x, steps):
    with torch.no_grad():
        return torch.stack(list(model.iterate(x, steps)))


# --- ConvGRU ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name,phi", [("convgru", torch.tanh), ("convgru_relu", F.relu)])
def test_convgru_matches_the_concatenated_equations(name, phi):
    model = build_model(name, task="mazes", width=8).eval()
    cell, x = model.cell, maze_batch()
    with torch.no_grad():
        X = model.stem(x)
        h = torch.zeros(2, 8, 16, 16)
        W_zr, b_zr, W_h, b_h = cell.gates.weight, cell.gates.bias, cell.cand.weight, cell.cand.bias
        for got in model.states(x, 4):
            z, r = torch.sigmoid(F.conv2d(torch.cat([X, h], 1), W_zr, b_zr, padding=2)).chunk(2, 1)
            h_tilde = phi(F.conv2d(torch.cat([X, r * h], 1), W_h, b_h, padding=2))
            h = (1 - z) * h + z * h_tilde
            torch.testing.assert_close(got, h, rtol=1e-4, atol=1e-5)


def test_convgru_init_is_orthogonal_with_zero_bias():
    cell = build_model("convgru", task="mazes", width=8).cell
    for w in (*cell.gates.weight.split(8, 0), cell.cand.weight):
        m = w.flatten(1)
        torch.testing.assert_close(m @ m.T, torch.eye(8), atol=1e-5, rtol=0)
    assert not cell.gates.bias.any() and not cell.cand.bias.any()


# --- hConvGRU --------------------------------------------------------------------------------


def test_hconvgru_step_matches_the_equations():
    model = randomise_norms(build_model("hconvgru", task="mazes", width=8, steps=4)).eval()
    c = model.cell
    X, h = torch.rand(2, 8, 12, 12), torch.rand(2, 8, 12, 12)
    n_t = c.step_norms[2]
    with torch.no_grad():
        g1 = torch.sigmoid(n_t["g1"](F.conv2d(h, c.u1.weight, c.u1.bias)))
        c1 = n_t["c1"](F.conv2d(h * g1, c.w_inh, padding=2))
        n = F.relu(X - F.relu(c1 * (c.alpha * h + c.mu)))
        g2 = torch.sigmoid(n_t["g2"](F.conv2d(n, c.u2.weight, c.u2.bias)))
        c2 = n_t["c2"](F.conv2d(n, c.w_exc, padding=2))
        h_tilde = F.relu(c.kappa * n + c.gamma * c2 + c.omega * n * c2)
        torch.testing.assert_close(c(X, h, 2), (1 - g2) * h + g2 * h_tilde)
        # t = 0 starts from h_0 = 0: no inhibition, so n = ReLU(X)
        zero = torch.zeros_like(X)
        n0 = c.step_norms[0]
        g2 = torch.sigmoid(n0["g2"](c.u2(F.relu(X))))
        c2 = n0["c2"](F.conv2d(F.relu(X), c.w_exc, padding=2))
        h_tilde = F.relu(c.kappa * F.relu(X) + c.gamma * c2 + c.omega * F.relu(X) * c2)
        torch.testing.assert_close(c(X, zero, 0), g2 * h_tilde)


def test_hconvgru_init_and_symmetric_gradients():
    cell = build_model("hconvgru", task="mazes", width=8, steps=15).cell
    assert (cell.u1.bias >= 0).all() and (cell.u1.bias <= torch.log(torch.tensor(14.0))).all()
    torch.testing.assert_close(cell.u2.bias, -cell.u1.bias)
    assert [len(cell.step_norms[t]) for t in (0, 1, 14)] == [2, 4, 4]  # step 0: h_0 = 0, no g1/c1
    assert not torch.allclose(cell.w_inh, cell.w_inh.transpose(0, 1))  # starts unsymmetric
    out = cell(torch.rand(2, 8, 10, 10), torch.rand(2, 8, 10, 10), 3)
    out.square().sum().backward()
    for w in (cell.w_inh, cell.w_exc):
        torch.testing.assert_close(w.grad, w.grad.transpose(0, 1))


@pytest.mark.parametrize("train", [False, True])
def test_hconvgru_soft_restoration_beyond_trained_steps(train):
    """Steps t >= T use freshly initialised BatchNorms, which are not in the state dict."""
    T = 3
    model = randomise_norms(build_model("hconvgru", task="mazes", width=8, steps=T))
    assert len(model.cell.step_norms) == T
    assert not any(k.startswith(f"cell.step_norms.{T}.") for k in model.state_dict())
    explicit = copy.deepcopy(model)
    explicit.cell.step_norms.resize(2 * T)  # appends fresh BatchNorm2d modules
    model.train(train), explicit.train(train)
    x = maze_batch()
    torch.testing.assert_close(outputs(explicit, x, 2 * T), outputs(model, x, 2 * T))
    # and the restored steps matter: the trained norms are not the fresh ones
    plain = build_model("hconvgru", task="mazes", width=8, steps=T).train(train)
    plain.load_state_dict(model.state_dict())
    plain.cell.step_norms.resize(0)
    assert not torch.allclose(outputs(plain, x, T), outputs(model, x, T))


@pytest.mark.parametrize("built_steps", [2, 3, 7])
def test_hconvgru_weights_load_at_another_step_count(built_steps):
    trained = randomise_norms(build_model("hconvgru", task="mazes", width=8, steps=3)).eval()
    other = build_model("hconvgru", task="mazes", width=8, steps=built_steps).eval()
    other.load_state_dict(trained.state_dict())
    assert len(other.cell.step_norms) == 3
    x = maze_batch()
    torch.testing.assert_close(outputs(other, x, 8), outputs(trained, x, 8))


def test_hconvgru_checkpoint_round_trip_runs_past_trained_steps(tmp_path):
    model = randomise_norms(build_model("hconvgru", task="mazes", width=8, steps=3)).eval()
    save_model(tmp_path / "best", model)
    loaded = load_model(tmp_path).eval()
    x = maze_batch()
    torch.testing.assert_close(outputs(loaded, x, 7), outputs(model, x, 7))


def test_hconvgru_shared_norms_do_not_depend_on_steps():
    a = build_model("hconvgru_shared", task="mazes", width=8, steps=3)
    b = build_model("hconvgru_shared", task="mazes", width=8, steps=30)
    assert count_params(a) == count_params(b)
    assert not hasattr(a.cell, "step_norms")
    with pytest.raises(ValueError, match="per_step or shared"):
        build_model("hconvgru", task="mazes", width=8, step_norm="bogus")


@pytest.mark.parametrize("name", ["hconvgru", "cornet_s"])
def test_norm_steps_is_separate_from_the_call_steps(name):
    """``steps`` is the default call-time count, ``norm_steps`` the number of per-step norm sets."""
    model = build_model(name, task="mazes", width=8, steps=3, norm_steps=5)
    assert model.trained_steps == 3 and len(model.cell.step_norms) == 5
    assert model.config["steps"] == 3 and model.config["norm_steps"] == 5
    plain = build_model(name, task="mazes", width=8, steps=3)
    assert len(plain.cell.step_norms) == 3 and plain.config["norm_steps"] is None  # default: one per step


# --- CORnet-S --------------------------------------------------------------------------------


def test_cornet_last_rule_reuses_the_last_trained_norms():
    T = 3
    model = randomise_norms(build_model("cornet_s", task="mazes", width=8, steps=T)).eval()
    cell = model.cell
    assert all(cell.norms(t) is cell.step_norms[T - 1] for t in range(T - 1, 3 * T))
    assert cell.norms(0) is not cell.norms(1)
    # the same as a model trained for 2T steps whose extra per-step norms copy step T-1's
    explicit = copy.deepcopy(model)
    explicit.cell.step_norms.resize(2 * T)
    for t in range(T, 2 * T):
        explicit.cell.step_norms[t].load_state_dict(model.cell.step_norms[T - 1].state_dict())
    x = maze_batch()
    torch.testing.assert_close(outputs(explicit, x, 2 * T), outputs(model, x, 2 * T))


def test_cornet_last_rule_loads_at_another_step_count():
    trained = randomise_norms(build_model("cornet_s", task="mazes", width=8, steps=3)).eval()
    other = build_model("cornet_s", task="mazes", width=8, steps=6).eval()
    other.load_state_dict(trained.state_dict())
    x = maze_batch()
    torch.testing.assert_close(outputs(other, x, 6), outputs(trained, x, 6))


@pytest.mark.parametrize("rule", ["shared", "group"])
def test_cornet_shared_rules_have_one_norm_set(rule):
    a = build_model("cornet_s", task="mazes", width=8, steps=2, extra_steps_norm=rule)
    b = build_model("cornet_s", task="mazes", width=8, steps=20, extra_steps_norm=rule)
    assert count_params(a) == count_params(b)
    assert all(a.cell.norms(t) is a.cell.norms(0) for t in range(5))
    cell_bns = [m for m in a.cell.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bool(cell_bns) == (rule == "shared")


def test_cornet_group_rule_is_per_sample():
    model = build_model("cornet_s", task="mazes", width=8, norm="none", extra_steps_norm="group").train()
    x = maze_batch(3)
    with torch.no_grad():  # no batch statistics anywhere: a sample's output ignores the others
        torch.testing.assert_close(model(x[:1], steps=5), model(x, steps=5)[:1])


def test_cornet_bad_rule_is_named():
    with pytest.raises(ValueError, match="extra_steps_norm 'next'.*last, shared, group"):
        build_model("cornet_s", task="mazes", width=8, extra_steps_norm="next")


# --- ConvRNN ---------------------------------------------------------------------------------


def test_convrnn_matches_the_reciprocal_gated_equations():
    model = build_model("convrnn", task="mazes", width=8).eval()
    cell, x = model.cell, maze_batch()

    def conv(inp, conv_, i):  # the i-th of the two fused convolutions
        return F.conv2d(inp, conv_.weight.chunk(2)[i], conv_.bias.chunk(2)[i], padding=2)

    with torch.no_grad():
        X = model.stem(x)
        c = h = torch.zeros(2, 8, 16, 16)
        for got in model.states(x, 4):
            tau_c, gate_c = torch.sigmoid(conv(c, cell.w_c, 0)), torch.sigmoid(conv(h, cell.w_h, 1))
            tau_h, gate_h = (
                torch.sigmoid(conv(h, cell.w_h, 0)),
                torch.sigmoid(conv(c, cell.w_c, 1) + conv(X, cell.w_x, 1)),
            )
            c, h = (
                F.elu((1 - tau_c) * c + (1 - gate_c) * conv(X, cell.w_x, 0)),  # W_xc * X
                F.elu((1 - tau_h) * h + (1 - gate_h) * X),
            )
            torch.testing.assert_close(got[0], c, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(got[1], h, rtol=1e-4, atol=1e-5)


# --- ResNets, R-ResNets, recall --------------------------------------------------------------


@pytest.mark.parametrize("depth", [12, 20, 36])
def test_maze_resnet_depth_and_weight_tied_twin(depth):
    ff = build_model(f"resnet{depth}", task="mazes", width=8)
    rr = build_model(f"rresnet{depth}", task="mazes", width=8)
    assert sum(isinstance(m, nn.Conv2d) for m in ff.modules()) == depth
    assert not ff.recurrent and rr.recurrent and rr.trained_steps == (depth - 4) // 4
    # untie nothing: copy the twin's block into every group, and the two nets are one function
    groups = list(ff.body)[1:-1]
    assert len(groups) == rr.trained_steps
    ff.body[0].load_state_dict(rr.stem.state_dict())
    ff.body[-1].load_state_dict(rr.head.state_dict())
    for g in groups:
        g.load_state_dict(rr.cell.recur_block.state_dict())
    x = maze_batch()
    with torch.no_grad():
        torch.testing.assert_close(ff(x), rr(x))


@pytest.mark.parametrize("name", ["rresnet12", "rresnet20", "rresnet36", "rresnet10", "rresnet18", "dt_recall"])
def test_weight_tying_params_do_not_depend_on_steps(name):
    task = get_entry(name).tasks[0]
    short = build_model(name, task=task, width=8, steps=1)
    long = build_model(name, task=task, width=8, steps=50)
    assert count_params(short) == count_params(long)
    assert set(short.state_dict()) == set(long.state_dict())


@pytest.mark.parametrize("depth,blocks", [(10, 4), (18, 8)])
def test_pathfinder_resnet_depths(depth, blocks):
    ff = build_model(f"resnet{depth}", task="pathfinder", width=8)
    n3x3 = sum(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in ff.modules())
    assert n3x3 == 2 * blocks == depth - 2  # + the stem conv and the linear readout = depth
    rr = build_model(f"rresnet{depth}", task="pathfinder", width=8)
    assert rr.trained_steps * 2 == blocks  # as many BasicBlock applications as the twin
    assert ff(torch.rand(2, 3, 64, 64)).shape == (2, 2)


def test_feed_forward_builders_refuse_steps():
    for name in ("resnet12", "resnet10"):
        task = get_entry(name).tasks[0]
        with pytest.raises(ValueError, match=f"{name} is feed-forward"):
            build_model(name, task=task, width=8, steps=4)


def test_recall_matches_the_concatenated_equations():
    model = build_model("dt_recall", task="mazes", width=8).eval()
    cell, x = model.cell, maze_batch()
    with torch.no_grad():
        h = F.relu(F.conv2d(x, cell.projection.weight, padding=1))
        for got in model.states(x, 3):
            h = cell.recur_block(F.conv2d(torch.cat([h, x], 1), cell.recall.weight, padding=1))
            torch.testing.assert_close(got, h, rtol=1e-4, atol=1e-5)


# --- parameter counts against the authors' code ---------------------------------------------

_BIASES = 64 + 32 + 8  # this stem and head have biases, the authors' maze ResNets none
# (model, task, arguments) -> parameter count, each from the authors' count minus/plus what differs
# (models/summary.py PARAM_NOTES explains each difference): the one place counts are pinned
PINNED = {
    ("locrnn", "mazes", ()): 335_648 - 8_320 - 128,  # their unused embeddings and LayerNorm
    ("locrnn", "mazes", (("init", "embed"),)): 335_648 - 128,
    ("locrnn", "pathfinder", ()): 237_736 - 2_112,
    ("convgru", "mazes", ()): 637_408,
    ("convgru", "pathfinder", (("hidden", 24),)): 338_400,  # the paper's 24 channels now build
    ("hconvgru", "mazes", ()): 244_064 - 2 * 2 * 64,  # step 0 has no g1/c1 BatchNorms
    ("hconvgru", "mazes", (("steps", 24),)): 248_672 - 2 * 2 * 64,  # +512 per trained step, as theirs
    ("resnet12", "mazes", ()): 22_608 + 2 * 147_456 + _BIASES,  # stem + head, 147,456 per 2-block group
    ("resnet20", "mazes", ()): 612_432 + _BIASES,
    ("resnet36", "mazes", ()): 22_608 + 8 * 147_456 + _BIASES,
    ("rresnet12", "mazes", ()): 170_064 + _BIASES,
    ("rresnet36", "mazes", ()): 170_064 + _BIASES,
    ("resnet10", "pathfinder", ()): 239_824 - 110,  # their unused fc
    ("resnet18", "pathfinder", ()): 450_640 - 110,
    ("dt_recall", "mazes", ()): 783_504 + 32 + 8,  # head biases
}


@pytest.mark.parametrize("name,task,args", PINNED)
def test_counts_match_the_authors_code_up_to_documented_differences(name, task, args):
    assert count_params(build_model(name, task=task, **dict(args))) == PINNED[name, task, args]
    assert (1_497_168 - 612_432) // 6 == 147_456  # their resnet44 - resnet20: 6 groups


def test_every_paper_count_is_matched_within_10_percent_or_explained():
    for name in list_models():
        entry = get_entry(name)
        for task in entry.tasks:
            paper = entry.paper_params.get(task)
            if paper is None:
                continue
            ours = count_params(build_model(name, task=task))
            assert abs(ours - paper) <= 0.1 * paper, (name, task, ours, paper)
            assert ours == paper or (name, task) in PARAM_NOTES, f"{name}/{task} differs without a note"


def test_model_table_lists_recurrence_steps_and_notes():
    table = model_table([get_entry("hconvgru"), get_entry("resnet12")])
    row = next(line for line in table.splitlines() if line.startswith("hconvgru "))
    ours, theirs = PINNED["hconvgru", "mazes", ()], get_entry("hconvgru").paper_params["mazes"]
    assert "yes" in row and " 15 " in row and f"{ours:,}" in row and f"{theirs:,}" in row
    row = next(line for line in table.splitlines() if line.startswith("resnet12 "))
    assert " no " in row
    assert "hconvgru (mazes): -256" in table


# --- mixed precision (the trainer's default on CPUs with bf16) -------------------------------


@pytest.mark.parametrize("name", list_models())
def test_runs_and_trains_under_bf16_autocast(name):
    for task in get_entry(name).tasks:
        kw = {"steps": 2} if get_entry(name).recurrent else {}  # t = 1 runs the h-dependent path
        model = build_model(name, task=task, width=8, **kw)  # (trained for 2 steps: every per-step norm runs)
        x = maze_batch() if task == "mazes" else torch.rand(2, 3, 48, 48)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = model(x)
        assert torch.isfinite(y).all()
        y.float().square().mean().backward()
        for pname, p in model.named_parameters():  # every trained weight gets a finite gradient
            if p.requires_grad:
                assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}/{task}: {pname}"
