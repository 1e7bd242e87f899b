"""The LLM world's questions: families and levels, trajectory styles, strict answer parsing, the world interface."""

import random

import pytest

from raml_utils import rewards, worlds
from raml_utils.params import ParamError, load_profile
from raml_utils.worlds import llm
from raml_utils.worlds import llm_tasks as L
from raml_utils.worlds import toy

TEMPLATE = L.Template("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>")
WORLD = worlds.LLMWorld(TEMPLATE)
ORDERED = ("chain_sum", "leg_counting", "letter_counting")


@pytest.mark.parametrize("family", L.FAMILIES)
def test_problems_are_deterministic_balanced_and_never_cross_the_split(family):
    train = L.make_problems(6, "train", 0, (family,), (2, 3))
    assert train == L.make_problems(6, "train", 0, (family,), (2, 3))
    assert [p.level for p in train] == [2, 3] * 3
    test = L.make_problems(6, "test", 0, (family,), (2, 3))
    assert not {p.key for p in train} & {p.key for p in test}
    assert all(L.split_of(p.key, 0.2) == "test" for p in test)


@pytest.mark.parametrize("family", L.FAMILIES)
def test_every_style_ends_in_the_true_answer_and_the_steps_compute_it(family):
    p = L.make_problems(1, "train", 1, (family,), (3,))[0]
    steps = L.solution_steps(p)
    assert len(steps) == 3 and float(steps[-1].result) == float(p.answer)
    for style in L.STYLES:
        r = L.render(p, toy.TrajectorySpec(style, reflection=(1, 4)), TEMPLATE)
        assert r.completion.endswith("\\boxed{" + p.answer + "}<|im_end|>")
        assert L.is_correct(p, L.parse_completion(r.completion))
        assert r.prompt.endswith("<|im_start|>assistant\n<think>\n") and p.question in r.prompt
        assert (r.trajectory == "") == (style == "answer_only")
    long = L.render(p, toy.TrajectorySpec("long"), TEMPLATE).trajectory
    padded = L.render(p, toy.TrajectorySpec("padded"), TEMPLATE).trajectory
    short = L.render(p, toy.TrajectorySpec("short"), TEMPLATE).trajectory
    assert len(short) < len(long) and abs(len(padded) - len(long)) <= 2 * len(steps) and L.FILLER in padded
    reflection = L.render(p, toy.TrajectorySpec("reflection", reflection=(1, 4)), TEMPLATE).trajectory
    assert reflection.count(L.REFLECTION) == 1 and L.trajectory_is_correct(p, short) and L.trajectory_is_correct(p, long)
    compressed = L.render(p, toy.TrajectorySpec("compressed"), TEMPLATE).trajectory
    assert L.compressed_is_correct(p, compressed) and not L.compressed_is_correct(p, short)


def test_reflection_writes_a_wrong_result_whose_check_fails_then_redoes_the_step():
    p = L.make_problems(1, "train", 0, ("chain_sum",), (2,))[0]
    lines = L.render(p, toy.TrajectorySpec("reflection", reflection=(0, 5)), TEMPLATE).trajectory.splitlines()
    right = L.solution_steps(p)[0].result
    assert f"= {int(right) + 5}." in lines[0] and lines[1] == L.REFLECTION.strip() and f"= {right}." in lines[2]


@pytest.mark.parametrize("family", ORDERED)
def test_orders_give_distinct_trajectories_with_the_same_answer(family):
    p = L.make_problems(1, "train", 0, (family,), (4,))[0]
    orders = L.distinct_orders(p, 8, random.Random(0))
    trajectories = {L.render(p, toy.TrajectorySpec("short", o), TEMPLATE).trajectory for o in orders}
    assert len(orders) == len(trajectories) == 8
    assert all(L.solution_steps(p, o)[-1].result == L.solution_steps(p)[-1].result for o in orders)


def test_gsm_solutions_come_in_one_order():
    p = L.make_problems(1, "train", 0, ("gsm_symbolic",), (3,))[0]
    assert L.distinct_orders(p, 4, random.Random(0)) == [None]


@pytest.mark.parametrize("completion, answer", [
    ("x = 5\n</think>\n\n**Final Answer**\n\\boxed{5}<|im_end|>", "5"),
    ("x = 5\n</think>\nSo \\boxed{5}.<|im_end|>", "5"),  # a full stop after the box is fine
    ("x = 5\n</think>\n\\boxed{5}", None),  # unfinished: no EOS within the budget
    ("x = 5\n\\boxed{5}<|im_end|>", None),  # the delimiter is missing
    ("x = 5\n</think>\n\\boxed{4} \\boxed{5}<|im_end|>", None),  # two answers
    ("x = 5\n</think>\n\\boxed{5} because<|im_end|>", None),  # text after the answer
    ("</think></think>\\boxed{5}<|im_end|>", None),
])
def test_only_well_formed_completions_state_an_answer(completion, answer):
    assert L.parse_completion(completion) == answer


def test_the_scorer_gives_full_marks_only():
    p = L.make_problems(1, "train", 0, ("leg_counting",), (2,))[0]
    assert L.is_correct(p, p.answer) and L.is_correct(p, f" {p.answer} ")
    assert not L.is_correct(p, p.answer + "0") and not L.is_correct(p, None)
    assert not L.is_correct(p, f"{p.answer} legs and more")  # reasoning-gym's partial credit is not a pass


