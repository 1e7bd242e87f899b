"""Generation: the in-place KV cache and the shrinking batch give transformers' results, and correct samples."""

import numpy as np
import torch
from scipy import stats
from transformers.cache_utils import DynamicCache

from raml_utils.models import ModelConfig, build_model
from raml_utils.sampling import GrowingCache, decode, generate
from raml_utils.worlds import toy


def tiny_model(layers: int = 2):
    tokenizer = toy.build_tokenizer()
    cfg = ModelConfig(hidden_size=32, num_layers=layers, num_heads=2, intermediate_size=64)
    return build_model(cfg, tokenizer, 0).eval(), tokenizer


def test_growing_cache_matches_the_default_cache_exactly():
    model, tokenizer = tiny_model()
    prompts = [p.question() + toy.THINK for p in toy.make_problems(6, "test", seed=0)]  # different lengths: padding
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    outs = []
    for cache in (None, GrowingCache()):  # 150 new tokens: the buffer grows (doubles) at least once
        torch.manual_seed(1)
        kwargs = {"past_key_values": cache} if cache is not None else {}
        outs.append(model.generate(**enc, do_sample=True, top_k=None, top_p=None, max_new_tokens=150, min_new_tokens=150,
                                   pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **kwargs))
    assert torch.equal(outs[0], outs[1])


def test_growing_cache_selects_rows_as_the_default_cache_does():
    torch.manual_seed(0)
    caches = DynamicCache(), GrowingCache()
    for rows_kept in ([0, 2, 3, 5, 6], [1, 2, 4], [0], None):  # rows leave between updates; the buffer doubles
        for _ in range(40):
            rows = len(caches[0].layers[0].keys) if caches[0].get_seq_length() else 7
            k, v = torch.randn(rows, 2, 1, 4), torch.randn(rows, 2, 1, 4)
            got = [cache.update(k, v, 0) for cache in caches]
            assert all(torch.equal(a, b) for a, b in zip(*got))
        if rows_kept is not None:
            for cache in caches:
                cache.batch_select_indices(torch.tensor(rows_kept))
            assert torch.equal(caches[0].layers[0].keys, caches[1].layers[0].keys)
            assert torch.equal(caches[0].layers[0].values, caches[1].layers[0].values)
    assert caches[1].get_seq_length() == 160 and caches[1].layers[0].keys.shape[0] == 1


def test_shrinking_batch_decodes_greedily_exactly_as_transformers_generate():
    model, tokenizer = tiny_model()
    model.lm_head.weight.data[tokenizer.eos_token_id] += 0.3  # rows finish at different steps: the batch shrinks
    prompts = [p.question() + toy.THINK for p in toy.make_problems(12, "test", seed=1, families=toy.DIGITWISE_FAMILIES)]
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    ids = model.generate(**enc, do_sample=False, max_new_tokens=60, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id)[:, enc["input_ids"].shape[1]:].tolist()
    expected = [row[: row.index(tokenizer.eos_token_id) + 1] if tokenizer.eos_token_id in row else row for row in ids]
    got = decode(model, enc["input_ids"], enc["attention_mask"], tokenizer.eos_token_id, 60, None, torch.Generator())
    lengths = {len(row) for row in expected}
    assert len(lengths) > 2, "the test needs rows that finish at different steps"
    assert got == expected


def test_samples_follow_the_model_distribution():
    model, tokenizer = tiny_model(layers=1)
    prompt = "12+03" + toy.THINK
    enc = tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        probs = torch.softmax(model(**enc).logits[0, -1].double() / 0.7, -1).numpy()
    first = [tokenizer(c, add_special_tokens=False)["input_ids"][0]
             for c in generate(model, tokenizer, [prompt], n_samples=3000, temperature=0.7, max_new_tokens=1,
                               batch_size=1000, seed=3)[0]]
    observed = np.bincount(first, minlength=len(probs))
    support = probs * len(first) >= 5  # chi-square needs expected counts >= 5: pool the rest (if any)
    f_obs, f_exp = observed[support], probs[support] * len(first)
    if not support.all():
        f_obs, f_exp = np.append(f_obs, observed[~support].sum()), np.append(f_exp, probs[~support].sum() * len(first))
    assert stats.chisquare(f_obs, f_exp).pvalue > 1e-3


def test_generate_returns_n_samples_per_prompt_cut_at_eos():
    model, tokenizer = tiny_model(layers=1)
    prompts = ["12+03" + toy.THINK, "sum(01,02)" + toy.THINK]
    out = generate(model, tokenizer, prompts, n_samples=3, max_new_tokens=20, seed=0)
    assert [len(row) for row in out] == [3, 3]
    for row in out:
        for completion in row:
            assert completion.count(toy.EOS) <= 1 and (toy.EOS not in completion or completion.endswith(toy.EOS))
    assert out == generate(model, tokenizer, prompts, n_samples=3, max_new_tokens=20, seed=0)  # seeded
    assert out != generate(model, tokenizer, prompts, n_samples=3, max_new_tokens=20, seed=1)


def test_a_set_sampled_in_parts_of_whole_batches_gets_the_samples_of_one_call():
    """rl_check measures one model's questions in parts on the workers: a part that starts a batch and draws from the
    seed its first batch has in the whole call gets the same samples."""
    model, tokenizer = tiny_model(layers=1)
    model.lm_head.weight.data[tokenizer.eos_token_id] += 0.3  # completions of different lengths
    prompts = [p.question() + toy.THINK for p in toy.make_problems(7, "test", seed=2)]
    n, batch = 4, 8  # two questions' samples per batch

    def sample(part, seed):
        return generate(model, tokenizer, part, n_samples=n, max_new_tokens=30, batch_size=batch, seed=seed)

    whole = sample(prompts, 5)
    assert sample(prompts[:4], 5) + sample(prompts[4:], 5 + 4 * n) == whole
    assert sample(prompts[4:], 5) != whole[4:]  # the offset matters
