"""Training objectives (training/objectives.py, training/contraction.py): each one's loss on a tiny
model, the state penalty, the contraction penalty and truncated backpropagation."""

import random
import typing

import numpy as np
import pytest
import torch

from locrnn.data.arrays import ArrayDataset
from locrnn.data.mazes import generate_mazes
from locrnn.models import build_model, get_entry, list_models
from locrnn.tasks import get_task
from locrnn.training.config import TYPES, make_config
from locrnn.training.contraction import contraction_penalty
from locrnn.training.objectives import (
    list_objectives,
    mix_boxes,
    objective_loss,
    perturb,
    register_objective,
    relative_change,
)

SPECS = {  # each objective with its terms on
    "fixed": dict(objective="fixed"),
    "fixed_truncated": dict(objective="fixed", grad_steps=2),
    "fixed_penalty": dict(objective="fixed", state_penalty=1.0),
    "random_steps": dict(objective="random_steps", min_steps=2, max_steps=6, state_penalty=1.0),
    "progressive": dict(objective="progressive", max_steps=9, state_penalty=1.0, contraction=10.0),
    "progressive_noise": dict(objective="progressive", max_steps=9, state_penalty=1.0, state_noise=0.3),
    "progressive_mix": dict(objective="progressive", max_steps=9, state_mix=1.0, state_noise=0.1),
    "deep": dict(objective="deep", min_steps=2, max_steps=5, state_penalty=1.0, penalty_power=1),
    "act": dict(objective="act", max_steps=6, act_warmup=0.0),
    "act_warm_up": dict(objective="act", max_steps=6, act_warmup=1.0),
}


def _batch():
    return ArrayDataset(*generate_mazes(4, 5, seed=1)).batch(np.arange(4))


def _loss(spec: dict, seed: int = 3, name: str = "locrnn"):
    cfg = make_config("cpu", steps=4, model_args={"width": 8}, **spec)
    torch.manual_seed(0)
    model = build_model(name, task="mazes", **cfg.model_kwargs())
    x, y = _batch()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    return model, objective_loss(model, x, y, get_task("mazes"), cfg, rng, progress=0.5), rng


def test_the_registry_holds_the_objectives_the_config_offers():
    assert list_objectives() == sorted(typing.get_args(TYPES["objective"]))
    with pytest.raises(ValueError, match="already registered"):
        register_objective("fixed")(lambda b: None)


@pytest.mark.parametrize("key", SPECS)
def test_each_objective_gives_a_finite_loss_that_reaches_the_weights(key):
    model, loss, _ = _loss(SPECS[key])
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for part in (model.stem, model.cell, model.head):
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), key
        assert any(g.abs().sum() > 0 for g in grads), key
    if key == "act":  # halting on: the halting head learns; during the warm-up it is only kept in the graph
        assert model.halt.fc.bias.grad.abs().sum() > 0
    if key == "act_warm_up":
        assert model.halt.fc.bias.grad.abs().sum() == 0


@pytest.mark.parametrize("key", ["random_steps", "progressive"])
def test_draws_come_from_the_rng_reproducibly(key):
    _, a, rng_a = _loss(SPECS[key], seed=5)
    _, b, rng_b = _loss(SPECS[key], seed=5)
    assert a.item() == b.item() and rng_a.getstate() == rng_b.getstate()
    assert rng_a.getstate() != random.Random(5).getstate()  # the objective drew from it
    others = {_loss(SPECS[key], seed=s)[1].item() for s in range(6, 12)}
    assert len(others | {a.item()}) > 1  # another seed, another draw


def test_truncated_backpropagation_keeps_the_loss():
    _, full, _ = _loss(SPECS["fixed"])
    _, truncated, _ = _loss(SPECS["fixed_truncated"])
    torch.testing.assert_close(truncated, full)


