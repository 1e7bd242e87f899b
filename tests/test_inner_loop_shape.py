"""C1's shape contrast: the pre-write share on curves whose shape is known, the column-mix training set, the plan."""

import numpy as np
import pytest

from raml_utils import inner_loop_shape as shape
from raml_utils.params import load_profile
from raml_utils.probe import ProbeInput
from raml_utils.results import contrast_plan, extra_primary
from raml_utils.worlds import toy


def item(steps_end=(4, 8, 10)):
    return ProbeInput(prompt=(1,), trajectory=tuple(range(steps_end[-1])), suffix=(2,), answer=(3, 4),
                      step_ends=steps_end)


def test_a_jump_in_the_writing_step_has_share_zero_and_an_earlier_fall_counts():
    T = 10
    written_at = (6, 9)  # tens written in the second step (starts at 4), units in the third (starts at 8)
    curves = np.zeros((T + 1, 2))
    curves[:7, 0] = 2.0  # tens: flat until it is written at token 6, then 0
    curves[:, 1] = np.linspace(2.0, 0.0, T + 1)  # units: a steady fall from the start
    share, digits = shape.pre_write_share(curves, item(), written_at, fall_threshold=0.1)
    assert digits[0] == pytest.approx(0.0)  # read one token into the writing step: still 2.0
    assert digits[1] == pytest.approx(0.9)  # read at prefix 9 = 8 + 1: 90% of the fall already made
    assert share == pytest.approx(0.45)
    assert shape.writing_steps(item(), written_at) == [4, 8]


def test_the_share_is_never_read_past_the_token_before_the_digit_and_needs_a_fall_and_an_earlier_step():
    curves = np.zeros((11, 2))
    curves[:5, 0] = 2.0  # tens written at token 4, the first token of the second step: read at 4, not 5
    curves[:, 1] = 0.05  # units never falls: undefined
    share, digits = shape.pre_write_share(curves, item(), (4, 9), fall_threshold=0.1)
    assert digits[0] == pytest.approx(0.0) and np.isnan(digits[1]) and share == pytest.approx(0.0)
    curves[:, 1] = np.linspace(2.0, 0.0, 11)  # a digit written by the first step has no earlier step: undefined
    share, digits = shape.pre_write_share(curves, item(), (4, 2), fall_threshold=0.1)
    assert np.isnan(digits[1]) and share == pytest.approx(0.0)


def test_the_mix_writes_list_questions_in_both_styles_and_the_rest_long():
    P = load_profile("smoke")
    examples = shape.shape_job(P, 1).data.examples()
    column = [e for e in examples if e.prompt.startswith("sum(") and e.trajectory.count(":") == 0 and e.steps]
    assert 0.3 < len(column) / sum(e.prompt.startswith("sum(") for e in examples) < 0.7
    assert shape.shape_job(P, 1).init == shape.shape_job(P, 2).init and shape.shape_job(P, 1).seed == 1
    assert all(p.family == "carry_list" and p.k in P.world.train_levels for p in shape.shape_problems(P))
    assert shape.applies(P) and not shape.applies(load_profile("cpu_v1"))


def test_both_kinds_are_correct_trajectories_of_the_same_question():
    p = toy.Problem("carry_list", (37, 85, 12), ("+", "+"))
    for spec in shape.SPECS.values():
        assert toy.trajectory_is_correct(p, toy.render(p, spec).trajectory)


def test_the_shape_contrast_is_pre_registered_with_its_own_rule():
    (added,) = extra_primary("C1")
    assert added["metric"] == "pre_write_share" and tuple(added["arms"]) == shape.KINDS
    plan = contrast_plan("C1", "pre_write_share", shape.KINDS)
    assert (plan["direction"], plan["margin"]) == (1, 0.05)
    assert contrast_plan("C1")["metric"] == "lhat_drop" and contrast_plan("C1")["margin"] == 0.1
