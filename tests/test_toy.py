"""The toy world: problems, splits, trajectory styles and transforms, the tokenizer, answer checking."""

import random

import pytest

from raml_utils.worlds import ToyWorld, toy


@pytest.fixture(scope="module")
def tokenizer():
    return toy.build_tokenizer()


def problem(family="chain", k=4, seed=0):
    return toy.make_problems(1, "train", seed=seed, families=(family,), levels=(k,))[0]


def test_problems_are_deterministic_in_the_seed_and_balanced():
    a = toy.make_problems(30, "train", seed=5)
    assert a == toy.make_problems(30, "train", seed=5)
    assert a != toy.make_problems(30, "train", seed=6)
    cells = {(p.family, p.k) for p in a}
    assert cells == {(f, k) for f in toy.CARRY_FAMILIES for k in (2, 3, 4)}  # the carry world is the default


def test_train_and_test_questions_never_overlap_whatever_the_seeds():
    for families in (toy.CARRY_FAMILIES, toy.DIGITWISE_FAMILIES):
        train = {p.key for s in range(3) for p in toy.make_problems(300, "train", seed=s, families=families)}
        test = {p.key for s in range(3) for p in toy.make_problems(300, "test", seed=s, families=families)}
        assert train and test and not train & test


def test_asking_for_more_questions_than_the_space_holds_fails_instead_of_looping():
    # one operation on operands 80..99: 20 x 20 sums of carry_list, about a fifth of them in the test split
    with pytest.raises(ValueError, match=r"asked for 500 distinct test questions .* found only \d+: ask for fewer"):
        toy.make_problems(500, "test", 0, ("carry_list",), (1,), operand_range=(80, 99))


def test_digitwise_answers_are_the_expression_digit_wise_mod_10():
    p = toy.Problem("chain", (95, 10, 7), ("+", "-"))
    assert p.answer == 8  # tens 9+1-0 = 10 -> 0, units 5+0-7 = -2 -> 8: no carries
    assert toy.combine(37, "+", 45) == 72 and toy.combine(20, "-", 24) == 6
    assert p.question() == "95+10-07"
    assert toy.Problem("list", (50, 60), ("+",)).question() == "sum(50,60)"
    assert toy.Problem("vars", (1, 2), ("-",), (1, 0)).question() == "b=02,a=01;a-b"


def test_carry_answers_are_real_arithmetic_mod_100():
    assert toy.Problem("carry_chain", (95, 10, 7), ("+", "-")).answer == 98  # 95 + 10 - 7 = 98
    assert toy.Problem("carry_chain", (37, 85), ("+",)).answer == 22  # 122 mod 100
    assert toy.Problem("carry_chain", (32, 85), ("-",)).answer == 47  # -53 mod 100
    assert toy.Problem("carry_list", (37, 85, 12), ("+", "+")).question() == "sum(37,85,12)"
    assert toy.Problem("carry_vars", (1, 2), ("-",), (1, 0)).question() == "b=02,a=01;a-b"
    assert toy.has_carries("carry_vars") and not toy.has_carries("vars")
    with pytest.raises(ValueError, match="family='sums' is not a toy family"):
        toy.layout("sums")


def test_carry_names_poses_the_vars_question_and_writes_the_chain_step_format():
    # The third world's held-out family: carry_vars's question, but no written lookup, so that it differs from the
    # fine-tuning families only in how the question is posed.
    values, ops, order = (37, 85, 32), ("+", "-"), (2, 0, 1)
    names, old = toy.Problem("carry_names", values, ops, order), toy.Problem("carry_vars", values, ops, order)
    chain = toy.Problem("carry_chain", values, ops)
    assert names.question() == old.question() == "c=32,a=37,b=85;a+b-c" and toy.layout("carry_names") == "vars"
    assert names.answer == chain.answer == 90 and toy.has_carries("carry_names")
    assert toy.writes_lookups("carry_vars") and toy.writes_lookups("vars") and not toy.writes_lookups("carry_names")
    for style in ("short", "long", "padded", "coarse", "compressed", "compressed_ops", "reflection"):
        spec = toy.TrajectorySpec(style, order=(1, 0))
        assert toy.render(names, spec).steps == toy.render(chain, spec).steps, style
    long = "37+85:7+5=12,3+8+1=12=22;22-32:2-2=0,12-3-0=9=90;"
    assert toy.render(names, toy.TrajectorySpec("long")).trajectory == long
    assert toy.render(old, toy.TrajectorySpec("short")).trajectory == "a=37;b=85:37+85=22;c=32:22-32=90;"
    assert toy.trajectory_is_correct(names, "37-32=05;05+85=90;")
    assert not toy.trajectory_is_correct(names, "a=37;b=85:37+85=22;c=32:22-32=90;")  # version 2's lookups
    assert toy.compressed_is_correct(names, "-32=05;+85=90;", "compressed_ops")
    assert toy.start_step(names) == () and toy.start_step(old) == ("a=37;",)
    # The longest completion of a world is its longest family's: with carry_vars's lookups, longer.
    assert toy.longest_completion_tokens(6, toy.CARRY_FAMILIES) < toy.longest_completion_tokens(6, toy.CARRY_V2_FAMILIES)


