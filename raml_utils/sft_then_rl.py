"""SFT, zero-RL and SFT then RL from one base model (claims C4, C5): the arms, their jobs and training records.

RaML reads SFT as learning from an *oracle* inner loop (trajectories written by someone who knows the
way), and on-policy RL as learning from the model's *own* inner loops (explored, noisier). The arms:

- ``sft``: SFT on the oracle trajectories of the profile's training questions (style
  ``sft_then_rl.sft_style``; with ``"long"`` it is notebook 02's long arm, the same cache entry);
- ``zero_rl``: GRPO from the base model on the same questions;
- ``sft_then_rl``: the same GRPO run, started from the ``sft`` arm's model of the same seed.

Both RL arms are ``experiment.grpo_job`` with the policy loss on the whole group (``support_n = group_size``:
plain GRPO, the study's one GRPO code path) and share every GRPO setting (``profile.grpo``): rollouts
per step, steps, KL, clipping, temperature, completion length; the learning rate too, unless the profile gives
SFT -> RL its own (``sft_then_rl.learning_rate``, chosen on the retention check's training signal: GRPO at the rate
that teaches the base lost accuracy an SFT model already had; params/claims.yaml, the fourth amendment).
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings

import pandas as pd

from . import experiment, grpo
from .grpo import GRPOJob
from .params import Profile
from .training import TrainJob

ARMS = ("sft", "zero_rl", "sft_then_rl")
RL_ARMS = ("zero_rl", "sft_then_rl")


def arm_jobs(profile: Profile, seed: int) -> dict[str, TrainJob | GRPOJob]:
    """Returns the job of each arm at ``seed``: ``{"sft": TrainJob, "zero_rl": GRPOJob, "sft_then_rl": GRPOJob}``."""
    sft = experiment.sft_job(profile, profile.sft_then_rl.sft_style, seed)
    whole_group = profile.grpo.group_size  # every rollout of a group in the loss: plain GRPO
    from_sft = dataclasses.replace(profile.grpo, learning_rate=learning_rate(profile))
    return {"sft": sft,
            "zero_rl": experiment.grpo_job(profile, whole_group, seed),
            "sft_then_rl": dataclasses.replace(experiment.grpo_job(profile, whole_group, seed, init=sft),
                                               grpo=from_sft)}


def learning_rate(profile: Profile) -> float:
    """Returns the GRPO learning rate of the SFT -> RL arm and its retention check: ``sft_then_rl.learning_rate``,
    or ``grpo.learning_rate`` where that is unset."""
    rate = profile.sft_then_rl.learning_rate
    return profile.grpo.learning_rate if rate is None else rate


def seeds(profile: Profile) -> tuple[int, ...]:
    """Returns the seeds of the three arms: ``sft_then_rl.seeds``, or the profile's where that is empty."""
    return profile.sft_then_rl.seeds or profile.seeds


def all_jobs(profile: Profile) -> dict[tuple[str, int], TrainJob | GRPOJob]:
    """Returns the job of every (arm, seed) of the experiment, seeds from ``seeds(profile)``."""
    return {(arm, seed): job for seed in seeds(profile) for arm, job in arm_jobs(profile, seed).items()}


def grpo_settings(profile: Profile) -> "pd.DataFrame":
    """Returns the GRPO settings every RL arm runs with, read from the TRL config the runs are built from."""
    p = profile.grpo
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers' renaming notices, as in grpo.make_trainer
        config = grpo.grpo_config(p, seed=0, output_dir=tmp)
    scheduler = getattr(config.lr_scheduler_type, "value", config.lr_scheduler_type)
    rows = [
        ("optimizer steps", config.max_steps, "every RL arm"),
        ("questions per step", p.prompts_per_step, "drawn from the arms' shared training questions"),
        ("group size G (rollouts per question)", config.num_generations, "advantages normalised over the group"),
        ("rollouts per step", config.per_device_train_batch_size, "questions per step x G"),
        ("rollouts in the policy loss", p.group_size, "all of the group: plain GRPO"),
        ("learning rate", config.learning_rate, f"AdamW, {scheduler}, {config.warmup_steps} warm-up steps"),
        ("learning rate of SFT -> RL", learning_rate(profile), "its own" if profile.sft_then_rl.learning_rate
         is not None else "the same"),
        ("KL coefficient beta", config.beta, "no reference model" if config.beta == 0 else "KL to the starting model"),
        ("clip epsilon", config.epsilon, "PPO clip of the importance ratio"),
        ("updates per generation", config.num_iterations * config.steps_per_generation, "on-policy"),
        ("sampling temperature", config.temperature, f"top_k={config.top_k}, top_p={config.top_p}"),
        ("max completion length", config.max_completion_length, "tokens; an unfinished rollout is a bad format"),
        ("gradient clipping", config.max_grad_norm, "max norm"),
        ("loss", config.loss_type, "mean over the selected completion tokens"),
        ("reward scaling", config.scale_rewards, "per-group standard deviation"),
        ("reward", "paper", "1 right/formatted, 0 wrong/formatted, -0.5 right/bad format, -1 wrong/bad format"),
    ]
    return pd.DataFrame(rows, columns=["setting", "value", "note"]).set_index("setting")


