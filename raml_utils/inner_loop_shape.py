"""C1's shape contrast (notebook 01): does the answer loss fall *before* a trajectory writes the answer, or only when
it does?

The frozen C1 contrast (correct - corrupted drop of L-hat) is true of any model that reads its trajectory. Its
shape says more. In the carry world a list question can be worked two ways, both correct:

- ``op_by_op``: the long style, one operation after another; the answer is fixed only by the last step;
- ``column``: the list added column by column; the first column fixes the answer's units digit, the second (with
  the first's carry) its tens digit.

One model reads both: SFT from the base on the fine-tuning questions, every ``carry_list`` question written in the
column style half the time (``ColumnMixData``), else long. For each answer digit j, L_j(i) is that digit's loss
after the first i trajectory tokens (the other digit teacher-forced). The pre-registered metric (``claims.yaml``,
``extra_primary``) is ``pre_write_share``: the share of each digit's fall L_j(0) - L_j(T) already made one token
into the step that first writes it (for digits an earlier step could have fixed part of: not the column style's
units digit, which its first step writes); read before the digit is written, so copying never counts, and never at
a step boundary. A trajectory whose early steps fix part of the answer can only show an inner loop *descending* here.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .experiment import cached_records, load_run_model, sft_job, test_set
from .probe import ProbeInput, inner_loop_curve, on_grid, rendered_probe_input
from .stats import bootstrap_mean
from .training import SFTData, TrainJob
from .worlds import toy, world_for

KINDS = ("column", "op_by_op")  # the contrast's arms: (a, b)
SPECS = {"column": toy.TrajectorySpec("column"), "op_by_op": toy.TrajectorySpec("long")}


@dataclass(frozen=True)
class ColumnMixData(SFTData):
    """An SFT set whose ``carry_list`` questions are written in the column style a ``column_share`` of the time
    (drawn per question), every other question in ``style``; otherwise ``SFTData`` (same questions, truncation).

    A subclass rather than a field of ``SFTData``: a new field would change the cache key of every other arm.
    """

    column_share: float = 0.5

    def examples(self, tokenizer=None) -> list[toy.Rendered]:
        world = world_for(self.families, tokenizer)
        rng = random.Random(f"column:{self.question_seed}")
        problems = self.problems()
        in_column = [p.family == "carry_list" and rng.random() < self.column_share for p in problems]
        column = [p for p, c in zip(problems, in_column) if c]
        rest = [p for p, c in zip(problems, in_column) if not c]
        out = []
        for style, chosen in (("column", column), (self.style, rest)):
            out += world.training_examples(chosen, style, self.question_seed, truncation_rate=self.truncation_rate)
        random.Random(f"shuffle:{self.question_seed}").shuffle(out)
        return out


def applies(profile) -> bool:
    """Returns True where the contrast can be run: the carry world with ``carry_list`` among its fine-tuning
    families (the column style exists nowhere else)."""
    return profile.world.kind == "toy" and "carry_list" in profile.world.train_families


def shape_job(profile, seed: int) -> TrainJob:
    """Returns the job of the model both kinds of trajectory are probed on: notebook 02's long arm with its
    ``carry_list`` questions written in the column style half the time."""
    job = sft_job(profile, "long", seed)
    fields = {f.name: getattr(job.data, f.name) for f in dataclasses.fields(job.data)}
    return dataclasses.replace(job, data=ColumnMixData(**fields, column_share=0.5))


def shape_problems(profile) -> list:
    """Returns the probed questions: unseen ``carry_list`` questions at the training levels (the first
    ``pseudo_gradient.n_questions``)."""
    problems = [p for p in test_set(profile, "in_domain") if p.family == "carry_list"
                and p.k in profile.world.train_levels]
    return problems[:profile.pseudo_gradient.n_questions]


def writing_steps(item: ProbeInput, written_at: tuple[int, ...]) -> list[int]:
    """Returns, per answer digit, the trajectory tokens before the step that first writes it: the end of the last
    step that ends before the digit's writing token (0 when the first step writes it)."""
    return [max([e for e in item.step_ends if e <= w], default=0) for w in written_at]