@pytest.mark.parametrize("family", toy.FAMILIES)
def test_every_style_writes_a_trajectory_that_ends_in_the_answer(family):
    p = problem(family)
    for style in toy.styles_of(family):
        r = toy.render(p, toy.TrajectorySpec(style))
        assert r.text.startswith(p.question() + toy.THINK)
        assert r.text.endswith(toy.END_THINK + toy.ANSWER + f"{p.answer:02d}" + toy.EOS)
        assert toy.parse_completion(r.completion) == p.answer
        if style in ("short", "long", "padded", "coarse", "column"):
            assert toy.trajectory_is_correct(p, r.trajectory), (style, r.trajectory)
    assert toy.render(p, toy.TrajectorySpec("answer_only")).trajectory == ""


def test_long_columns_carry_and_borrow():
    assert toy.step_long_detail(37, "+", 85, carries=True) == "7+5=12,3+8+1=12"
    assert toy.step_long_detail(37, "+", 45, carries=True) == "7+5=12,3+4+1=8"
    assert toy.step_long_detail(32, "-", 85, carries=True) == "12-5=7,13-8-1=4"  # 32 - 85 = 47 mod 100
    assert toy.step_long_detail(85, "-", 32, carries=True) == "5-2=3,8-3-0=5"
    for a in range(100):  # the last digits of the two columns spell the result, for every operation
        for b in range(100):
            for op in "+-":
                units, tens = toy.step_long_detail(a, op, b, carries=True).split(",")
                assert int(tens.split("=")[1]) % 10 * 10 + int(units.split("=")[1]) % 10 == toy.combine(a, op, b, True)


def test_coarse_writes_one_result_per_two_operations_and_column_one_digit_per_column():
    p = toy.Problem("carry_chain", (37, 85, 32), ("+", "-"))
    assert toy.render(p, toy.TrajectorySpec("coarse")).trajectory == "37+85-32=90;"
    v = toy.Problem("carry_vars", (37, 85, 32), ("+", "-"), (2, 0, 1))
    assert toy.render(v, toy.TrajectorySpec("coarse")).trajectory == "a=37;b=85,c=32:37+85-32=90;"
    q = toy.Problem("carry_list", (37, 85, 12), ("+", "+"))
    assert toy.render(q, toy.TrajectorySpec("column")).trajectory == "7+5+2=14;3+8+1+1=13;34;"
    assert "column" not in toy.styles_of("carry_chain")
    with pytest.raises(ValueError, match="carry_list only"):
        toy.render(p, toy.TrajectorySpec("column"))


@pytest.mark.parametrize("style", ["short", "long", "padded", "coarse", "compressed", "reflection", "column"])
def test_answer_digit_positions_point_at_the_tokens_that_first_write_the_answer(style):
    p = toy.Problem("carry_list", (37, 85, 12), ("+", "+"))  # answer 34
    spec = toy.TrajectorySpec(style, reflection=(1, 3) if style == "reflection" else None)
    tokens = toy.trajectory_tokens(toy.render(p, spec).trajectory)
    tens, units = toy.answer_digit_positions(p, spec)
    assert (tokens[tens], tokens[units]) == ("3", "4")
    if style == "column":  # the units digit is fixed by the first column, the tens digit by the second
        assert units < tokens.index(";") < tens
    else:  # an op-by-op trajectory fixes both in its last step
        ends = [i for i, t in enumerate(tokens) if t == ";"]
        last_step_start = ends[-2] + 1 if len(ends) > 1 else 0
        assert last_step_start <= min(tens, units)
    with pytest.raises(ValueError, match="writes no digit"):
        toy.answer_digit_positions(p, toy.TrajectorySpec("answer_only"))


