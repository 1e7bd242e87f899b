"""Notebook 01's bookkeeping around the probe and the fitted path: the rows and summaries it records."""

import numpy as np
import pandas as pd
import pytest

from raml_utils import pseudo_gradient
from raml_utils.landscape import Path, PathProjection, Plane


def a_path() -> Path:
    return Path(cuts=[0, 3, 6], displacements=np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]),
                answer_loss=np.array([2.0, 1.5, 0.5]), target_lhat=np.array([2.0, 1.4, 0.4]),
                fit_kl=np.array([0.0, 0.01, 0.02]), names=["w"], shapes=[(2,)])


def test_path_points_one_row_per_cut_with_position_and_norm():
    rows = pseudo_gradient.path_points(seed=2, question=1, path=a_path(), cuts=[0, 3, 6])
    assert [r["point"] for r in rows] == [0, 1, 2]
    assert [r["position"] for r in rows] == [0.0, 0.5, 1.0]  # share of the trajectory's tokens
    assert [r["displacement_norm"] for r in rows] == [0.0, 5.0, 10.0]
    assert [r["answer_loss"] for r in rows] == [2.0, 1.5, 0.5]
    assert all(r["seed"] == 2 and r["question"] == 1 for r in rows)


def test_plane_and_path_summaries_read_the_centre_and_the_path_ends():
    loss = np.arange(25, dtype=float).reshape(5, 5)
    plane = Plane(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5), loss, extra_bytes=2**21, param_bytes=2**20)
    summary = pseudo_gradient.plane_summary(plane, 5, restored_exactly=True)
    assert summary == {"loss_at_theta": 12.0, "loss_min": 0.0, "loss_max": 24.0, "extra_mib": 2.0, "param_mib": 1.0,
                       "restored_bit_exactly": True}
    ends = pd.DataFrame({"start": [2.0, 4.0], "end": [1.0, 2.0], "target_end": [0.5, 1.5], "kl_end": [0.1, 0.3]})
    projection = PathProjection(coords=np.zeros((3, 2)), explained=np.array([0.75, 0.25]), null_explained=0.5,
                                plane=plane)
    path = pseudo_gradient.path_summary(ends, projection)
    assert path["start_loss"] == 3.0 and path["end_loss"] == 1.5 and path["end_fit_kl"] == pytest.approx(0.2)
    assert path["explained_top2"] == [0.75, 0.25] and path["null_explained_top2"] == 0.5


def test_llm_table_and_summary():
    frame = pd.DataFrame({"arm": ["correct", "corrupted", "correct", "corrupted"], "question": [0, 0, 1, 1],
                          "tokens": [10, 10, 20, 20], "lhat_start": [3.0, 3.0, 2.0, 2.0],
                          "lhat_end": [1.0, 2.0, 0.0, 2.0], "lhat_drop": [2.0, 1.0, 2.0, 0.0],
                          "pre_answer_drop": [0.5, 0.1, np.nan, np.nan], "falls": [True, False, True, False]})
    table = pseudo_gradient.llm_arm_table(frame)
    assert list(table.index) == ["correct", "corrupted"] and list(table.columns) == pseudo_gradient.LLM_COLUMNS
    assert table.loc["correct", "lhat_drop"] == 2.0 and table.loc["corrupted", "falls"] == 0.0
    summary = pseudo_gradient.llm_summary([("p0", "c0"), ("p1", "c1")], frame, table)
    assert summary["problems"] == 2 and summary["share_with_answer_written"] == 0.5
    assert [a["arm"] for a in summary["arms"]] == ["correct", "corrupted"]
