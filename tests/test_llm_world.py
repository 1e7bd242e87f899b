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
    problem = llm.GSMProblem("q", "20", "He has 28 x 4 = 112 apples.\nSo 132 - 112 = 20 are left.")
    corrupted = llm.corrupt_solution(problem, random.Random(0), 9)
    first = int(corrupted.split("= ")[1].split()[0])
    assert first != 112
    assert f"132 - {first} = {132 - first} are left" in corrupted


def test_corruption_gives_up_without_equations():
    assert llm.corrupt_solution(llm.GSMProblem("q", "5", "It is five."), random.Random(0), 9) is None


def test_smollm2_fast_probe_equals_the_naive_one():
    pytest.importorskip("gguf")
    try:
        llm.smollm2_dir()
    except RuntimeError as err:
        pytest.skip(str(err))
    import torch

    from raml_utils import probe

    torch.set_num_threads(2)
    model, tokenizer = llm.load_llm()
    problem, corrupted = llm.probe_problems(1, seed=0, max_delta=9)[0]
    item = llm.probe_input(tokenizer, problem, corrupted)
    assert "<|im_start|>assistant" in tokenizer.decode(item.prompt)
    assert 0 < item.answer_first_at < len(item.trajectory)
    cuts = [0, item.answer_first_at, len(item.trajectory)]
    fast = probe.inner_loop_curve(model, item, cuts)
    assert np.abs(fast - probe.naive_curve(model, item, cuts)).max() <= 1e-4
