"""Notebook 06's splits (C9): unseen, really harder, the held-out family absent from fine-tuning; the models' jobs."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from raml_utils import experiment, generalisation, reflection, sft_then_rl
from raml_utils.base_model import base_job
from raml_utils.params import load_profile
from raml_utils.worlds import toy

PROFILES = ["smoke", "cpu", "gpu"]


@pytest.fixture(scope="module", params=PROFILES)
def profile_and_train(request):
    P = load_profile(request.param)
    return P, generalisation.fine_tuning_questions(P)


def split(P, name):
    return experiment.test_set(generalisation.eval_profile(P, name), name)


def test_no_split_question_was_fine_tuned_on(profile_and_train):
    P, train = profile_and_train
    seen = {p.key for p in train}
    for name in generalisation.splits_of(P):
        problems = split(P, name)
        assert problems and not any(p.key in seen for p in problems), name


def test_the_longer_split_has_more_operations_than_any_fine_tuning_question(profile_and_train):
    P, train = profile_and_train
    problems = split(P, "longer")
    assert min(p.k for p in problems) > max(q.k for q in train)
    assert {p.family for p in problems} == set(P.world.train_families)


def test_unseen_operands_is_at_training_length_with_an_operand_combination_fine_tuning_never_had(profile_and_train):
    P, train = profile_and_train
    if P.world.kind != "toy":
        assert "unseen_operands" not in generalisation.splits_of(P)  # reasoning-gym questions have no operand band
        return
    lo, hi = toy.UNSEEN_OPERANDS
    problems = split(P, "unseen_operands")
    assert {p.k for p in problems} == {max(P.world.train_levels)} and max(q.k for q in train) == max(P.world.train_levels)
    assert all(lo <= v <= hi for p in problems for v in p.values)
    at_length = [q for q in train if q.k == max(P.world.train_levels)]
    assert at_length and not any(all(lo <= v <= hi for v in q.values) for q in at_length)
    assert not any(generalisation.has_split_property(P, "unseen_operands", q) for q in train)


def test_the_held_out_family_is_absent_from_every_fine_tuning_set(profile_and_train):
    P, train = profile_and_train
    held_out = set(P.world.held_out_families)
    assert {p.family for p in split(P, "held_out_family")} == held_out
    assert not held_out & {q.family for q in train}
    # Every fine-tuning stage of every model, down to the base, and the sequences it renders: only the held-out
    # family (vars) writes bindings "a=.." in its prompt.
    base = base_job(P)
    for job in generalisation.model_jobs(P, P.seeds[0]).values():
        while job != base:
            assert not held_out & set(job.data.families)
            if hasattr(job.data, "examples") and P.world.kind == "toy":
                assert not any("=" in r.prompt for r in job.data.examples())
            job = job.init


def test_split_table_counts_fine_tuning_questions_with_each_splits_property():
    P = load_profile("smoke")
    table = generalisation.split_table(P)
    assert list(table.index) == list(generalisation.SPLITS)
    assert (table["questions seen in fine-tuning"] == 0).all()
    prop = table["fine-tuning questions with its property"]
    assert prop["in_domain"] == P.sft_questions  # every fine-tuning question is in domain by design
    assert prop["longer"] == prop["unseen_operands"] == prop["held_out_family"] == 0
    assert table.loc["in_domain", "questions"] == P.eval.n_questions
    assert table.loc["longer", "questions"] == P.generalisation.n_questions


def test_an_sft_recipe_renders_exactly_its_problems():
    P = load_profile("smoke")
    data = experiment.sft_job(P, "long", 1).data
    assert {toy.render(p).prompt for p in data.problems()} == {r.prompt for r in data.examples()}


def test_existing_splits_are_unchanged_by_the_new_one():
    P = load_profile("smoke")
    w = P.world
    direct = toy.make_problems(P.eval.n_questions, "test", seed=P.eval.question_seed, families=w.train_families,
                               levels=experiment.ladder_levels(P), test_fraction=w.test_fraction)
    assert experiment.test_set(P, "in_domain") == direct
    assert set(experiment.test_set(P, "longer")) != set(split(P, "unseen_operands"))


@pytest.mark.parametrize("name", ["smoke", "cpu"])  # the toy world's token counts (the LLM world's need its model)
def test_generation_budget_covers_the_longest_correct_completion_of_every_split(name):
    P = load_profile(name)
    tok = toy.build_tokenizer()
    for split_name in generalisation.SPLITS:
        E = generalisation.eval_profile(P, split_name).eval
        for p in split(P, split_name):
            for style in ("long", "reflection"):
                text = toy.render(p, toy.TrajectorySpec(style, reflection=(p.k - 1, 5))).completion
                assert len(tok(text, add_special_tokens=False)["input_ids"]) <= E.max_new_tokens, (split_name, style)


def test_eval_profile_shares_the_in_domain_evaluation_and_changes_only_two_knobs_elsewhere():
    P = load_profile("cpu")
    assert generalisation.eval_profile(P, "in_domain") == P
    other = generalisation.eval_profile(P, "longer")
    assert other.eval == dataclasses.replace(P.eval, n_questions=P.generalisation.n_questions,
                                             max_new_tokens=P.generalisation.max_new_tokens)
    assert dataclasses.replace(other, eval=P.eval) == P


@pytest.mark.parametrize("name", ["smoke", "cpu"])
def test_models_are_the_jobs_their_own_notebooks_train(name):
    P = load_profile(name)
    for seed in P.seeds:
        jobs = generalisation.model_jobs(P, seed)
        assert list(jobs) == ["answer_only", "short", "long", "reflection", "zero_rl", "sft_then_rl"]
        for style in generalisation.SFT_STYLES:
            assert jobs[style] == experiment.sft_job(P, style, seed)  # notebook 02
        assert jobs["reflection"] == reflection.arm_jobs(P)[("reflection", seed)]  # notebook 04
        rl = sft_then_rl.arm_jobs(P, seed)  # notebook 05
        assert jobs["zero_rl"] == rl["zero_rl"] and jobs["sft_then_rl"] == rl["sft_then_rl"]
        assert jobs["sft_then_rl"].init == jobs["long"]  # 05's SFT arm is 02's long model: listed once


def test_a_different_sft_arm_of_notebook_05_is_listed_on_its_own():
    P = load_profile("smoke")
    P = dataclasses.replace(P, sft_then_rl=dataclasses.replace(P.sft_then_rl, sft_style="padded"))
    jobs = generalisation.model_jobs(P, 1)
    assert jobs["sft"] == experiment.sft_job(P, "padded", 1) and jobs["sft_then_rl"].init == jobs["sft"]


def _frame(scores: dict, split: str = "s", k=lambda q: 3) -> pd.DataFrame:
    """A per-question frame: ``scores`` maps (arm, seed) to Pass@k per question; ``k(q)`` is question q's level."""
    return pd.DataFrame([{"arm": arm, "seed": seed, "question": q, "pass_at_k": v, "split": split, "k": k(q)}
                         for (arm, seed), values in scores.items() for q, v in enumerate(values)])


