"""GRPO (on-policy RL, the paper's exploring inner loop) through TRL's GRPOTrainer, with the support-set mask.

The study's one GRPO path. Every step samples a group of G rollouts per question; advantages are the
rewards normalised over the **whole** group, but the policy loss is taken on only ``support_n`` randomly
chosen rollouts of each group (the paper's ``gen_mask``, claim C6): ``support_n`` sets how many
trajectories inform the update, while the loss stays a mean over the selected tokens (TRL ``loss_type=
"bnpo"``), so the step size does not shrink with ``support_n``.

Reward (the paper's): 1 correct answer in the right format, 0 wrong answer in the right format,
-0.5 correct answer in a bad format, -1 wrong answer in a bad format (see ``paper_reward``).

``GRPOJob`` is to GRPO what ``training.TrainJob`` is to SFT: a picklable description of a run, starting
from the model of another job, whose hash is the trained model's cache key.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path


from .cache import Store
from .params import GRPOParams, Profile
from .training import TrainJob, run_job, run_jobs, run_missing_in_pool
from .worlds import toy

CORRECT, WRONG, CORRECT_BAD_FORMAT, WRONG_BAD_FORMAT = 1.0, 0.0, -0.5, -1.0
_STATED_ANSWER = re.compile(re.escape(toy.ANSWER) + r"(\d+)")


# --- reward ---------------------------------------------------------------------------------------

def recovered_answer(completion: str) -> int | None:
    """Returns the answer a completion states even if malformed: the digits right after its last ``<ans>``.

    The digit run must be exactly two digits (``<ans>421`` states 421, not 42); no marker means no answer.
    """
    stated = _STATED_ANSWER.findall(completion)
    return int(stated[-1]) if stated and len(stated[-1]) == 2 else None


def reward_for_answer(completion: str, answer: int, delimiter: bool = True) -> float:
    """Returns the paper's reward of ``completion`` for a question whose answer is ``answer``.

    Right format means ``toy.parse_completion`` accepts the completion (one ``</think>`` right before the
    single ``<ans>``, two digits, ``<eos>``); a bad format is any other completion, its answer recovered
    by ``recovered_answer`` (e.g. a missing ``</think>``, no ``<eos>`` at the length limit, two answers).
    """
    well_formed = toy.parse_completion(completion, delimiter)
    if well_formed is not None:
        return CORRECT if well_formed == answer else WRONG
    return CORRECT_BAD_FORMAT if recovered_answer(completion) == answer else WRONG_BAD_FORMAT


def paper_reward(completion: str, problem: toy.Problem, delimiter: bool = True) -> float:
    """Returns the paper's reward (1, 0, -0.5 or -1) of a completion of ``problem``."""
    return reward_for_answer(completion, problem.answer, delimiter)


class PaperReward:
    """TRL reward function: decodes each rollout with its special tokens (TRL's text drops them) and scores it."""

    __name__ = "paper_reward"  # TRL logs rewards under the function's name

    def __init__(self, tokenizer, delimiter: bool = True):
        self.tokenizer, self.delimiter = tokenizer, delimiter

    def __call__(self, prompts, completions, completion_ids, answer, **kwargs) -> list[float]:
        texts = [self.tokenizer.decode(ids, skip_special_tokens=False) for ids in completion_ids]
        return [reward_for_answer(t, a, self.delimiter) for t, a in zip(texts, answer)]


class AnswerAccuracy(PaperReward):
    """TRL reward function with weight 0 (``grpo_config``): logs the share of rollouts whose answer is correct
    in the right format (reward 1), as evaluation counts accuracy, without touching the advantages."""

    __name__ = "accuracy"

    def __call__(self, *args, **kwargs) -> list[float]:
        return [float(r == 1.0) for r in super().__call__(*args, **kwargs)]


# --- the support-set mask ------------------------------------------------------------------------

def support_indices(n_groups: int, group_size: int, support_n: int, generator) -> "torch.Tensor":
    """Returns the sorted row indices of ``support_n`` rollouts drawn without replacement from each group.

    Rows ``g * group_size ... (g + 1) * group_size - 1`` form group ``g`` (TRL's layout).
    """
    import torch

    if not 1 <= support_n <= group_size:
        raise ValueError(f"support_n={support_n} must lie in 1..group_size={group_size}")
    picks = [g * group_size + torch.randperm(group_size, generator=generator)[:support_n].sort().values
             for g in range(n_groups)]
    return torch.cat(picks)  # (n_groups * support_n,)


