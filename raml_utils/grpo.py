"""GRPO (on-policy RL, the paper's exploring inner loop) through TRL's GRPOTrainer, with the support-set mask.

The study's one GRPO path. Every step samples a group of G rollouts per question; advantages are the
rewards normalised over the **whole** group, but the policy loss is taken on only ``support_n`` randomly
chosen rollouts of each group (the paper's ``gen_mask``, claim C6): ``support_n`` sets how many
trajectories inform the update, while the loss stays a mean over the selected tokens (TRL ``loss_type=
"bnpo"``), so the step size does not shrink with ``support_n``.

Reward: the paper's (``rewards.py``).

``GRPOJob`` is to GRPO what ``training.TrainJob`` is to SFT: a picklable description of a run, starting
from the model of another job, whose hash is the trained model's cache key.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd
import torch

from .devices import device_for, explain_oom
from .evaluation import world_of_problems
from .models import load_model, save_model
from .params import GRPOParams
from .rewards import CORRECT, CORRECT_BAD_FORMAT, WRONG, WRONG_BAD_FORMAT, AnswerAccuracy, PaperReward
from .sampling import decode
from .sft import per_device_batch, processes
from .training import TrainJob
from .worlds import World, make_problems

# --- the support-set mask ------------------------------------------------------------------------

def support_indices(n_groups: int, group_size: int, support_n: int, generator) -> "torch.Tensor":
    """Returns the sorted row indices of ``support_n`` rollouts drawn without replacement from each group.

    Rows ``g * group_size ... (g + 1) * group_size - 1`` form group ``g`` (TRL's layout).
    """
    if not 1 <= support_n <= group_size:
        raise ValueError(f"support_n={support_n} must lie in 1..group_size={group_size}")
    picks = [g * group_size + torch.randperm(group_size, generator=generator)[:support_n].sort().values
             for g in range(n_groups)]
    return torch.cat(picks)  # (n_groups * support_n,)


def support_mask_example(group_size: int, support_n: int, seed: int = 0) -> "pd.DataFrame":
    """Returns one group of rollouts as a support-set GRPO step treats it: each rollout's reward (the four values of
    the paper's reward, in turn), its advantage normalised over the **whole** group (as TRL's ``scale_rewards=
    "group"``: minus the group mean, over its standard deviation + 1e-4), and whether the policy loss takes it
    (``support_n`` rollouts drawn by ``support_indices``)."""
    rewards = torch.tensor([(CORRECT, WRONG, CORRECT_BAD_FORMAT, WRONG_BAD_FORMAT)[i % 4] for i in range(group_size)])
    advantages = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
    kept = set(support_indices(1, group_size, support_n, torch.Generator().manual_seed(seed)).tolist())
    return pd.DataFrame({"reward": rewards.tolist(), "advantage (whole group)": advantages.round(decimals=3).tolist(),
                         "in the policy loss": [i in kept for i in range(group_size)]}).rename_axis("rollout")


def rollouts(model, prompt_ids: list[list[int]], pad_id: int, eos_ids: list[int], max_new_tokens: int,
             temperature: float, generator) -> list[list[int]]:
    """Returns one sampled completion (token ids, up to and including its first EOS) per prompt: the GRPO rollouts,
    by ``sampling.decode`` with the model in eval mode (no dropout while sampling), restored to training after."""
    width = max(len(ids) for ids in prompt_ids)
    ids = torch.tensor([[pad_id] * (width - len(p)) + list(p) for p in prompt_ids], device=model.device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompt_ids], device=model.device)
    was_training = model.training
    model.eval()
    on_gpu = model.device.type == "cuda"  # sample in bfloat16 there, as evaluation does; the weights stay float32
    with torch.no_grad(), torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=on_gpu):
        out = decode(model, ids, mask, eos_ids, max_new_tokens, temperature, generator)
    model.train(was_training)
    return out


def _select_rows(batch: dict, keep) -> dict:
    """Returns the generation batch restricted to rows ``keep``, its completion padding trimmed."""

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

            super().__init__(*args, **kwargs)
            self.support_n = support_n
            # A generator of its own: the choice never shifts the sampling RNG, so at a given seed every
            # support size sees the same first group of rollouts.
            self.support_generator = torch.Generator().manual_seed(support_seed)
            # The rollouts' sampling RNG, on the model's device; each process of a several-GPU run draws its own.
            self.rollout_generator = torch.Generator(device=self.accelerator.device).manual_seed(
                support_seed + 1 + 1_000_003 * self.accelerator.process_index)
            self.last_group: dict = {}  # the latest full group and the rows kept (for tests and inspection)

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
            # TRL's transformers path computes every rollout until the batch's longest one ends; sampling.decode
            # lets finished rollouts leave the batch (the same sampling distribution, a fraction of the work).
            if self.use_vllm or self.use_transformers_continuous_batching or images or multimodal_fields:
                return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                     has_tool_images)
            return rollouts(self.accelerator.unwrap_model(self.model_wrapped), prompt_ids, self._tokenizer.pad_token_id,
                            self.eos_token_ids, self.max_completion_length, self.temperature,
                            self.rollout_generator), None

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


def per_device_group_batch(params: GRPOParams) -> int:
    """Returns each process's rollouts per step: whole groups only (the support-set mask and the group advantages are
    computed per process), or fails saying what to change."""
    per_device = per_device_batch(params.prompts_per_step * params.group_size)
    if per_device % params.group_size:
        raise ValueError(f"{processes()} processes would split GRPO groups of {params.group_size} rollouts: make "
                         f"grpo.prompts_per_step ({params.prompts_per_step}) a multiple of the number of processes")
    return per_device


def grpo_config(params: GRPOParams, seed: int, output_dir: str, reward_weights: list[float] | None = None,
                device: str = "cpu"):
    """Returns the TRL ``GRPOConfig`` of a run: one generation and one update per step, all on this machine
    (on a GPU, the LLM world: float32 weights, bfloat16 autocast)."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=output_dir,
        max_steps=params.steps,
        per_device_train_batch_size=per_device_group_batch(params),
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
        use_cpu=device == "cpu",
        dataloader_num_workers=0,
        # As in sft.py: TRL turns both on by default; on a 1M-parameter fp32 model they only cost time.
        gradient_checkpointing=False,
        bf16=device == "cuda",
    )