def pre_write_share(curves: np.ndarray, item: ProbeInput, written_at: tuple[int, ...],
                    fall_threshold: float) -> tuple[float, list[float]]:
    """Returns (the trajectory's pre_write_share, each digit's share; NaN where undefined).

    ``curves`` (T + 1, A) holds each answer digit's loss after every prefix (``inner_loop_curve(per_token=True)``);
    a digit's share is (L_j(0) - L_j(b_j + 1)) / (L_j(0) - L_j(T)), with b_j from ``writing_steps``, read no later
    than the token before the digit is written; it is undefined unless the digit's loss falls by more than
    ``fall_threshold`` nats over the trajectory, and for a digit the first step writes (no earlier step to fall
    in). The trajectory's value is the mean over its defined digits.
    """
    shares = []
    for j, (b, w) in enumerate(zip(writing_steps(item, written_at), written_at)):
        fall = curves[0, j] - curves[-1, j]
        read = min(b + 1, w)  # one token into the writing step, never past the token before the digit
        defined = fall > fall_threshold and b > 0
        shares.append(float((curves[0, j] - curves[read, j]) / fall) if defined else float("nan"))
    defined = [x for x in shares if not np.isnan(x)]
    return (float(np.mean(defined)) if defined else float("nan")), shares


def shape_rows(model, tokenizer, problems: list, params) -> list[dict]:
    """Returns one row per (question, kind): pre_write_share, each digit's share and its loss curve on an even grid,
    the digits' writing positions (as fractions of the trajectory) and the mean L-hat curve."""
    world = world_for(("carry_list",), tokenizer)
    rows = []
    for q, p in enumerate(problems):
        for kind, spec in SPECS.items():
            item = rendered_probe_input(tokenizer, world.render(p, spec))
            written_at = toy.answer_digit_positions(p, spec)
            curves = inner_loop_curve(model, item, per_token=True)  # (T + 1, A): tens, units
            share, digit_shares = pre_write_share(curves, item, written_at, params.fall_threshold)
            n = len(item.trajectory)
            rows.append({"kind": kind, "question": q, "k": p.k, "tokens": n, "pre_write_share": share,
                         "tens_share": digit_shares[0], "units_share": digit_shares[1],
                         "tens_written_at": written_at[0] / n, "units_written_at": written_at[1] / n,
                         "curve": on_grid(curves.mean(1), params.curve_points).tolist(),
                         "tens_curve": on_grid(curves[:, 0], params.curve_points).tolist(),
                         "units_curve": on_grid(curves[:, 1], params.curve_points).tolist()})
    return rows


def shape_frame(profile, model_dir, seed: int, problems: list):
    """Returns the shape rows of the model in ``model_dir`` (trained with ``seed``) as a DataFrame, cached in the
    probe store."""
    params = profile.pseudo_gradient
    config = {"what": "c1_shape", "model": Path(model_dir).name, "problems": [p.key for p in problems],
              "fall_threshold": params.fall_threshold, "curve_points": params.curve_points}

    def make_rows():
        model, tokenizer = load_run_model(profile, model_dir, "probe")
        return shape_rows(model, tokenizer, problems, params)

    return pd.DataFrame(cached_records(profile, config, make_rows, name="rows.json")).assign(seed=seed)


def shape_scores(frame) -> tuple[np.ndarray, np.ndarray, int]:
    """Returns the (seeds, questions) pre_write_share of ``column`` and of ``op_by_op``, over the questions where both
    are defined for every seed, and how many questions were left out (no digit's loss fell)."""
    grid = frame.pivot_table(index="seed", columns=["kind", "question"], values="pre_write_share", aggfunc="mean")
    complete = [q for q in frame.question.unique()
                if all(("column", q) in grid and ("op_by_op", q) in grid and grid[(kind, q)].notna().all()
                       for kind in KINDS)]
    pick = lambda kind: grid[[(kind, q) for q in complete]].sort_index().to_numpy()  # noqa: E731
    return pick("column"), pick("op_by_op"), frame.question.nunique() - len(complete)


def kind_table(frame) -> "pd.DataFrame":
    """Returns per kind: trajectories, tokens, pre_write_share (mean and bootstrap CI over seeds x questions), each
    digit's share and where each digit is written (as a fraction of the trajectory)."""
    rows = []
    for kind, g in frame.groupby("kind", sort=False):
        grid = g.pivot_table(index="seed", columns="question", values="pre_write_share", aggfunc="mean")
        defined = grid.dropna(axis=1).to_numpy()
        mean, lo, hi = bootstrap_mean(defined) if defined.size else (float("nan"),) * 3
        rows.append({"kind": kind, "trajectories": len(g), "tokens": g.tokens.mean(), "pre_write_share": mean,
                     "share_lo": lo, "share_hi": hi, "tens_share": g.tens_share.mean(),
                     "units_share": g.units_share.mean(), "tens_written_at": g.tens_written_at.mean(),
                     "units_written_at": g.units_written_at.mean()})
    return pd.DataFrame(rows).set_index("kind").loc[[k for k in KINDS if k in set(frame.kind)]]