def _select_rows(batch: dict, keep) -> dict:
    """Returns the generation batch restricted to rows ``keep``, its completion padding trimmed."""
    import torch

    n_rows = batch["completion_ids"].shape[0]
    out = {}
    for key, value in batch.items():
        if key == "num_items_in_batch":
            continue
        if not (isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == n_rows):
            raise ValueError(f"cannot apply the support-set mask to batch field {key!r}")
        out[key] = value[keep]
    # Right padding shared with unselected rollouts only: masked everywhere, dropped to save compute.
    width = max(int(out["completion_mask"].sum(dim=1).max()), 1)
    for key in ("completion_ids", "completion_mask", "old_per_token_logps", "ref_per_token_logps"):
        if key in out:
            out[key] = out[key][:, :width]
    out["num_items_in_batch"] = out["completion_mask"].sum()
    return out


def _grpo_trainer_class():
    from trl import GRPOTrainer

    class SupportSetGRPOTrainer(GRPOTrainer):
        """GRPOTrainer whose policy loss sees only ``support_n`` rollouts per group (advantages: whole group).

        Subclassed because TRL scores and normalises a whole group in one method; the mask is applied to its
        output, after the advantages exist and before any loss is computed.
        """

        def __init__(self, *args, support_n: int, support_seed: int, **kwargs):
            import torch

            super().__init__(*args, **kwargs)
            self.support_n = support_n
            # A generator of its own: the choice never shifts the sampling RNG, so at a given seed every
            # support size sees the same first group of rollouts.
            self.support_generator = torch.Generator().manual_seed(support_seed)
            self.last_group: dict = {}  # the latest full group and the rows kept (for tests and inspection)

        def _generate_and_score_completions(self, inputs):
            full = super()._generate_and_score_completions(inputs)
            if not self.model.training:
                return full
            n_rows = full["completion_ids"].shape[0]
            keep = support_indices(n_rows // self.num_generations, self.num_generations, self.support_n,
                                   self.support_generator)
            self.last_group = {"full": full, "keep": keep}
            return _select_rows(full, keep)

    return SupportSetGRPOTrainer


def grpo_config(params: GRPOParams, seed: int, output_dir: str, reward_weights: list[float] | None = None):
    """Returns the TRL ``GRPOConfig`` of a run: one generation and one update per step, all on this machine."""
    import torch
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=output_dir,
        max_steps=params.steps,
        per_device_train_batch_size=params.prompts_per_step * params.group_size,
        gradient_accumulation_steps=1,  # the whole group is one micro-batch: "bnpo" then means all selected tokens
        steps_per_generation=1,
        num_iterations=1,
        num_generations=params.group_size,
        learning_rate=params.learning_rate,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=int(params.warmup_ratio * params.steps),
        max_grad_norm=params.max_grad_norm,
        beta=params.beta,
        epsilon=params.epsilon,
        temperature=params.temperature,
        top_k=0,  # plain ancestral sampling, as at evaluation
        top_p=1.0,
        max_completion_length=params.max_completion_length,
        scale_rewards="group",
        reward_weights=reward_weights,
        loss_type="bnpo",  # sum over selected tokens / number of selected tokens: support_n leaves the scale alone
        mask_truncated_completions=False,  # an unfinished rollout is a bad format, scored and trained on
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        # As in sft.py: TRL turns both on by default; on a 1M-parameter fp32 model they only cost time.
        gradient_checkpointing=False,
        bf16=False,
    )


def to_prompt_dataset(problems: list[toy.Problem]):
    """Returns a ``datasets.Dataset`` of prompts (question + ``<think>``) and integer answers."""
    from datasets import Dataset

    prompts = [toy.render(p, toy.TrajectorySpec("answer_only")).prompt for p in problems]
    return Dataset.from_dict({"prompt": prompts, "answer": [p.answer for p in problems]})