def to_prompt_dataset(world: World, problems: list):
    """Returns a ``datasets.Dataset`` of prompts (up to the opening ``<think>``) and question indices."""
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [world.prompt(p) for p in problems], "question": list(range(len(problems)))})


def make_trainer(model, tokenizer, problems: list, params: GRPOParams, seed: int, support_n: int,
                 output_dir: str, reward_funcs=None, delimiter: bool = True):
    """Returns the support-set GRPO trainer of a run.

    ``reward_funcs`` defaults to the paper's reward, plus the answer accuracy at weight 0 (logged only).
    """
    import datasets
    from transformers import PrinterCallback  # the trainer stack takes seconds to import: only where a run starts
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("trl").setLevel(logging.ERROR)
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")

    world = world_of_problems(problems, tokenizer)
    rewards = reward_funcs or [PaperReward(tokenizer, world, problems, delimiter),
                               AnswerAccuracy(tokenizer, world, problems, delimiter)]
    trainer = _grpo_trainer_class()(
        model=model,
        reward_funcs=rewards,
        args=grpo_config(params, seed, output_dir, None if reward_funcs else [1.0, 0.0], model.device.type),
        train_dataset=to_prompt_dataset(world, problems),
        processing_class=tokenizer,
        support_n=support_n,
        support_seed=seed,
    )
    trainer.remove_callback(PrinterCallback)  # metrics go to the returned history, not to stdout
    return trainer


