"""Training objectives (training/objectives.py): each one's loss on a tiny model."""

import random
import typing

import numpy as np
import pytest
import torch

from locrnn.data.arrays import ArrayDataset
from locrnn.data.mazes import generate_mazes
from locrnn.models import build_model
from locrnn.tasks import get_task
from locrnn.training.config import TYPES, make_config
from locrnn.training.objectives import list_objectives, objective_loss, register_objective

SPECS = {  # each objective with its terms on
    "fixed": dict(objective="fixed"),
    "fixed_truncated": dict(objective="fixed", grad_steps=2),
    "fixed_penalty": dict(objective="fixed", state_penalty=1.0),
    "random_steps": dict(objective="random_steps", min_steps=2, max_steps=6, state_penalty=1.0),
    "progressive": dict(objective="progressive", max_steps=9, state_penalty=1.0, contraction=10.0),
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
