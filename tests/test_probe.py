"""The inner-loop probe: the shared-prefix probe equals re-encoding every prefix, and its summaries."""

import random

import numpy as np
import pytest

from raml_utils import probe, pseudo_gradient
from raml_utils.models import ModelConfig, build_model
from raml_utils.worlds import ToyWorld, toy


@pytest.fixture(scope="module")
def tokenizer():
    return toy.build_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return build_model(ModelConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64), tokenizer, 3).eval()


def item_of(tokenizer, family="vars", k=4, spec=toy.TrajectorySpec("long")):
    p = toy.make_problems(1, "test", seed=1, families=(family,), levels=(k,))[0]
    return probe.rendered_probe_input(tokenizer, toy.render(p, spec))


@pytest.mark.parametrize("family", toy.FAMILIES)
def test_shared_prefix_probe_equals_reencoding_every_prefix(tokenizer, model, family):
    item = item_of(tokenizer, family, k=3)
    cuts = sorted({*range(0, len(item.trajectory), 7), len(item.trajectory)})  # re-encoding all is slow
    naive = probe.naive_curve(model, item, cuts)
    fast = probe.inner_loop_curve(model, item)
    assert fast.shape == (len(item.trajectory) + 1,)
    assert np.abs(fast[cuts] - naive).max() <= 1e-4
    # Packing few cuts per pass (many chunks, the cache cropped between them) changes nothing.
    assert np.abs(probe.inner_loop_curve(model, item, cuts, max_block_tokens=5) - naive).max() <= 1e-4


def test_probe_on_a_random_token_trajectory_and_chosen_cuts(tokenizer):
    model = build_model(ModelConfig(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32), tokenizer, 7).eval()
    rng = random.Random(0)
    base = item_of(tokenizer)
    item = probe.ProbeInput(base.prompt, tuple(rng.randrange(len(tokenizer)) for _ in range(60)), base.suffix, base.answer)
    cuts = [0, 1, 17, 59, 60]
    assert np.abs(probe.inner_loop_curve(model, item, cuts) - probe.naive_curve(model, item, cuts)).max() <= 1e-4
    with pytest.raises(ValueError, match="cuts must lie"):
        probe.inner_loop_curve(model, item, [61])


def test_step_split_of_free_text_matches_the_rendered_steps(tokenizer):
    p = toy.make_problems(1, "test", seed=2, families=("vars",), levels=(3,))[0]
    r = toy.render(p)
    assert probe.split_steps(r.trajectory, probe.step_terminator(ToyWorld())) == r.steps
    item = probe.rendered_probe_input(tokenizer, r)
    assert item.step_ends[-1] == len(item.trajectory) and len(item.step_ends) == len(r.steps)


def test_curve_summary_tells_a_gradual_descent_from_a_final_step():
    item = probe.ProbeInput((1,), tuple(range(10)), (2,), (3,), step_ends=(5, 10))
    gradual = np.linspace(4.0, 0.0, 11)
    final_step = np.array([4.0] * 6 + [4.0, 3.0, 1.0, 0.5, 0.0])
    g, f = probe.curve_summary(gradual, item, 0.1), probe.curve_summary(final_step, item, 0.1)
    assert g["lhat_drop"] == pytest.approx(4.0) and g["falls"]
    assert g["share_before_last_step"] == pytest.approx(0.5)
    assert f["share_before_last_step"] == pytest.approx(0.0)
    flat = probe.curve_summary(np.full(11, 2.0), item, 0.1)
    assert not flat["falls"] and np.isnan(flat["share_before_last_step"])
    assert g["peak_above_start"] == 0.0
    spike = probe.curve_summary(np.array([2.0] * 3 + [6.5] + [1.0] * 7), item, 0.1)  # uncalibrated mid-step
    assert spike["peak_above_start"] == pytest.approx(4.5)


def test_corruption_is_carried_forward_to_a_wrong_final_answer():
    rng = random.Random(0)
    for p in toy.make_problems(30, "test", seed=4):
        spec = pseudo_gradient.corrupted_spec(p, rng, 99)
        assert spec.misread[0] < max(1, p.k - 1)
        r = toy.render(p, spec)
        assert not toy.trajectory_is_correct(p, r.trajectory)
        assert r.answer == f"{p.answer:02d}"  # the probe still scores the true answer


def test_on_grid_keeps_the_ends():
    curve = np.array([3.0, 2.0, 0.5])
    grid = probe.on_grid(curve, 5)
    assert grid[0] == 3.0 and grid[-1] == 0.5 and grid[2] == 2.0


def test_llm_probe_is_cached_by_its_solutions(tmp_path, monkeypatch):
    """A warm rerun of notebook 01 reads SmolLM2's C1 rows from the probe cache without loading the model; other
    solutions are a cache miss."""
    from raml_utils.params import load_profile
    from raml_utils.worlds import llm

    profile = load_profile("smoke", cache_dir=str(tmp_path))
    problem = llm.Problem("q", "20", "He has 28 x 4 = 112 apples.\nSo 132 - 112 = 20 are left.")
    loads = []
    monkeypatch.setattr(llm, "load_llm", lambda device: loads.append(device) or ("model", "tokenizer"))
    monkeypatch.setattr(pseudo_gradient, "llm_probe_rows", lambda model, tokenizer, pairs, params: [
        {"arm": "correct", "question": q, "lhat_drop": float(len(c))} for q, (p, c) in enumerate(pairs)])
    first = pseudo_gradient.llm_c1_frame(profile, [(problem, "corrupted")])
    again = pseudo_gradient.llm_c1_frame(profile, [(problem, "corrupted")])
    assert len(loads) == 1 and again.equals(first) and list(first.seed) == [0]
    other = pseudo_gradient.llm_c1_frame(profile, [(problem, "corrupted differently")])
    assert len(loads) == 2 and other.lhat_drop[0] != first.lhat_drop[0]
