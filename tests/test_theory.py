"""Proposition 2.1: where the W_v construction is exact, and what the alignment check returns."""

import numpy as np
import pytest
import torch

from raml_utils import theory


def instance(n, d=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    block = theory.random_block(d, 3, gen)
    return block, torch.randn(n, d, generator=gen, dtype=theory.DTYPE), torch.randn(d, generator=gen, dtype=theory.DTYPE)


@pytest.mark.parametrize("n", [2, 5, 8])
def test_value_construction_is_exact_when_the_context_is_no_longer_than_the_width(n):
    block, context, token = instance(n)
    wv = theory.value_construction(block, context, token)
    got = theory.attention(block, context, wv=wv)
    want = theory.attention(block, theory.with_token(context, token))
    assert torch.allclose(got, want, atol=1e-10)
    errors = theory.construction_errors(block, context, token)
    assert errors["value_rel_error"] < 1e-8 and errors["token_effect"] > 0


def test_value_construction_is_only_approximate_beyond_the_width():
    errors = [theory.construction_errors(*instance(40, seed=s))["value_rel_error"] for s in range(5)]
    assert min(errors) > 1e-3


def test_attention_mass_of_the_token_is_a_probability():
    block, context, token = instance(6)
    lam = theory.token_mass(block, context, token)
    assert 0 < lam < 1
    # o+ = (1 - lam) o + lam v_t: the identity every construction is measured against.
    o, o_plus = theory.attention(block, context), theory.attention(block, theory.with_token(context, token))
    assert torch.allclose(o_plus, (1 - lam) * o + lam * (token @ block.wv), atol=1e-12)


def test_softmax_only_changes_cannot_reach_the_new_output_when_the_context_is_short():
    errors = theory.construction_errors(*instance(3, d=8, seed=2))
    assert errors["softmax_only_attn_bound"] > 1e-6


def test_alignment_is_a_cosine_and_the_loss_change_is_exact_through_the_construction():
    block, context, token = instance(5)
    out = theory.effective_update_alignment(block, context, token, label=1)
    assert -1 <= out["cosine"] <= 1
    wv = theory.value_construction(block, context, token)
    changed = float(theory.answer_loss(block, context, 1, wv) - theory.answer_loss(block, context, 1))
    assert changed == pytest.approx(out["loss_change"], abs=1e-9)


def test_a_trained_block_uses_the_hint_token():
    block, task = theory.train_block(d=8, n=4, classes=3, steps=30, seed=0)
    gen = torch.Generator().manual_seed(1)
    changes = []
    for _ in range(20):
        context, token, label = task.sample(4, gen)
        changes.append(theory.effective_update_alignment(block, context, token, label)["loss_change"])
    assert np.mean(changes) < 0  # reading the hint lowers the answer loss


def test_check_proposition_returns_one_row_per_setting_n_and_instance():
    frame = theory.check_proposition(d=6, contexts=(3, 12), instances=4, train_steps=5, seed=0)
    assert len(frame) == 2 * 2 * 4
    exact = frame[frame.n == 3]["value_rel_error"]
    assert exact.max() < 1e-8
