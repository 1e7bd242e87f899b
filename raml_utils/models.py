"""Build, save and load the small causal LMs of the toy world (transformers' Llama architecture)."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass(frozen=True)
class ModelConfig:
    """Size of a toy-world transformer trained from scratch (Llama-style: RoPE, RMSNorm, SwiGLU)."""

    hidden_size: int = 128  # width d; parameters grow as ~12 d^2 per layer
    num_layers: int = 4  # depth; more layers = more sequential computation per token
    num_heads: int = 4  # attention heads; hidden_size must be divisible by it
    intermediate_size: int = 512  # width of the SwiGLU feed-forward block
    max_positions: int = 512  # longest prompt + trajectory + answer the model can read


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and torch so that a run is a function of its seed (at a fixed thread count)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def build_model(cfg: ModelConfig, tokenizer, seed: int):
    """Returns a freshly initialised ``LlamaForCausalLM`` sized by ``cfg`` for ``tokenizer``'s vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    seed_everything(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config)


def n_parameters(model) -> int:
    """Returns the number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def save_model(model, tokenizer, path: Path) -> None:
    """Writes model (safetensors) and tokenizer to ``path`` (call inside ``cache.atomic_dir``)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one "Writing model shards" bar per run would bury the notebook's own bars
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)


def load_model(path: Path, device: str = "cpu", dtype: torch.dtype | None = None):
    """Returns (model, tokenizer) saved by ``save_model``, in eval mode on ``device`` (float32 unless ``dtype``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar per model would bury the notebook's own bars
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    return model, tokenizer
