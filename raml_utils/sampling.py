"""Batched generation with an in-place KV cache: greedy decoding or sampling, finished rows leaving the batch."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from pathlib import Path

import torch
from tqdm import tqdm  # plain text bars: readable in the terminal, the notebook and its saved copy
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

from .devices import oom_advice


class GrowingLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys and values live in a buffer that doubles when full.

    transformers' ``DynamicLayer`` concatenates at every decoding step, copying the whole cache each time:
    70% of a toy model's decoding step on CPU. Writing in place gives identical samples 2x faster. When rows
    leave the batch, the kept rows move down inside the buffer too (``batch_select_indices``): the default
    gathers them into a new tensor, which the next ``update`` copies into a new buffer again (evaluation 1.10x
    faster, identical samples: ``benchmarks/eval_sampling.py``).
    """

    def lazy_initialization(self, key_states, value_states):
        super().lazy_initialization(key_states, value_states)
        self._k = self._v = None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n, new, rows = self.get_seq_length(), key_states.shape[-2], key_states.shape[0]
        # Reallocate when full, or when generate replaced the views (batch select / repeat) with new tensors.
        if self._k is None or n + new > self._k.shape[-2] or self.keys.data_ptr() != self._k.data_ptr():
            capacity = max(2 * (n + new), 64)
            shape = (*key_states.shape[:-2], capacity, key_states.shape[-1])  # (B, heads, capacity, head_dim)
            self._k, self._v = key_states.new_empty(shape), value_states.new_empty(shape)
            if n:
                self._k[..., :n, :], self._v[..., :n, :] = self.keys, self.values
        self._k[:rows, ..., n:n + new, :], self._v[:rows, ..., n:n + new, :] = key_states, value_states
        self.keys, self.values = self._k[:rows, ..., :n + new, :], self._v[:rows, ..., :n + new, :]
        return self.keys, self.values

    def batch_select_indices(self, indices):
        n = self.get_seq_length()
        if n == 0:
            return  # nothing cached yet, nothing to select (as the default does)
        # Row i takes row indices[i] of the buffer's first rows (the cache's rows; the buffer may hold more).
        rows = len(indices)
        self._k[:rows, ..., :n, :] = self._k[indices, ..., :n, :]
        self._v[:rows, ..., :n, :] = self._v[indices, ..., :n, :]
        self.keys, self.values = self._k[:rows, ..., :n, :], self._v[:rows, ..., :n, :]


class GrowingCache(DynamicCache):
    """A ``DynamicCache`` made of ``GrowingLayer``s (pass as ``past_key_values`` to ``generate``)."""

    def __init__(self):
        Cache.__init__(self, layer_class_to_replicate=GrowingLayer)


@torch.inference_mode()
def generate(
    model, tokenizer, prompts: list[str], n_samples: int = 1, temperature: float = 1.0, greedy: bool = False,
    max_new_tokens: int = 256, batch_size: int = 256, seed: int = 0, progress: bool = False,
) -> list[list[str]]:
    """Returns ``n_samples`` completions per prompt (decoded text, special tokens kept, padding removed).

    Sampling is plain ancestral sampling at ``temperature`` (no top-k / top-p), as Pass@k assumes.
    """
    jobs = [prompt for prompt in prompts for _ in range(n_samples)]
    out: list[str] = []
    starts = range(0, len(jobs), batch_size)
    for start in tqdm(starts, desc="sampling", disable=not progress, leave=False):
        batch = jobs[start : start + batch_size]
        enc = tokenizer(batch, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        generator = torch.Generator(device=model.device).manual_seed(seed + start)  # draws where the logits are
        rows = decode(model, enc["input_ids"].to(model.device), enc["attention_mask"].to(model.device),
                      tokenizer.eos_token_id, max_new_tokens, None if greedy else temperature, generator)
        out += [tokenizer.decode(row, skip_special_tokens=False) for row in rows]
    return [out[i * n_samples : (i + 1) * n_samples] for i in range(len(prompts))]


def decode(model, input_ids, attention_mask, eos_id: int | list[int], max_new_tokens: int, temperature: float | None,
           generator: torch.Generator) -> list[list[int]]:
    """Returns the new tokens of each left-padded row, up to and including its first EOS (``eos_id``: one id or several).

    ``temperature=None`` decodes greedily. Unlike transformers' ``generate``, which keeps computing a finished
    row until the whole batch is done, finished rows leave the batch (and the KV cache): a batch costs the
    tokens its rows generate, not its size times its longest row (3.2x less work on the study's evaluations).
    """
    new: list[list[int]] = [[] for _ in range(len(input_ids))]
    eos_ids = torch.tensor([eos_id] if isinstance(eos_id, int) else list(eos_id), device=input_ids.device)
    alive = torch.arange(len(input_ids))
    cache = GrowingCache()
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                   past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1].float()
    for step in range(max_new_tokens):
        if temperature is None:
            tokens = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            tokens = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        for row, token in zip(alive.tolist(), tokens.tolist()):
            new[row].append(token)
        running = ~torch.isin(tokens, eos_ids)
        if not running.all():
            keep = running.nonzero().squeeze(1)
            if len(keep) == 0:
                break
            cache.batch_select_indices(keep)
            alive, tokens, attention_mask = alive[keep.cpu()], tokens[keep], attention_mask[keep]
        if step == max_new_tokens - 1:
            break  # the budget is spent: no forward pass for a token that will not be drawn
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(alive), 1))], dim=1)
        position_ids = attention_mask.sum(-1, keepdim=True) - 1
        logits = model(input_ids=tokens[:, None], attention_mask=attention_mask, position_ids=position_ids,
                       past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1].float()
    return new