HISTORY_KEYS = {"reward": "reward", "accuracy": "rewards/accuracy/mean", "reward_std": "reward_std",
                "grad_norm": "grad_norm", "loss": "loss",
                "frac_reward_zero_std": "frac_reward_zero_std", "completion_length": "completions/mean_length",
                "truncated_share": "completions/clipped_ratio", "entropy": "entropy"}
MONITOR_KEYS = ("weight_change",)  # logged by ``WeightChange``, not by TRL


def weight_change_callback():
    """Returns a TrainerCallback recording ``weight_change`` = ||θ - θ_start|| / ||θ_start|| after every step.

    AdamW moves every weight by about the learning rate per step whatever the gradient's size, so this (not the
    gradient norm) is what shows a learning rate too large for RL."""
    from transformers import TrainerCallback

    class WeightChange(TrainerCallback):
        def __init__(self):
            self.start, self.by_step = None, {}

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.start = [p.detach().clone() for p in model.parameters()]

        def on_step_end(self, args, state, control, model=None, **kwargs):
            with torch.no_grad():
                moved = sum(float((p - p0).pow(2).sum()) for p, p0 in zip(model.parameters(), self.start))
                size = sum(float(p0.pow(2).sum()) for p0 in self.start)
            self.by_step[state.global_step] = (moved / size) ** 0.5

    return WeightChange()


def train_grpo(model, tokenizer, problems: list, params: GRPOParams, seed: int, support_n: int,
               delimiter: bool = True):
    """Returns (model, history) after ``params.steps`` GRPO steps on ``problems`` with the support-set mask.

    ``history`` has one row per step: the mean reward over every rollout of the step (whole groups), its
    spread, the rollouts' answer accuracy, the share of groups with no reward spread, the gradient norm before
    clipping, the loss, the mean rollout length, the share of truncated rollouts (no EOS within the budget), the
    policy entropy of the trained tokens and the relative weight change from the starting model.
    """
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(model.train(), tokenizer, problems, params, seed, support_n, tmp,
                               delimiter=delimiter)
        monitor = weight_change_callback()
        trainer.add_callback(monitor)
        trainer.train()
    history = [{"step": h["step"], **{name: h.get(key) for name, key in HISTORY_KEYS.items()},
                "weight_change": monitor.by_step.get(h["step"])}
               for h in trainer.state.log_history if "reward" in h]
    return trainer.model.eval(), history


# --- cached jobs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class GRPOData:
    """The questions a GRPO run samples from (prompts only: the trajectories are the model's own)."""

    CACHE_NAMES: ClassVar[dict] = {"levels": "steps"}  # the field's name before 2026-12-03: cache keys keep it

    families: tuple[str, ...]
    levels: tuple[int, ...]  # difficulties of the questions (operations per question)
    n_questions: int
    test_fraction: float
    question_seed: int = 0  # the questions depend on this only, never on the run's seed
    delimiter: bool = True  # the format the reward asks for: trajectories closed by </think>

    def problems(self) -> list:
        return make_problems(self.n_questions, "train", self.question_seed, self.families, self.levels,
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
    rollout_sampler: int = 2  # how rollouts are drawn (part of the key): 2 = ``rollouts`` (sampling.decode), 1 = TRL's
    monitor: int = 2  # what its history logs (part of the key): 2 adds truncation, entropy and weight change


def make_grpo_model(job: GRPOJob, start: Path, tmp: Path) -> None:
    """Trains ``job`` from the model in ``start`` and saves it, with ``history.json``, in ``tmp`` (``dispatch``)."""
    torch.set_num_threads(job.threads)
    model, tokenizer = load_model(start, device=device_for(job.data.families))
    with explain_oom():
        model, history = train_grpo(model, tokenizer, job.data.problems(), job.grpo, job.seed, job.support_n,
                                    job.data.delimiter)
    save_model(model, tokenizer, tmp)
    (tmp / "history.json").write_text(json.dumps(history))
