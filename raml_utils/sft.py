"""Supervised fine-tuning on trajectories (the paper's "oracle inner loop") through TRL's SFTTrainer.

Every training sequence is prompt + trajectory + answer suffix + answer. The loss covers the
completion only; for a trajectory cut short with its answer forced (``Rendered.forced``), the forced
suffix (``</think><ans>``) is also left out of the loss, so the model learns to answer from a partial
trajectory without learning to stop early.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings

from .params import TrainParams
from .worlds.toy import Rendered


LOGGING_STEPS = 10  # loss (and gradient norm) logged every this many optimizer steps


def processes() -> int:
    """Returns how many training processes share each step: the ``WORLD_SIZE`` that ``accelerate launch`` sets, or 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def per_device_batch(batch: int, parts: int = 1) -> int:
    """Returns each process's share of a ``batch`` split into ``parts`` micro-batches, or fails saying what to change."""
    n = processes()
    if batch % (parts * n):
        raise ValueError(f"a batch of {batch} sequences cannot be split into {parts} micro-batches on each of {n} "
                         f"processes: make the batch size a multiple of {parts * n}")
    return batch // (parts * n)


def encode_example(rendered: Rendered, tokenizer) -> dict[str, list[int]]:
    """Returns ``input_ids`` and ``completion_mask`` (1 = token in the loss) of one training sequence."""
    pieces = [
        (rendered.prompt, 0),
        (rendered.trajectory, 1),
        (rendered.suffix, 0 if rendered.forced else 1),
        (rendered.answer + rendered.end, 1),
    ]
    input_ids, mask = [], []
    for text, in_loss in pieces:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        input_ids += ids
        mask += [in_loss] * len(ids)
    return {"input_ids": input_ids, "completion_mask": mask}


def to_dataset(examples: list[Rendered], tokenizer):
    """Returns a tokenized ``datasets.Dataset`` that SFTTrainer uses as is (no re-tokenisation)."""
    from datasets import Dataset

    rows = [encode_example(r, tokenizer) for r in examples]
    return Dataset.from_dict({key: [row[key] for row in rows] for key in ("input_ids", "completion_mask")})


def sft_config(train: TrainParams, seed: int, output_dir: str, device: str = "cpu"):
    """Returns the TRL ``SFTConfig`` of a run: the same knobs for every arm, logging every 10 steps.

    On a GPU (the LLM world) the weights stay float32 and the forward pass runs in bfloat16 autocast.
    """
    from trl import SFTConfig

    return SFTConfig(
        output_dir=output_dir,
        max_steps=train.steps,
        per_device_train_batch_size=per_device_batch(train.batch_size, train.micro_batches),
        gradient_accumulation_steps=train.micro_batches,
        learning_rate=train.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=int(train.warmup_ratio * train.steps),
        weight_decay=train.weight_decay,
        completion_only_loss=True,
        max_length=None,  # toy sequences are short; never truncate a trajectory silently
        logging_steps=min(LOGGING_STEPS, train.steps),  # a run shorter than the interval still logs its loss
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,  # notebooks show one bar per sweep instead of one per run
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        dataloader_num_workers=0,
        train_sampling_strategy="batch_rebalance" if train.micro_batches > 1 else "random",
        # TRL's SFTConfig turns both on by default: recomputing activations costs ~40% of a step on a
        # 1M-parameter model that fits anywhere, and bf16 autocast on CPU is slower and changes numerics.
        gradient_checkpointing=False,
        bf16=device == "cuda",
    )


def _seeded_trainer_class():
    from transformers.trainer_pt_utils import BatchRebalanceSampler
    from trl import SFTTrainer

    class SeededSFTTrainer(SFTTrainer):
        # transformers 5.23 builds its BatchRebalanceSampler with the default seed 42 whatever the run's seed:
        # give it the run's data seed, or every seed would see the same batches.
        def _get_train_sampler(self, train_dataset=None):
            sampler = super()._get_train_sampler(train_dataset)
            if isinstance(sampler, BatchRebalanceSampler):
                sampler.seed = self.args.data_seed
            return sampler

    return SeededSFTTrainer


def train_sft(model, tokenizer, examples: list[Rendered], train: TrainParams, seed: int):
    """Returns (model, loss_history) after SFT on ``examples`` for ``train.steps`` optimizer steps."""
    import datasets
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("trl").setLevel(logging.ERROR)
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = _seeded_trainer_class()(
            model=model,
            args=sft_config(train, seed, tmp, model.device.type),
            train_dataset=to_dataset(examples, tokenizer),
            processing_class=tokenizer,
        )
        trainer.remove_callback(PrinterCallback)  # loss goes to the returned history, not to stdout
        trainer.train()
    history = [{"step": h["step"], "loss": h["loss"], "grad_norm": h.get("grad_norm"), "num_tokens": h.get("num_tokens")}
               for h in trainer.state.log_history if "loss" in h]
    return trainer.model.eval(), history