# --- backends ------------------------------------------------------------------------------------------------------

VLLM_VENV = ".venv-vllm"  # vLLM pins its own torch and transformers: it lives in an environment of its own


@functools.cache
def vllm_python():
    """Returns the Python of the vLLM environment (``.venv-vllm``, made by the bootstrap on GPU machines) if vLLM
    imports there, else None (asked once per process: importing vLLM takes seconds)."""
    python = Path(__file__).resolve().parent.parent / VLLM_VENV / "bin" / "python"
    if not python.is_file():
        return None
    return str(python) if subprocess.run([str(python), "-c", "import vllm"], capture_output=True).returncode == 0 else None


def backend_name(world) -> str:
    """Returns the sampling backend a profile's ``world`` params select: "vllm" or "transformers".

    ``auto`` takes vLLM where its environment exists and a CUDA GPU is visible, transformers otherwise (the toy
    world always samples with ``generate`` above); asking for vLLM where it cannot run fails, saying why.
    """
    choice = getattr(world, "sampler", "transformers")
    if choice == "transformers":
        return "transformers"
    why = _why_no_vllm()
    if choice == "vllm" and why:
        raise RuntimeError(f"world.sampler='vllm' cannot run here: {why} (the bootstrap makes {VLLM_VENV}/ from "
                           "requirements-vllm.txt on GPU machines); use world.sampler: transformers or auto")
    return "transformers" if why else "vllm"


def _why_no_vllm() -> str:
    """Returns why vLLM cannot sample here ("" if it can)."""
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    return "" if vllm_python() is not None else f"vLLM does not import in {VLLM_VENV}/"


def backend_line(world) -> str:
    """Returns the line a notebook prints to say which sampling backend ran, and why."""
    name = backend_name(world)
    if name == "vllm":
        return f"sampling backend: vLLM ({VLLM_VENV}/)"
    if world.kind == "toy" or getattr(world, "sampler", "") == "transformers":
        return "sampling backend: transformers (raml_utils.sampling.generate)"
    return f"sampling backend: transformers (raml_utils.sampling.generate); vLLM not used: {_why_no_vllm()}"


class VLLMSampler:
    """``generate``'s signature on vLLM: each call runs ``raml_utils.vllm_worker`` in the vLLM environment on the saved
    model directory (the in-process ``model`` is not used) and returns completions in ``generate``'s format."""

    def __init__(self, model_dir, memory_fraction: float):
        self.model_dir, self.memory_fraction = str(model_dir), memory_fraction

    def __call__(self, model, tokenizer, prompts: list[str], n_samples: int = 1, temperature: float = 1.0,
                 greedy: bool = False, max_new_tokens: int = 256, batch_size: int = 256, seed: int = 0,
                 progress: bool = False) -> list[list[str]]:
        request = {"model_dir": self.model_dir, "memory_fraction": self.memory_fraction, "seed": seed,
                   "prompt_token_ids": [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts],
                   "n": n_samples, "temperature": 0.0 if greedy else temperature, "max_tokens": max_new_tokens,
                   "eos": tokenizer.eos_token}
        root = Path(__file__).resolve().parent.parent
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "request.json").write_text(json.dumps(request))
            env = {**os.environ, "PYTHONPATH": str(root)}
            done = subprocess.run([vllm_python(), "-m", "raml_utils.vllm_worker", tmp], env=env, capture_output=True,
                                  text=True)
            if done.returncode != 0:
                raise RuntimeError(f"the vLLM worker failed (exit {done.returncode}):\n{done.stderr[-3000:]}\n"
                                   + oom_advice(done.stderr))
            return json.loads((Path(tmp) / "completions.json").read_text())


def sampler_for(world, model_dir):
    """Returns the sampling function of ``world``'s backend for the model saved in ``model_dir``."""
    if backend_name(world) == "vllm":
        return VLLMSampler(model_dir, world.vllm_memory_fraction)
    return generate