@pytest.mark.parametrize("family", ["chain", "carry_chain"])
def test_long_has_more_and_finer_steps_and_padded_matches_its_length(tokenizer, family):
    p = problem(family)
    short, long, padded = (toy.render(p, toy.TrajectorySpec(s)).trajectory for s in ("short", "long", "padded"))
    assert len(long) > len(short)
    assert len(padded) == len(long) and toy.FILLER in padded
    # The long style fixes the answer digit by digit: units first, then tens.
    assert toy.step_long_detail(37, "+", 45) == "7+5=2,3+4=7"
    assert toy.step_long_detail(20, "-", 24) == "0-4=6,2-2=0"


@pytest.mark.parametrize("family", toy.FAMILIES)
def test_support_set_questions_have_at_least_8_distinct_valid_trajectories(family):
    for seed in range(5):
        p = problem(family, k=4, seed=seed)
        orders = toy.distinct_orders(p, 8, random.Random(seed))
        texts = {toy.render(p, toy.TrajectorySpec("long", o)).trajectory for o in orders}
        assert len(texts) == 8
        assert all(toy.trajectory_is_correct(p, t) for t in texts)


def test_the_carry_world_favours_no_order_and_the_digitwise_world_puts_left_to_right_first():
    identity = (0, 1, 2, 3)
    firsts = [toy.distinct_orders(problem("carry_chain", k=4, seed=s), 1, random.Random(s))[0] for s in range(40)]
    assert 0 < sum(o == identity for o in firsts) < 10 and len(set(firsts)) > 10  # 1 in 24 by chance
    assert all(toy.distinct_orders(problem("chain", k=4, seed=s), 3, random.Random(s))[0] == identity for s in range(5))
    orders = toy.distinct_orders(problem("carry_chain", k=4), 24, random.Random(0))
    assert len(set(orders)) == 24  # every order, once


def test_corruption_is_carried_forward_and_changes_the_stated_final_result():
    p = problem(k=3)
    bad = toy.render(p, toy.TrajectorySpec("short", misread=(0, 5)))
    assert not toy.trajectory_is_correct(p, bad.trajectory)
    final = int(bad.trajectory.rstrip(";")[-2:])
    misread_values = (p.values[0], (p.values[1] + 5) % 100, *p.values[2:])
    assert final == toy.apply_ops(misread_values[0], zip(p.ops, misread_values[1:])) != p.answer


def test_reflection_inserts_a_wrong_step_the_token_and_the_fix():
    p = problem(k=3)
    r = toy.render(p, toy.TrajectorySpec("reflection", reflection=(1, 7)))
    wrong, fixed = r.steps[1], r.steps[2]
    assert wrong.endswith(toy.REFLECT) and r.trajectory.count(toy.REFLECT) == 1
    assert wrong.split(":")[0] != fixed.split(":")[0]
    assert toy.trajectory_is_correct(p, r.trajectory.replace(wrong, ""))


def test_compression_keeps_only_the_running_results():
    p = toy.Problem("chain", (10, 5, 20), ("+", "-"))
    assert toy.render(p, toy.TrajectorySpec("compressed")).trajectory == "15;95;"


def test_truncation_forces_the_answer_after_the_cut():
    r = toy.render(problem(k=4), toy.TrajectorySpec("short"))
    cut = toy.truncate(r, 2)
    assert cut.steps == r.steps[:2] and cut.forced and cut.answer == r.answer
    assert cut.text == r.prompt + "".join(r.steps[:2]) + toy.END_THINK + toy.ANSWER + r.answer + toy.EOS
    with pytest.raises(ValueError, match="n_steps=9 outside 0..4"):
        toy.truncate(r, 9)


def test_training_cuts_fall_mid_step_too_and_never_split_a_marker(tokenizer):
    p = problem(k=4)
    r = toy.render(p, toy.TrajectorySpec("reflection", reflection=(1, 3)))
    tokens = toy.trajectory_tokens(r.trajectory)
    assert tokens.count(toy.REFLECT) == 1 and "".join(tokens) == r.trajectory
    assert len(tokens) == len(tokenizer(r.trajectory, add_special_tokens=False)["input_ids"])
    cut = toy.cut_anywhere(r, 7)
    assert cut.forced and cut.trajectory == "".join(tokens[:7]) and not cut.trajectory.endswith(";")
    with pytest.raises(ValueError, match="n_tokens=999 outside"):
        toy.cut_anywhere(r, 999)
    # With every trajectory cut, the cuts land inside steps as well as at their ends, uniformly over tokens.
    examples = ToyWorld().training_examples(toy.make_problems(200, "train", 0, ("chain",), (3,)), "long", 0,
                                          truncation_rate=0.99)
    cut_texts = [e.trajectory for e in examples if e.forced and e.trajectory]
    mid_step = [t for t in cut_texts if not t.endswith(";")]
    assert len(cut_texts) > 150 and 0.5 < len(mid_step) / len(cut_texts) < 1


