"""Notebook 01 (claim C1): L-hat along the four kinds of trajectory of one trained model, and SmolLM2's.

``correct``: the reference trajectory; ``corrupted``: one operand misread, the error carried forward
(``corrupted_spec``); ``sampled_correct`` / ``sampled_incorrect``: the model's own samples with a correct
trajectory and answer, or a wrong answer. Every curve is ``probe.inner_loop_curve``; each model's rows are cached.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd

from . import experiment, probe
from .evaluation import world_of_problems
from .stats import bootstrap_mean
from .worlds import toy

ARMS = ("correct", "corrupted", "sampled_correct", "sampled_incorrect")


def corrupted_spec(problem, rng, max_delta: int):
    """Returns a ``TrajectorySpec`` that misreads one operand (never the last step's) by 1..max_delta, carried
    forward (the LLM world's gsm solutions: the first computed result, see ``llm_tasks.solution_steps``)."""
    return toy.TrajectorySpec("long", misread=(rng.randrange(max(1, problem.k - 1)), rng.randint(1, max_delta)))


def _record(arm: str, question: int, sample: int, item: probe.ProbeInput, curve: np.ndarray, params) -> dict:
    summary = probe.curve_summary(curve, item, params.fall_threshold)
    return {"arm": arm, "question": question, "sample": sample, **summary,
            "curve": probe.on_grid(curve, params.curve_points).tolist()}


def c1_rows(model, tokenizer, problems, params, eval_params, seed: int) -> list[dict]:
    """Returns one row per probed trajectory of ``model``: the four C1 arms on ``problems`` (either world).

    ``correct``: the long-style reference trajectory; ``corrupted``: the same with one operand misread
    and the error carried forward (``corrupted_spec``); ``sampled_*``: the model's own samples at
    temperature ``eval_params.temperature``, split by whether the answer is right (and, for correct ones,
    every step too). Every curve scores the true answer.
    """
    world = world_of_problems(problems, tokenizer)
    rng = random.Random(f"corrupt:{seed}")
    rows = []
    for q, p in enumerate(problems):
        max_delta = min(params.corrupt_max_delta, world.max_step_error)  # LLM world: a count off by 1..9
        for arm, spec in (("correct", toy.TrajectorySpec("long")), ("corrupted", corrupted_spec(p, rng, max_delta))):
            try:
                rendered = world.render(p, spec)
            except ValueError:  # a gsm solution that cannot be corrupted consistently: no corrupted arm for it
                continue
            item = probe.rendered_probe_input(tokenizer, rendered, mark_answer=world.kind == "llm")
            rows.append(_record(arm, q, 0, item, probe.inner_loop_curve(model, item), params))
    for q, s, completion, item in probe.sampled_items(model, tokenizer, problems, params.n_samples, eval_params, seed):
        p = problems[q]
        if not item.trajectory:
            continue
        right = world.is_correct(p, world.parse_completion(completion))
        arm = "sampled_correct" if right and world.trajectory_is_correct(p, world.trajectory_of(completion)) else \
            "sampled_incorrect" if not right else None
        if arm is None:  # right answer after a wrong trajectory: neither arm
            continue
        rows.append(_record(arm, q, s, item, probe.inner_loop_curve(model, item), params))
    return rows


def c1_frame(profile, model_dir, seed: int, problems):
    """Returns the C1 rows of the model in ``model_dir`` (trained with ``seed``) as a DataFrame, cached."""
    params = profile.pseudo_gradient
    config = {"model": Path(model_dir).name, "problems": [p.key for p in problems], "params": params,
              "eval": profile.eval, "seed": seed, "what": f"{profile.world.kind}_c1", **experiment.device_key(profile)}

    def make_rows():
        model, tokenizer = experiment.load_run_model(profile, model_dir, "probe")
        return c1_rows(model, tokenizer, problems, params, profile.eval, seed)

    return pd.DataFrame(experiment.cached_records(profile, config, make_rows, name="rows.json")).assign(seed=seed)


def llm_c1_frame(profile, pairs):
    """Returns the C1 rows of SmolLM2-135M-Instruct on ``pairs`` (``llm.probe_problems``: a worked solution and its
    corrupted copy each) as a DataFrame, cached."""
    config = {"what": "llm_c1", "solutions": [[p.solution, c] for p, c in pairs], "params": profile.pseudo_gradient}
    rows = experiment.smollm2_records(profile, config, lambda model, tokenizer: llm_probe_rows(model, tokenizer, pairs,
                                                                                    profile.pseudo_gradient))
    return pd.DataFrame(rows).assign(seed=0)


def arm_table(frame) -> "pd.DataFrame":
    """Returns per arm: trajectories, mean drop with a 95% bootstrap interval over seeds x questions, share falling,
    shape of the fall."""
    rows = []
    for arm, g in frame.groupby("arm", sort=False):
        grid = g.pivot_table(index="seed", columns="question", values="lhat_drop", aggfunc="mean")
        if grid.isna().to_numpy().any():  # seeds probed different questions (their own samples): resample seeds
            grid = g.groupby("seed")[["lhat_drop"]].mean()
        mean, lo, hi = bootstrap_mean(grid.to_numpy())  # (seeds, questions) or (seeds, 1)
        rows.append({"arm": arm, "trajectories": len(g), "lhat_start": g.lhat_start.mean(), "lhat_end": g.lhat_end.mean(),
                     "lhat_drop": mean, "drop_lo": lo, "drop_hi": hi, "share_falling": g.falls.mean(),
                     "share_of_drop_before_last_step": g.share_before_last_step.mean(),
                     "peak_above_start": g.peak_above_start.mean()})
    return pd.DataFrame(rows).set_index("arm")


def llm_probe_rows(model, tokenizer, pairs, params) -> list[dict]:
    """Returns one row per (problem, arm) of the LLM probe: the worked solution and its corrupted copy.

    Both curves score the true answer; ``pre_answer_drop`` is the fall before the solution first writes
    its own final number, where copying cannot explain it.
    """
    rows = []
    for q, (problem, corrupted) in enumerate(pairs):
        for arm, solution in (("correct", problem.solution), ("corrupted", corrupted)):
            item = probe.solution_probe_input(tokenizer, problem, solution)
            rows.append(_record(arm, q, 0, item, probe.inner_loop_curve(model, item), params))
    return rows


LLM_COLUMNS = ["tokens", "lhat_start", "lhat_end", "lhat_drop", "pre_answer_drop", "falls"]


def llm_arm_table(frame) -> "pd.DataFrame":
    """Returns the LLM probe's means per arm (correct, corrupted): tokens, L-hat at start and end, its drop, the drop
    before the answer is first written, the share of falling curves."""
    return frame.groupby("arm", sort=False)[LLM_COLUMNS].mean()


def llm_summary(pairs, frame, table) -> dict:
    """Returns what notebook 01 records of the LLM probe: the number of problems, the per-arm means (``table``) and
    the share of solutions whose final number is written (where ``pre_answer_drop`` is defined)."""
    return {"problems": len(pairs), "arms": table.reset_index().to_dict(orient="records"),
            "share_with_answer_written": float(frame.pre_answer_drop.notna().mean())}


def path_points(seed: int, question: int, path, cuts: list[int]) -> list[dict]:
    """Returns one row per point of a path fitted by ``landscape.fit_path`` on one question's trajectory cut at
    ``cuts``: where it cuts the trajectory (share of its tokens), the answer loss *without* the trajectory at that
    displacement, the with-prefix L-hat it imitates, the fit's KL and the displacement's norm."""
    norms = np.linalg.norm(path.displacements, axis=1)
    return [{"seed": seed, "question": question, "point": i, "position": cut / cuts[-1],
             "answer_loss": path.answer_loss[i], "target_lhat": path.target_lhat[i], "fit_kl": path.fit_kl[i],
             "displacement_norm": norms[i]} for i, cut in enumerate(cuts)]


def plane_summary(plane, grid: int, restored_exactly: bool) -> dict:
    """Returns what notebook 01 records of Li et al.'s random plane (``landscape.loss_plane`` on a ``grid`` x ``grid``
    grid): the loss at theta (the centre), its range, the memory it took and whether the weights came back exactly."""
    return {"loss_at_theta": float(plane.loss[grid // 2, grid // 2]),
            "loss_min": float(plane.loss.min()), "loss_max": float(plane.loss.max()),
            "extra_mib": plane.extra_bytes / 2**20, "param_mib": plane.param_bytes / 2**20,
            "restored_bit_exactly": restored_exactly}


def path_summary(ends, projection) -> dict:
    """Returns what notebook 01 records of the fitted paths: the mean answer loss at their start and end, the L-hat
    the end imitates, the end's fit KL (``ends``: one row per seed and question), and the variance the path's top-2
    principal directions explain, against orthogonal steps of the same lengths (``projection``)."""
    return {"start_loss": float(ends.start.mean()), "end_loss": float(ends.end.mean()),
            "target_end_lhat": float(ends.target_end.mean()), "end_fit_kl": float(ends.kl_end.mean()),
            "explained_top2": [float(x) for x in projection.explained],
            "null_explained_top2": projection.null_explained}