def test_paper_reward_in_the_llm_world():
    p = L.make_problems(1, "train", 0, ("chain_sum",), (2,))[0]
    good = L.render(p, toy.TrajectorySpec("short"), TEMPLATE).completion
    assert rewards.world_reward(WORLD, good, p) == 1.0
    assert rewards.world_reward(WORLD, good.replace(p.answer + "}", "1234}"), p) == 0.0
    assert rewards.world_reward(WORLD, good.replace("</think>", ""), p) == -0.5
    assert rewards.world_reward(WORLD, "I do not know<|im_end|>", p) == -1.0
    # A pretrained model answers in prose: its last number is its answer, credited -0.5 when right, never 1.
    assert rewards.world_reward(WORLD, f"So the final answer is {p.answer}.<|im_end|>", p) == -0.5
    assert rewards.world_reward(WORLD, "So the final answer is 123456.<|im_end|>", p) == -1.0
    assert L.recovered_answer("Step 2: 5 + 7 = 12, so the answer is 12.") == "12"


def test_training_examples_cut_inside_steps_and_fill_support_sets():
    problems = L.make_problems(20, "train", 0, ("chain_sum",), (3,))
    examples = WORLD.training_examples(problems, "long", 0, truncation_rate=0.99)
    cut = [e for e in examples if e.forced and e.trajectory]
    assert len(cut) > 15 and any(not e.trajectory.endswith("\n") for e in cut)
    support = WORLD.training_examples(problems[:3], "short", 0, orders_per_question=2, sequences_per_question=4)
    by_question: dict = {}
    for r in support:
        by_question.setdefault(r.prompt, []).append(r.trajectory)
    assert all(len(t) == 4 and len(set(t)) == 2 for t in by_question.values())


def test_worlds_are_told_apart_by_their_families():
    assert isinstance(worlds.world_for(("chain", "vars")), worlds.ToyWorld)
    assert worlds.kind_of(("gsm_symbolic",)) == "llm"
    with pytest.raises(ValueError, match="not all of one world"):
        worlds.kind_of(("chain", "gsm_symbolic"))
    with pytest.raises(ValueError, match="needs the model's tokenizer"):
        worlds.world_for(("chain_sum",))


def test_llm_profiles_validate_and_bad_world_keys_fail_with_the_allowed_values(tmp_path):
    P = load_profile("gpu")
    assert P.world.kind == "llm" and P.world.train_families == ("gsm_symbolic", "chain_sum")
    bad = tmp_path / "bad.yaml"
    for text, message in [
        ("world: {kind: llm, model: /no/such/model}", "world.model='/no/such/model' is not allowed: 'smollm2' or a local"),
        ("world: {kind: llm, train_levels: [7]}", "world.train_levels=7 is not allowed: levels every fine-tuning family"),
        ("world: {kind: llm, families: [chain_sum, algebra]}", "world.families='algebra' is not allowed"),
        ("world: {kind: quantum}", "world.kind='quantum' is not allowed: one of ['llm', 'toy']"),
        ("world: {kind: llm, sampler: fast}", "world.sampler='fast' is not allowed: 'auto', 'vllm' or 'transformers'"),
    ]:
        bad.write_text(text + "\n")
        with pytest.raises(ParamError, match=message.replace("[", r"\[").replace("]", r"\]")):
            load_profile(bad)


def test_a_check_is_written_only_where_undoing_the_last_operation_is_right():
    assert L.gsm_step("So he has 28 x 4 = 112 apples.").long.endswith("(check: {r} ÷ 4 = 28)")
    assert L.gsm_step("In all 3 + 8 + 18 = 29 slices.").long.endswith("(check: {r} - 18 = 11)")
    mixed = L.gsm_step("That is 4 + 2 * 3 = 10 points.")  # no left-to-right inverse here
    assert "check" not in mixed.long and mixed.result == "10"


def test_the_llm_world_has_one_question_class_and_its_gsm_questions_carry_the_worked_solution():
    p = L.make_problems(1, "train", 0, ("gsm_symbolic",), (3,))[0]
    assert type(p) is L.Problem is llm.Problem
    assert p.solution == llm.worked_solution(p.metadata["answer_cot"]) and len(llm.solution_lines(p.solution)) == 3
    corrupted = llm.carry_forward(p, 5)  # the probes' corruption of a worked solution reads the world's question
    assert llm.final_number(p.solution) == p.answer and llm.final_number(corrupted) == str(int(p.answer) + 5)
    chain = L.make_problems(1, "train", 0, ("chain_sum",), (2,))[0]
    assert chain.solution == "" and len(L.solution_steps(chain)) == 2  # built from the metadata, not from text
    assert llm.Problem("q", "20", "So 132 - 112 = 20.").key == "gsm_symbolic:q"


def test_compressed_trajectories_in_any_valid_order_are_correct():
    p = L.make_problems(1, "train", 0, ("chain_sum",), (4,))[0]
    for order in L.distinct_orders(p, 6, random.Random(1)):
        assert L.compressed_is_correct(p, L.render(p, toy.TrajectorySpec("compressed", order), TEMPLATE).trajectory)
    assert not L.compressed_is_correct(p, "1\n2\n3\n4\n")