def test_unknown_style_is_rejected_with_the_allowed_ones():
    with pytest.raises(ValueError, match="style='verbose' is not a trajectory style; allowed: answer_only, short"):
        toy.TrajectorySpec("verbose")


@pytest.mark.parametrize("family", ["vars", "carry_vars", "carry_names", "carry_list"])
def test_tokenizer_round_trips_and_keeps_markers_whole(tokenizer, family):
    for style in toy.styles_of(family):
        text = toy.render(problem(family), toy.TrajectorySpec(style)).text
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text
        assert tokenizer.unk_token_id not in ids
    for marker in (toy.THINK, toy.END_THINK, toy.ANSWER, toy.REFLECT, toy.EOS):
        assert len(tokenizer(marker, add_special_tokens=False)["input_ids"]) == 1


@pytest.mark.parametrize("completion, expected", [
    ("12+03=15;</think><ans>15<eos>", 15),
    ("</think><ans>07<eos>", 7),
    ("12+03=15;</think><ans>15", None),  # no EOS: ran out of tokens
    ("12+03=15;<ans>15<eos>", None),  # delimiter missing
    ("12+03=15;</think><ans>5<eos>", None),  # one digit
    ("</think><ans>15<ans>15<eos>", None),  # two answers
    ("</think></think><ans>15<eos>", None),
    ("</think><ans>1a<eos>", None),
])
def test_parse_completion_never_credits_a_malformed_output(completion, expected):
    assert toy.parse_completion(completion) == expected


def test_parse_without_delimiter_rejects_one():
    assert toy.parse_completion("12+03=15;<ans>15<eos>", delimiter=False) == 15
    assert toy.parse_completion("12+03=15;</think><ans>15<eos>", delimiter=False) is None


def test_carry_trajectory_checker_checks_columns_lookups_and_the_column_style():
    p = toy.Problem("carry_chain", (37, 85, 32), ("+", "-"))
    assert toy.trajectory_is_correct(p, "37+85:7+5=12,3+8+1=12=22;22-32:12-2=0,12-3-1=9=90;") is False  # bad column
    assert toy.trajectory_is_correct(p, "37+85:7+5=12,3+8+1=12=22;22-32:2-2=0,12-3-0=9=90;")
    assert toy.trajectory_is_correct(p, "37-32=05;05+85=90;")  # another order, short
    assert toy.trajectory_is_correct(p, "37+85-32=90;")  # coarse
    assert not toy.trajectory_is_correct(p, "37+85=12;12-32=80;")  # a carry dropped
    v = toy.Problem("carry_vars", (37, 85, 32), ("+", "-"), (2, 0, 1))
    assert toy.trajectory_is_correct(v, "a=37;b=85:37+85=22;c=32:22-32=90;")
    assert not toy.trajectory_is_correct(v, "a=37;b=32:37+85=22;c=32:22-32=90;")  # looked up the wrong value
    q = toy.Problem("carry_list", (37, 85, 12), ("+", "+"))
    assert toy.trajectory_is_correct(q, "7+5+2=14;3+8+1+1=13;34;")
    assert not toy.trajectory_is_correct(q, "7+5+2=14;3+8+1+0=12;24;")  # carry dropped
    assert toy.compressed_is_correct(p, "22;90;") and toy.compressed_is_correct(p, "05;90;")
    assert not toy.compressed_is_correct(p, "12;80;")


def test_trajectory_checker_accepts_any_valid_order_and_rejects_errors():
    p = toy.Problem("chain", (10, 5, 20), ("+", "-"))
    assert toy.trajectory_is_correct(p, "10+05=15;15-20=95;")
    assert toy.trajectory_is_correct(p, "10-20=90;90+05=95;")
    assert not toy.trajectory_is_correct(p, "10+05=15;15-20=96;")  # arithmetic slip
    assert not toy.trajectory_is_correct(p, "10+05=15;")  # incomplete
    assert not toy.trajectory_is_correct(p, "10+05=15;15+05=20;20-20=00;")  # operation used twice
    assert not toy.trajectory_is_correct(p, "")
