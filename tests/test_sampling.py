"""Generation: the in-place KV cache gives exactly the samples of transformers' default cache."""

import torch

from raml_utils.models import ModelConfig, build_model
from raml_utils.sampling import GrowingCache, generate
from raml_utils.worlds import toy


def test_growing_cache_matches_the_default_cache_exactly():
    torch.manual_seed(0)
    tokenizer = toy.build_tokenizer()
    model = build_model(ModelConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64), tokenizer, 0).eval()
    prompts = [p.question() + toy.THINK for p in toy.make_problems(6, "test", seed=0)]  # different lengths: padding
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    outs = []
    for cache in (None, GrowingCache()):  # 150 new tokens: the buffer grows (doubles) at least once
        torch.manual_seed(1)
        kwargs = {"past_key_values": cache} if cache is not None else {}
        outs.append(model.generate(**enc, do_sample=True, top_k=None, top_p=None, max_new_tokens=150, min_new_tokens=150,
                                   pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **kwargs))
    assert torch.equal(outs[0], outs[1])


def test_generate_returns_n_samples_per_prompt_cut_at_eos():
    tokenizer = toy.build_tokenizer()
    model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, 0).eval()
    prompts = ["12+03" + toy.THINK, "sum(01,02)" + toy.THINK]
    out = generate(model, tokenizer, prompts, n_samples=3, max_new_tokens=20, seed=0)
    assert [len(row) for row in out] == [3, 3]
    for row in out:
        for completion in row:
            assert completion.count(toy.EOS) <= 1 and (toy.EOS not in completion or completion.endswith(toy.EOS))
    assert out == generate(model, tokenizer, prompts, n_samples=3, max_new_tokens=20, seed=0)  # seeded