def test_the_base_is_paired_with_every_seed_of_a_model():
    frame = _frame({("base", 0): [0.0, 0.5, 1.0], ("m", 1): [1.0, 1.0, 1.0], ("m", 2): [0.5, 0.5, 0.5]})
    a, b = generalisation.paired_with_base(frame, "m", "pass_at_k")
    assert a.shape == b.shape == (2, 3)
    np.testing.assert_array_equal(b, [[0.0, 0.5, 1.0], [0.0, 0.5, 1.0]])
    two_bases = _frame({("base", 0): [0.0], ("base", 1): [1.0], ("m", 1): [1.0]})
    with pytest.raises(ValueError, match="expected one base model, got 2"):
        generalisation.paired_with_base(two_bases, "m", "pass_at_k")


def test_contrasts_with_base_give_c9_verdicts_per_model():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 0.2, 40)
    frame = _frame({("base", 0): base, ("better", 1): base + 0.4, ("better", 2): base + 0.5,
                    ("same", 1): base, ("same", 2): base})
    table = generalisation.contrasts_with_base(load_profile("smoke"), frame, ["better", "same"]).set_index("model")
    assert table.loc["better", "verdict"] == "reproduced" and table.loc["better", "effect"] == pytest.approx(0.45)
    assert table.loc["same", "verdict"] == "not reproduced" and table.loc["same", "effect"] == 0
    assert table.loc["better", "result"].arms == ("better", "base") and table.loc["better", "result"].claim == "C9"


def test_c9_reads_each_verdict_split_on_its_rungs_and_other_splits_whole():
    P = load_profile("smoke", ladder={"levels": [1, 2, 3, 4, 5], "rungs": {"C9_in_domain": [3, 4]}})
    base = [0.0] * 10
    better_on_rungs = [1.0 if q % 5 in (2, 3) else 0.0 for q in range(10)]  # levels 3 and 4
    frame = pd.concat([_frame({("base", 0): base, ("m", 1): better_on_rungs}, split, k=lambda q: q % 5 + 1)
                       for split in ("in_domain", "longer")])
    table = generalisation.contrasts_with_base(P, frame, ["m"]).set_index("split")
    assert table.loc["in_domain", "effect"] == pytest.approx(1.0)  # the rungs only
    assert table.loc["longer", "effect"] == pytest.approx(0.4)  # every question
    result = table.loc["in_domain", "result"]
    assert result.rungs == (3, 4) and result.ladder == "rungs k = 3, 4" and result.n_questions == 4