def test_the_state_penalty_adds_the_last_step_change():
    _, plain, _ = _loss(SPECS["fixed"])
    _, penalised, _ = _loss(SPECS["fixed_penalty"])
    assert penalised.item() > plain.item()


def test_objectives_that_unroll_need_a_recurrent_model():
    cfg = make_config("cpu", objective="deep", min_steps=1, max_steps=2)
    x, y = _batch()
    model = build_model("resnet12", task="mazes", width=8)
    with pytest.raises(ValueError, match="objective 'deep' needs a recurrent model"):
        objective_loss(model, x, y, get_task("mazes"), cfg, random.Random(0))
    fixed = make_config("cpu")
    assert torch.isfinite(objective_loss(model, x, y, get_task("mazes"), fixed, random.Random(0)))


def test_act_needs_the_halting_head_the_config_adds():
    cfg = make_config("cpu", objective="act", max_steps=4, act_warmup=0.0)
    assert cfg.model_kwargs()["halting"] == "act" and "halting" not in cfg.model_args
    x, y = _batch()
    bare = build_model("locrnn", task="mazes", width=8, steps=2)
    with pytest.raises(ValueError, match="no halting head"):
        objective_loss(bare, x, y, get_task("mazes"), cfg, random.Random(0))


def test_relative_change_penalty_is_zero_at_a_fixed_point():
    h = torch.rand(3, 4, 5, 5)
    assert relative_change(h, h).item() == 0
    assert relative_change(h, 2 * h).item() == pytest.approx(0.25)
    assert relative_change(h, 2 * h, power=1).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="penalty_power"):
        relative_change(h, h, power=3)


def test_plain_ratio_penalty_keeps_its_gradient_near_a_fixed_point():
    """Squared: the pull towards the fixed point shrinks with the drift; power 1: it does not."""
    h, d = torch.rand(2, 4, 5, 5), torch.randn(2, 4, 5, 5)
    norms = {}
    for power in (1, 2):
        for eps in (1e-2, 1e-4):
            last = (h + eps * d).requires_grad_()
            relative_change(h, last, power).backward()
            norms[power, eps] = last.grad.norm().item()
    assert norms[2, 1e-4] < 0.02 * norms[2, 1e-2]
    assert norms[1, 1e-4] == pytest.approx(norms[1, 1e-2], rel=0.05)


class _ScaleCell(torch.nn.Module):
    """f(s) = a * s along the first channel, 0.5 * s elsewhere: one-step growth max(|a|, 0.5)."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))

    def forward(self, drive, s, t):
        return torch.cat([self.a * s[:, :1], 0.5 * s[:, 1:]], 1) + drive


@pytest.mark.parametrize("a", [2.0, 1.2, 0.7])
def test_contraction_penalty_finds_the_growing_mode(a):
    torch.manual_seed(0)
    cell, s, drive = _ScaleCell(a), torch.rand(4, 6, 3, 3) + 0.5, torch.zeros(4, 6, 3, 3)
    pen = contraction_penalty(cell, drive, s, t=5, iters=12, rho=0.9)
    assert pen.item() == pytest.approx(max(a - 0.9, 0.0) ** 2, rel=0.02, abs=1e-6)
    pen.backward()
    assert cell.a.grad.item() == pytest.approx(2 * max(a - 0.9, 0.0), rel=0.02, abs=1e-6)


def _recurrent_models():
    return [
        m for m in list_models() if "mazes" in get_entry(m).tasks and build_model(m, task="mazes", width=8).recurrent
    ]


@pytest.mark.parametrize("name", _recurrent_models())
def test_every_recurrent_model_takes_the_stability_objectives(name):
    """Each objective of docs/stability.md, penalties and contraction included, gives a finite
    loss and a gradient for every weight that the model's output uses, on every recurrent model."""
    torch.manual_seed(0)
    model = build_model(name, task="mazes", width=8, steps=3)
    x, y = ArrayDataset(*generate_mazes(4, 5, seed=1)).batch(np.arange(4))
    task = get_task("mazes")
    for spec in (
        dict(objective="deep", min_steps=2, max_steps=4, state_penalty=1.0),
        dict(objective="progressive", max_steps=8, state_penalty=1.0, penalty_power=1, contraction=10.0),
    ):
        cfg = make_config("cpu", **spec)
        model.zero_grad()
        rng = random.Random(3)
        rng.randint = lambda a, b: b if b > a else a  # the longest window: the contraction term is on
        loss = objective_loss(model, x, y, task, cfg, rng)
        assert torch.isfinite(loss)
        loss.backward()
        grads = [p.grad for p in model.cell.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), spec