def make_trainer(model, tokenizer, problems: list[toy.Problem], params: GRPOParams, seed: int, support_n: int,
                 output_dir: str, reward_funcs=None, delimiter: bool = True):
    """Returns the support-set GRPO trainer of a run.

    ``reward_funcs`` defaults to the paper's reward, plus the answer accuracy at weight 0 (logged only).
    """
    import datasets
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("trl").setLevel(logging.ERROR)
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    trainer = _grpo_trainer_class()(
        model=model,
        reward_funcs=reward_funcs or [PaperReward(tokenizer, delimiter), AnswerAccuracy(tokenizer, delimiter)],
        args=grpo_config(params, seed, output_dir, None if reward_funcs else [1.0, 0.0]),
        train_dataset=to_prompt_dataset(problems),
        processing_class=tokenizer,
        support_n=support_n,
        support_seed=seed,
    )
    trainer.remove_callback(PrinterCallback)  # metrics go to the returned history, not to stdout
    return trainer


HISTORY_KEYS = {"reward": "reward", "accuracy": "rewards/accuracy/mean", "reward_std": "reward_std",
                "grad_norm": "grad_norm", "loss": "loss",
                "frac_reward_zero_std": "frac_reward_zero_std", "completion_length": "completions/mean_length"}


def train_grpo(model, tokenizer, problems: list[toy.Problem], params: GRPOParams, seed: int, support_n: int,
               delimiter: bool = True):
    """Returns (model, history) after ``params.steps`` GRPO steps on ``problems`` with the support-set mask.

    ``history`` has one row per step: the mean reward over every rollout of the step (whole groups), its
    spread, the rollouts' answer accuracy, the share of groups with no reward spread, the gradient norm before clipping, the loss and
    the mean rollout length.
    """
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(model.train(), tokenizer, problems, params, seed, support_n, tmp,
                               delimiter=delimiter)
        trainer.train()
    history = [{"step": h["step"], **{name: h.get(key) for name, key in HISTORY_KEYS.items()}}
               for h in trainer.state.log_history if "reward" in h]
    return trainer.model.eval(), history


# --- cached jobs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class GRPOData:
    """The questions a GRPO run samples from (prompts only: the trajectories are the model's own)."""

    families: tuple[str, ...]
    steps: tuple[int, ...]
    n_questions: int
    test_fraction: float
    question_seed: int = 0  # the questions depend on this only, never on the run's seed
    delimiter: bool = True  # the format the reward asks for: trajectories closed by </think>

    def problems(self) -> list[toy.Problem]:
        return toy.make_problems(self.n_questions, "train", self.question_seed, self.families, self.steps,
                                 test_fraction=self.test_fraction)


@dataclass(frozen=True)
class GRPOJob:
    """One GRPO run; its fields (the starting job included) are its cache key."""

    data: GRPOData
    grpo: GRPOParams
    support_n: int  # rollouts per group in the policy loss
    seed: int
    init: "TrainJob | GRPOJob"  # the job whose model this run starts from
    threads: int = 1  # torch threads: part of the key, since float sums (hence the model) depend on it


def run_any(job: "TrainJob | GRPOJob", store: Store) -> Path:
    """Returns the model directory of an SFT or GRPO job, training it (and its parents) if missing."""
    return run_grpo_job(job, store) if isinstance(job, GRPOJob) else run_job(job, store)


def run_grpo_job(job: GRPOJob, store: Store) -> Path:
    """Returns the directory of the job's trained model (with ``history.json``), training it if missing."""
    import torch

    from .models import load_model, save_model

    start = run_any(job.init, store)
    if store.has("model", job):
        return store.path("model", job)
    torch.set_num_threads(job.threads)

    def make(tmp: Path) -> None:
        model, tokenizer = load_model(start)
        model, history = train_grpo(model, tokenizer, job.data.problems(), job.grpo, job.seed, job.support_n,
                                    job.data.delimiter)
        save_model(model, tokenizer, tmp)
        (tmp / "history.json").write_text(json.dumps(history))

    return store.get_or_make("model", job, make)


def run_grpo_jobs(jobs: list[GRPOJob], store: Store, workers: int = 1, desc: str = "GRPO") -> list[Path]:
    """Returns the model directories of ``jobs`` (in order), training the missing ones in parallel processes.

    Starting points are made first (SFT parents through ``training.run_jobs``, in parallel too).
    """
    sft_parents = list(dict.fromkeys(j.init for j in jobs if isinstance(j.init, TrainJob)))
    run_jobs(sft_parents, store, workers=workers, desc="starting points")
    for parent in dict.fromkeys(j.init for j in jobs if isinstance(j.init, GRPOJob)):
        run_grpo_job(parent, store)
    return run_missing_in_pool(run_grpo_job, jobs, store, workers, desc)


