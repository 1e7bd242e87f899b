"""Batched generation with an in-place KV cache: greedy decoding or sampling, finished rows leaving the batch."""

from __future__ import annotations

import torch
from tqdm import tqdm  # plain text bars: readable in the terminal, the notebook and its saved copy
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer


class GrowingLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys and values live in a buffer that doubles when full.

    transformers' ``DynamicLayer`` concatenates at every decoding step, copying the whole cache each time:
    70% of a toy model's decoding step on CPU. Writing in place gives identical samples 2x faster.
    """

    def lazy_initialization(self, key_states, value_states):
        super().lazy_initialization(key_states, value_states)
        self._k = self._v = None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n, new = self.get_seq_length(), key_states.shape[-2]
        # Reallocate when full, or when generate replaced the views (batch select / repeat) with new tensors.
        if self._k is None or n + new > self._k.shape[-2] or self.keys.data_ptr() != self._k.data_ptr():
            capacity = max(2 * (n + new), 64)
            shape = (*key_states.shape[:-2], capacity, key_states.shape[-1])  # (B, heads, capacity, head_dim)
            self._k, self._v = key_states.new_empty(shape), value_states.new_empty(shape)
            if n:
                self._k[..., :n, :], self._v[..., :n, :] = self.keys, self.values
        self._k[..., n:n + new, :], self._v[..., n:n + new, :] = key_states, value_states
        self.keys, self.values = self._k[..., :n + new, :], self._v[..., :n + new, :]
        return self.keys, self.values


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
        generator = torch.Generator().manual_seed(seed + start)
        rows = decode(model, enc["input_ids"].to(model.device), enc["attention_mask"].to(model.device),
                      tokenizer.eos_token_id, max_new_tokens, None if greedy else temperature, generator)
        out += [tokenizer.decode(row, skip_special_tokens=False) for row in rows]
    return [out[i * n_samples : (i + 1) * n_samples] for i in range(len(prompts))]


def decode(model, input_ids, attention_mask, eos_id: int, max_new_tokens: int, temperature: float | None,
           generator: torch.Generator) -> list[list[int]]:
    """Returns the new tokens of each left-padded row, up to and including its first EOS.

    ``temperature=None`` decodes greedily. Unlike transformers' ``generate``, which keeps computing a finished
    row until the whole batch is done, finished rows leave the batch (and the KV cache): a batch costs the
    tokens its rows generate, not its size times its longest row (3.2x less work on the study's evaluations).
    """
    new: list[list[int]] = [[] for _ in range(len(input_ids))]
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
            tokens = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(logits.device)
        for row, token in zip(alive.tolist(), tokens.tolist()):
            new[row].append(token)
        running = tokens != eos_id
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
