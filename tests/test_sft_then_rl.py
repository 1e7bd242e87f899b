"""Notebook 05's arms (C4, C5): same questions, same GRPO settings, and the cache keys other notebooks share."""

import dataclasses

import pandas as pd
import pytest

from raml_utils import experiment, grpo, sft_then_rl
from raml_utils.base_model import base_job
from raml_utils.cache import Store
from raml_utils.params import ParamError, load_profile
from raml_utils.worlds import ToyWorld

PROFILES = ["smoke", "cpu"]


@pytest.mark.parametrize("name", PROFILES)
def test_the_sft_arm_is_notebook_02s_long_arm_with_the_same_cache_key(name, tmp_path):
    P = load_profile(name)
    store = Store(tmp_path)
    for seed in P.seeds:
        sft = sft_then_rl.arm_jobs(P, seed)["sft"]
        assert sft == experiment.sft_job(P, "long", seed)
        assert store.path("model", sft) == store.path("model", experiment.sft_job(P, "long", seed))


@pytest.mark.parametrize("name", PROFILES)
def test_rl_arms_share_every_setting_but_the_learning_rate_and_differ_in_their_start(name):
    P = load_profile(name)
    for seed in P.seeds:
        arms = sft_then_rl.arm_jobs(P, seed)
        zero, then = arms["zero_rl"], arms["sft_then_rl"]
        assert isinstance(zero, grpo.GRPOJob) and isinstance(then, grpo.GRPOJob)
        assert zero.data == then.data and zero.grpo == P.grpo  # questions, steps, rollouts, lr, ...
        # SFT -> RL: the same GRPO settings but the learning rate, its own where the profile gives one
        assert then.grpo == dataclasses.replace(P.grpo, learning_rate=sft_then_rl.learning_rate(P))
        assert zero.support_n == then.support_n == P.grpo.group_size  # plain GRPO: the whole group in the loss
        assert zero.seed == then.seed == arms["sft"].seed == seed
        assert zero.init == base_job(P) and then.init == arms["sft"]
        assert dataclasses.replace(then, init=zero.init, grpo=zero.grpo) == zero  # nothing else differs
        assert arms["sft"].init == base_job(P)  # every arm starts from the one base model


@pytest.mark.parametrize("name", PROFILES)
def test_every_arm_trains_on_the_same_questions(name):
    P = load_profile(name)
    arms = sft_then_rl.arm_jobs(P, P.seeds[0])
    sft_prompts = {r.prompt for r in arms["sft"].data.examples()}
    rl_prompts = set(grpo.to_prompt_dataset(ToyWorld(), arms["zero_rl"].data.problems())["prompt"])
    assert len(sft_prompts) == P.sft_questions and sft_prompts == rl_prompts


def test_cache_keys_differ_between_arms_and_seeds_and_not_otherwise(tmp_path):
    P = load_profile("smoke")
    store = Store(tmp_path)
    paths = {key: store.path("model", job) for key, job in sft_then_rl.all_jobs(P).items()}
    assert set(paths) == {(arm, seed) for arm in sft_then_rl.ARMS for seed in P.seeds}
    assert len(set(paths.values())) == len(paths)
    again = {key: store.path("model", job) for key, job in sft_then_rl.all_jobs(load_profile("smoke")).items()}
    assert again == paths


def test_grpo_settings_print_what_the_runs_use():
    P = load_profile("cpu")
    values = sft_then_rl.grpo_settings(P)["value"]
    assert values["optimizer steps"] == P.grpo.steps
    assert values["rollouts per step"] == P.grpo.prompts_per_step * P.grpo.group_size
    assert values["rollouts in the policy loss"] == values["group size G (rollouts per question)"] == P.grpo.group_size
    assert values["KL coefficient beta"] == P.grpo.beta and values["clip epsilon"] == P.grpo.epsilon
    assert values["learning rate"] == P.grpo.learning_rate and values["sampling temperature"] == P.grpo.temperature
    assert values["max completion length"] == P.grpo.max_completion_length and values["loss"] == "bnpo"


def test_sft_then_rl_runs_at_its_own_learning_rate_only_where_the_profile_gives_one(tmp_path):
    P = load_profile("smoke")
    assert P.sft_then_rl.learning_rate is None and sft_then_rl.learning_rate(P) == P.grpo.learning_rate
    path = tmp_path / "own.yaml"
    path.write_text("inherit: smoke\nsft_then_rl: {learning_rate: 3.0e-5}\n")
    own = load_profile(path)
    arms, before = sft_then_rl.arm_jobs(own, 1), sft_then_rl.arm_jobs(P, 1)
    assert arms["sft_then_rl"].grpo.learning_rate == 3e-5 and arms["zero_rl"] == before["zero_rl"]
    assert arms["sft_then_rl"] != before["sft_then_rl"]  # another run, another cache entry
    assert sft_then_rl.grpo_settings(own)["value"]["learning rate of SFT -> RL"] == 3e-5
    path.write_text("inherit: smoke\nsft_then_rl: {learning_rate: 2}\n")
    with pytest.raises(ParamError, match=r"sft_then_rl\.learning_rate=2\.0 is not allowed"):
        load_profile(path)
    path.write_text("inherit: smoke\nsft_then_rl: {learning_rate: null}\n")
    assert load_profile(path).sft_then_rl == P.sft_then_rl


def test_reward_summary_and_ranking_from_hand_made_numbers():
    history = pd.DataFrame({"arm": ["a"] * 10, "seed": [1] * 10, "step": list(range(1, 11)),
                            "reward": [-1, -1, 0, 0, 0, 0, 0, 0, 1, 1], "completion_length": [10] * 8 + [20, 30],
                            "accuracy": [0.0] * 8 + [0.5, 1.0],
                            "frac_reward_zero_std": [1.0] * 5 + [0.0] * 5})
    row = sft_then_rl.reward_summary(history).loc["a"]
    assert row.reward_first_fifth == -1 and row.reward_last_fifth == 1  # steps 1-2 and 9-10
    assert row.accuracy_first_fifth == 0 and row.accuracy_last_fifth == 0.75
    assert row.length_first_fifth == 10 and row.length_last_fifth == 25 and row.groups_without_signal == 0.5
    summary = pd.DataFrame({"pass_at_k": [0.2, 0.5, 0.3]}, index=["sft", "zero_rl", "sft_then_rl"])
    assert sft_then_rl.ranking(summary, "pass_at_k") == "zero_rl > sft_then_rl > sft"


def test_the_sft_style_is_validated_before_any_compute(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("inherit: smoke\nsft_then_rl: {sft_style: answer_only}\n")
    with pytest.raises(ParamError, match=r"sft_then_rl\.sft_style='answer_only' is not allowed"):
        load_profile(path)
