"""The landscape: weights come back bit-exactly, directions are reproducible and normalised, paths fit."""

import numpy as np
import pytest
import torch

from raml_utils import landscape, probe
from raml_utils.models import ModelConfig, build_model
from raml_utils.worlds import toy


@pytest.fixture(scope="module")
def tokenizer():
    return toy.build_tokenizer()


@pytest.fixture()
def model(tokenizer):
    return build_model(ModelConfig(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32), tokenizer, 5).eval()


def items(tokenizer, n=3):
    return [probe.rendered_probe_input(tokenizer, toy.render(p)) for p in toy.make_problems(n, "test", seed=0)]


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("normalisation", ["filter", "tensor"])
def test_loss_plane_restores_the_weights_bit_exactly(tokenizer, model, normalisation):
    before = snapshot(model)
    plane = landscape.loss_plane(model, items(tokenizer), 3, seed=1, normalisation=normalisation)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert plane.loss.shape == (3, 3) and np.isfinite(plane.loss).all()
    # The centre of the grid is theta itself.
    assert plane.loss[1, 1] == pytest.approx(landscape.answer_loss(model, items(tokenizer)), abs=1e-6)
    # At most one saved copy of the moving weights, plus the two directions of one tensor.
    assert plane.param_bytes <= plane.extra_bytes <= 3 * plane.param_bytes


def test_weights_are_restored_even_when_the_loop_fails(model):
    before = snapshot(model)
    params = landscape.moving_parameters(model)
    with pytest.raises(RuntimeError):
        with landscape.restored(params):
            with torch.no_grad():
                next(iter(params.values())).add_(1.0)
            raise RuntimeError("interrupted")
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def test_moving_parameters_leave_out_embeddings_and_gains(model):
    moving = landscape.moving_parameters(model)
    emb = model.get_input_embeddings().weight
    assert all(p is not emb and p.ndim == 2 for p in moving.values())
    assert any("q_proj" in n for n in moving)


def test_directions_are_regenerated_identically_and_filter_normalised(model):
    name, w = next(iter(landscape.moving_parameters(model).items()))
    d = landscape.direction(w, seed=3, index=0, axis=0, normalisation="filter")
    assert torch.equal(d, landscape.direction(w, seed=3, index=0, axis=0, normalisation="filter"))
    assert not torch.equal(d, landscape.direction(w, seed=3, index=0, axis=1, normalisation="filter"))
    assert torch.allclose(d.norm(dim=1), w.detach().norm(dim=1), rtol=1e-5)
    t = landscape.direction(w, seed=3, index=0, axis=0, normalisation="tensor")
    assert float(t.norm()) == pytest.approx(float(w.detach().norm()), rel=1e-5)


def test_fitted_path_imitates_the_prefixes_and_starts_at_theta(tokenizer, model):
    item = items(tokenizer, 1)[0]
    before = snapshot(model)
    cuts = [0, item.step_ends[0], len(item.trajectory)]
    path = landscape.fit_path(model, item, cuts, steps=25, lr=1e-2, norm_penalty=0.0)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert path.displacements.shape[0] == 3
    # With no prefix the model already matches itself: the fit stays at theta and its loss is theta's.
    assert np.abs(path.displacements[0]).max() < 1e-6
    assert path.answer_loss[0] == pytest.approx(path.target_lhat[0], abs=1e-4)
    # Later prefixes: the fitted displacement reproduces the with-prefix answer loss closely.
    assert np.abs(path.answer_loss - path.target_lhat).max() < 0.05
    projection = landscape.path_plane(model, path, [item], grid=3)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert projection.coords.shape == (3, 2) and projection.explained.sum() == pytest.approx(1.0, abs=1e-5)


def test_orthogonal_steps_baseline():
    # Two equal orthogonal steps: three points of an isoceles right triangle, all variance in two PCs.
    assert landscape._orthogonal_steps_explained(np.array([1.0, 1.0])) == pytest.approx(1.0)
    assert landscape._orthogonal_steps_explained(np.ones(9)) < 0.9