def grpo_job(profile: Profile, support_n: int, seed: int, init: "TrainJob | GRPOJob | None" = None,
             **data) -> GRPOJob:
    """Returns the job of a GRPO arm on the profile's fine-tuning questions, from ``init`` (default: the base).

    ``data`` overrides fields of ``GRPOData`` (e.g. ``steps``, ``n_questions``).
    """
    import dataclasses

    from .base_model import base_job

    world = profile.world
    recipe = GRPOData(families=world.train_families, steps=world.train_steps, n_questions=profile.sft_questions,
                      test_fraction=world.test_fraction)
    return GRPOJob(dataclasses.replace(recipe, **data), profile.grpo, support_n, seed,
                   init=init or base_job(profile), threads=1)


def train(profile: Profile, jobs: list[GRPOJob], desc: str = "GRPO") -> list[Path]:
    """Returns the model directories of GRPO ``jobs``, training the missing ones on ``profile.workers`` processes."""
    return run_grpo_jobs(jobs, Store(profile.cache_dir), workers=profile.workers, desc=desc)


# --- the support-set experiment (C6) -------------------------------------------------------------

def support_set_arms(profile: Profile) -> dict[str, tuple[str, int]]:
    """Returns the arms of the support-set experiment: name -> (method, support-set size)."""
    sizes = profile.support_set
    return {**{f"sft_{s}": ("SFT", s) for s in sizes.sft_sizes}, **{f"grpo_{n}": ("GRPO", n) for n in sizes.grpo_sizes}}


def sft_support_job(profile: Profile, size: int, seed: int) -> TrainJob:
    """Returns the SFT arm with ``size`` distinct trajectories per question, filled to max(sft_sizes) per question."""
    import dataclasses

    from .experiment import sft_job
    from .training import SupportSetData

    spec = profile.support_set
    job = sft_job(profile, spec.style, seed, steps=spec.steps, n_questions=spec.n_questions, orders_per_question=size)
    fields = {f.name: getattr(job.data, f.name) for f in dataclasses.fields(job.data)}
    return dataclasses.replace(job, data=SupportSetData(**fields, sequences_per_question=max(spec.sft_sizes)),
                               train=dataclasses.replace(job.train, steps=spec.sft_steps))


def grpo_support_job(profile: Profile, support_n: int, seed: int, init: "TrainJob | GRPOJob | None" = None) -> GRPOJob:
    """Returns the GRPO arm whose loss takes ``support_n`` rollouts per group, on the SFT arms' questions."""
    spec = profile.support_set
    return grpo_job(profile, support_n, seed, init=init, steps=spec.steps, n_questions=spec.n_questions)


def support_set_eval_profile(profile: Profile) -> Profile:
    """Returns the profile whose ``in_domain`` test set has the experiment's difficulties (unseen questions)."""
    import dataclasses

    world = dataclasses.replace(profile.world, train_steps=profile.support_set.steps)
    return dataclasses.replace(profile, world=world)


def stability(frame, history):
    """Returns, per arm, the spread over seeds of final accuracy / Pass@k and the variance of the reward curve.

    ``frame`` is a ``per_question_frame``; ``history`` has one row per (arm, seed, step) with ``reward`` (GRPO
    arms only). The reward-curve variance is the variance of the per-step mean reward within a run (mean over
    seeds); its roughness is the standard deviation of step-to-step changes.
    """
    per_seed = frame.groupby(["arm", "seed"])[["accuracy", "pass_at_k", "mg_pass_at_k"]].mean()
    table = per_seed.groupby(level="arm").std(ddof=1).add_suffix("_seed_sd")
    table["seeds"] = per_seed.groupby(level="arm").size()
    if len(history):
        runs = history.groupby(["arm", "seed"]).reward
        curve = runs.var(ddof=1).groupby(level="arm").mean().rename("reward_curve_var")
        rough = runs.apply(lambda r: r.diff().std(ddof=1)).groupby(level="arm").mean().rename("reward_step_change_sd")
        table = table.join(curve).join(rough)
    return table
