"""Where models run and in what precision, and what to do when the GPU runs out of memory.

The toy world always runs on the CPU (its models are too small for a GPU to help, and its results reproduce bit
for bit there); the LLM world runs on the GPU when one is visible, sampling in bfloat16 and training float32
weights under bfloat16 autocast.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from .worlds import kind_of


def device_for(families) -> str:
    """Returns where a model of the world of ``families`` runs: the toy world always on the CPU (its 1M-parameter
    models are faster there than a GPU launch per kernel, and its results reproduce bit for bit), the LLM world on
    the GPU when one is visible."""
    return "cuda" if families and kind_of(families) == "llm" and torch.cuda.is_available() else "cpu"


def inference_dtype(world, device: str) -> torch.dtype:
    """Returns the dtype a model of ``world`` (a profile's world params) samples and is probed in: bfloat16 on a GPU
    for the LLM world's ``dtype: auto``, float32 otherwise."""
    choice = getattr(world, "dtype", "float32")
    if choice == "auto":
        choice = "bfloat16" if device == "cuda" else "float32"
    return getattr(torch, choice)


def oom_advice(message: str) -> str:
    """Returns what to lower when ``message`` is a GPU out-of-memory error (empty otherwise)."""
    if "out of memory" not in message.lower() and "OutOfMemoryError" not in message:
        return ""
    return ("GPU out of memory: lower eval.batch_size (sequences sampled at once), grpo.prompts_per_step or "
            "grpo.max_completion_length (rollouts per step and their length), sft.batch_size or raise "
            "sft.micro_batches (sequences per forward pass), or world.vllm_memory_fraction (vLLM's share of the GPU)")


@contextmanager
def explain_oom():
    """Re-raises a CUDA out-of-memory error with the knobs to lower (``oom_advice``) in its message."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as err:
        raise RuntimeError(oom_advice(str(err)) + f"\n(original error: {err})") from err