def ranking(summary, metric: str) -> str:
    """Returns the arms of an ``experiment.arm_summary`` ordered by ``metric``, best first, as ``a > b > c``."""
    return " > ".join(summary[metric].sort_values(ascending=False).index)


def reward_summary(history) -> "pd.DataFrame":
    """Returns, per RL arm, the mean training reward and accuracy over the first and the last fifth of the steps
    (seed mean) and the mean rollout length over the same windows: did the run improve, and did its responses grow?"""
    rows = {}
    for arm, runs in history.groupby("arm"):
        last_step = runs.step.max()
        first = runs[runs.step <= max(1, last_step // 5)]
        last = runs[runs.step > last_step - max(1, last_step // 5)]
        rows[arm] = {"reward_first_fifth": first.reward.mean(), "reward_last_fifth": last.reward.mean(),
                     "accuracy_first_fifth": first.accuracy.mean(), "accuracy_last_fifth": last.accuracy.mean(),
                     "length_first_fifth": first.completion_length.mean(),
                     "length_last_fifth": last.completion_length.mean(),
                     "groups_without_signal": runs.frac_reward_zero_std.mean()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("arm")


WEIGHT_CHANGE_FLAG = 0.03  # relative weight change from the start model above which a run is flagged (no effect on
# verdicts): 30 steps at lr 5e-4 moved the weights 5-6%, and every such run collapsed (README "The GRPO repair")

MONITOR_PANELS = {"reward": "mean reward of all rollouts", "accuracy": "accuracy of the rollouts",
                  "completion_length": "mean response length (tokens)", "truncated_share": "truncated rollouts",
                  "entropy": "policy entropy (nats per token)", "weight_change": "weight change ||θ-θ0||/||θ0||"}


def check_table(check: dict, setting: str) -> "pd.DataFrame":
    """Returns one row per run of a learning check (``rl_check.run_learning``): its numbers and each criterion."""
    setting = f"{setting} (lr {check['learning_rate']:g})"  # in the index: a column would round 3e-4 to 0.000
    rows = [{"setting": setting, "seed": r["seed"],
             "accuracy_before": r["accuracy_before"], "accuracy_after": r["accuracy_after"],
             "gain": r["accuracy_gain"], "reward_first_5": r["reward_first"], "reward_last_5": r["reward_last"],
             "truncated_max": r["truncated_share_max"], "length_ratio_min": r["length_ratio_min"],
             "weight_change": r["weight_change_end"], **{f"ok_{k}": v for k, v in r["criteria"].items()},
             "passed": r["passed"]} for r in check["runs"]]
    if not rows:  # no question in the band: nothing was trained
        rows = [{"setting": setting, "seed": None,
                 "questions": check["questions"], "passed": False}]
    return pd.DataFrame(rows).set_index(["setting", "seed"])


def flag_text(flags: list[dict]) -> str:
    """Returns ``weight_flags`` as one readable line ("none" if empty)."""
    return ", ".join(f"{f['arm']} seed {f['seed']}: {f['weight_change']:.1%}" for f in flags) or "none"


def weight_flags(history) -> list[dict]:
    """Returns the RL runs whose relative weight change ends above ``WEIGHT_CHANGE_FLAG`` (shown, never used)."""
    last = history.sort_values("step").groupby(["arm", "seed"]).weight_change.last()
    return [{"arm": arm, "seed": int(seed), "weight_change": float(w)} for (arm, seed), w in last.items()
            if w is not None and w > WEIGHT_CHANGE_FLAG]