def test_grad_steps_truncates_backpropagation():
    """grad_steps = k: the same loss as the full unroll, and the gradient of the state detached
    after T - k steps."""
    task = get_task("mazes")
    x, y = (torch.from_numpy(a) for a in generate_mazes(4, 5, seed=0))
    x, y = x.float(), y.long()
    torch.manual_seed(0)
    net = build_model("locrnn", task="mazes", width=8, steps=6).eval()
    cfg = make_config(None, model_args={"width": 8}, steps=6, grad_steps=2)
    loss = objective_loss(net, x, y, task, cfg, random.Random(0))
    truncated = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)
    full = task.loss(net(x, steps=6), x, y)
    assert torch.allclose(loss, full)
    # by hand: detach the state after 4 steps, run 2 more
    features = net.stem(x)
    drive = net.cell.prepare(features)
    state = net.final_state(x, 4).detach()
    for t in (4, 5):
        state = net.cell(drive, state, t)
    manual = task.loss(net.head(net.cell.output(state)), x, y)
    expected = torch.autograd.grad(manual, list(net.parameters()), allow_unused=True)
    for a, b in zip(truncated, expected):
        assert (a is None) == (b is None) and (a is None or torch.allclose(a, b, atol=1e-6))
    fully = torch.autograd.grad(full, list(net.parameters()), allow_unused=True)
    assert any(a is not None and not torch.allclose(a, b) for a, b in zip(truncated, fully))


def test_state_noise_scales_with_each_samples_rms_and_keeps_a_relu_state_non_negative():
    torch.manual_seed(0)
    signed = torch.randn(2, 8, 16, 16) * torch.tensor([1.0, 10.0]).view(2, 1, 1, 1)
    noise = perturb(signed, 0.2) - signed
    rms = noise.flatten(1).square().mean(1).sqrt()
    ratio = rms / signed.flatten(1).square().mean(1).sqrt()
    torch.testing.assert_close(ratio, torch.tensor([0.2, 0.2]), atol=0.01, rtol=0)
    relu = signed.clamp_min(0)
    moved = perturb(relu, 0.5)
    assert (moved >= 0).all() and not torch.equal(moved, relu)
    state = (relu, signed)  # a tuple state (ConvGRU-like cells): each tensor on its own
    a, b = perturb(state, 0.2)
    assert (a >= 0).all() and (b < 0).any()


def test_state_mix_pastes_one_box_of_the_previous_samples_state():
    torch.manual_seed(0)
    state = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 3, 12, 10).clone()  # sample i is all i
    mixed = mix_boxes(state, 1.0)
    for i in range(6):
        changed = (mixed[i] != state[i]).all(0)  # the same pixels in every channel
        assert (mixed[i][:, changed] == (i - 1) % 6).all()  # pasted from the batch rolled by one
        rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
        assert changed.sum() == len(rows) * len(cols)  # one rectangle
        assert 3 <= len(rows) <= 6 and 2 <= len(cols) <= 5  # a quarter to a half of each side
        assert (rows.diff() == 1).all() and (cols.diff() == 1).all()
    assert torch.equal(mix_boxes(state, 0.0), state)
    flat = torch.randn(4, 7)
    assert torch.equal(mix_boxes(flat, 1.0), flat)  # only (B, C, H, W) states are mixed
