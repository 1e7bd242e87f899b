"""Efficient reasoning (claim C10): answers forced after a given trajectory, budget forcing, tokens generated.

Every arm answers the same unseen questions; what differs is where its trajectory comes from:

- ``long``: the long-trajectory SFT model (notebook 02's arm) writes its own full trajectory;
- ``long_no_trajectory``: the same model, its answer forced right after the question;
- ``long_reads_compressed``: the same model reads the question's compressed trajectory (in the profile's
  ``efficiency.compressed_style``, teacher-forced: it generates none of it), then its answer is forced;
- ``long_budget_B``: the same model writes at most B trajectory tokens; if it has not stopped thinking by
  then, the trajectory is cut there and the answer forced (budget forcing);
- ``compressed``: a model SFT'd on compressed trajectories of the same questions, writing its own: ``compressed``
  (the running results only, ``82;69;``) or, in the carry world, ``compressed_ops`` (each step's operation and
  result, ``+45=82;-13=69;``: params/claims.yaml, the fourth amendment);
- ``answer_only``: notebook 02's answer-only SFT arm.

An answer is forced with the world's shared transform (``force_answer``): the trajectory is followed by the
end-of-thinking delimiter and the answer marker, and the model writes the answer and the end.
Tokens are counted as the paper's compute would be: only the trajectory tokens the model generated itself;
teacher-forced tokens are reported separately, as read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .evaluation import EvalResult, score, world_of_problems
from .experiment import (eval_config, load_eval, load_run_model, make_missing, save_eval, scores, sft_job, store_of,
                         test_set)
from .params import EvalParams, Profile
from .sampling import generate
from .stats import bootstrap_paired_diff
from .training import TrainJob
from .worlds import World, toy

SFT_ARMS = ("long", "compressed", "answer_only")  # trained arms; every one from the same questions, steps, seeds
SOURCE = "long"  # the model whose trajectories are compressed, cut or skipped
ANSWER_TEXT_TOKENS = {"toy": 3, "llm": 12}  # what a model writes after a forced suffix: toy, two digits and <eos>;
# LLM, the answer's digits (one token each in SmolLM2's vocabulary), "}" and the end token


def forced_arms(budgets) -> tuple[str, ...]:
    """Returns the names of the arms answered by the long model with a forced answer, budgets ascending."""
    return (f"{SOURCE}_no_trajectory", f"{SOURCE}_reads_compressed", *(f"{SOURCE}_budget_{b}" for b in sorted(budgets)))


def sft_jobs(profile: Profile) -> dict[tuple[str, int], TrainJob]:
    """Returns the SFT job of every (arm, seed): ``experiment.sft_job`` with only the trajectory style changed (the
    ``compressed`` arm's is ``efficiency.compressed_style``).

    The ``long`` and ``answer_only`` jobs are notebook 02's (same cache keys), so they are trained once.
    """
    return {(arm, seed): sft_job(profile, arm_style(profile, arm), seed) for arm in SFT_ARMS for seed in profile.seeds}


def arm_style(profile: Profile, arm: str) -> str:
    """Returns the trajectory style an SFT arm trains on: its name, but ``efficiency.compressed_style`` for the
    compressed arm."""
    return profile.efficiency.compressed_style if arm == "compressed" else arm


# --- the transforms ------------------------------------------------------------------------------


def compressed_trajectory(world: World, problem, style: str) -> str:
    """Returns the question's compressed trajectory in ``style``: ``compressed``, only the running result of each
    step (toy: ``72;95;``); ``compressed_ops``, each step's operation and result (``+45=72;+23=95;``)."""
    return world.render(problem, toy.TrajectorySpec(style)).trajectory


def running_results(trajectory: str) -> list[int]:
    """Returns the running result each step of a short, long, padded or compressed (either) trajectory ends with
    (a ``vars`` trajectory's opening lookup ``a=12;`` is not a step)."""
    return [int(v) for v in re.findall(r"(?<![a-j]=)(\d\d);", trajectory)]


def forced_context(world: World, problem, trajectory: str) -> str:
    """Returns the text the model continues when its answer is forced after ``trajectory``: question, <think>,
    the trajectory, the end-of-thinking delimiter and the answer marker (``world.force_answer``)."""
    forced = world.force_answer(world.render(problem), trajectory)
    return forced.prompt + forced.trajectory + forced.suffix


def forced_completion(world: World, problem, trajectory: str, answer_text: str) -> str:
    """Returns the completion of a forced answer: ``trajectory``, the forced suffix, then what the model wrote."""
    forced = world.force_answer(world.render(problem), trajectory)
    return forced.trajectory + forced.suffix + answer_text


def n_tokens(tokenizer, text: str) -> int:
    """Returns the number of tokens of ``text`` (no special tokens added)."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def budget_cut(world: World, tokenizer, completion: str, budget: int) -> tuple[str, bool]:
    """Returns (trajectory, stopped) for a completion the model wrote under a budget of ``budget`` tokens.

    ``stopped`` is True when the model ended its trajectory by itself within the budget (wrote the delimiter,
    the answer marker or the end token): its own completion then stands. Otherwise ``trajectory`` is its first
    ``budget`` tokens, after which the answer is forced.
    """
    trajectory = world.trajectory_of(completion)
    ids = tokenizer(trajectory, add_special_tokens=False)["input_ids"]
    ended = trajectory != completion or completion.endswith(world.eos)
    if ended and len(ids) <= budget:
        return trajectory, True
    return tokenizer.decode(ids[:budget], skip_special_tokens=False), False


# --- forced-answer evaluation ------------------------------------------------------------------


def answer_after(world: World, model, tokenizer, problems: list, trajectories: list[str], params: EvalParams,
                 greedy: bool, seed: int = 0) -> list[str]:
    """Returns one completion per (problem, trajectory) pair: the trajectory, the forced suffix, the model's answer.

    The answer is greedy or one sample at ``params.temperature`` (``sampling.generate``).
    """
    if not problems:
        return []
    contexts = [forced_context(world, p, t) for p, t in zip(problems, trajectories)]
    answers = generate(model, tokenizer, contexts, greedy=greedy, temperature=params.temperature,
                       max_new_tokens=ANSWER_TEXT_TOKENS[world.kind], batch_size=params.batch_size, seed=seed)
    return [forced_completion(world, p, t, a[0]) for p, t, a in zip(problems, trajectories, answers)]


def _repeat(items: list, n: int) -> list:
    return [x for x in items for _ in range(n)]


def _rows(flat: list, n: int) -> list[list]:
    return [flat[i * n:(i + 1) * n] for i in range(len(flat) // n)]


def under_budget(world: World, model, tokenizer, problems: list, own: list[str], budget: int, params: EvalParams,
                 greedy: bool, seed: int = 0) -> tuple[list[str], list[int]]:
    """Returns (completions, generated trajectory tokens) of budget forcing at ``budget`` tokens.

    ``own[i]`` is the model's own completion of ``problems[i]``, generated with room for ``budget`` trajectory
    tokens and its answer. Where the model stopped thinking within the budget, its completion stands; elsewhere
    its trajectory is cut after ``budget`` tokens and the answer forced (greedy, or one sample).
    """
    cuts = [budget_cut(world, tokenizer, c, budget) for c in own]
    forced = [i for i, (_, stopped) in enumerate(cuts) if not stopped]
    answered = answer_after(world, model, tokenizer, [problems[i] for i in forced], [cuts[i][0] for i in forced],
                            params, greedy=greedy, seed=seed)
    completions = list(own)
    for i, completion in zip(forced, answered):
        completions[i] = completion
    return completions, [n_tokens(tokenizer, trajectory) for trajectory, _ in cuts]


def evaluate_forced(model, tokenizer, problems: list, params: EvalParams, budgets, compressed_style: str,
                    seed: int = 0) -> dict[str, EvalResult]:
    """Returns the ``EvalResult`` of every forced arm of ``forced_arms(budgets)`` for one model.

    Greedy accuracy from greedy trajectories and answers; Pass@k from ``params.n_samples`` samples per
    question, each a sampled trajectory (where the arm has one) followed by a sampled answer.
    ``sample_trajectory_tokens`` counts the trajectory tokens the model generated: 0 where it was given. The
    ``long_reads_compressed`` arm reads the compressed trajectory in ``compressed_style``.
    """
    world = world_of_problems(problems, tokenizer)
    n, (Q, arms) = params.n_samples, (len(problems), forced_arms(budgets))
    out = {}
    given = {arms[0]: ["" for _ in problems],
             arms[1]: [compressed_trajectory(world, p, compressed_style) for p in problems]}
    for arm, trajectories in given.items():
        greedy = answer_after(world, model, tokenizer, problems, trajectories, params, greedy=True, seed=seed)
        samples = answer_after(world, model, tokenizer, _repeat(problems, n), _repeat(trajectories, n), params,
                               greedy=False, seed=seed)
        out[arm] = score(world, problems, greedy, _rows(samples, n), np.zeros((Q, n), dtype=int))

    # One generation at the largest budget serves every budget: the first B tokens of a sample are a sample
    # of B tokens, so the budgets are nested (paired) cuts of the same trajectories.
    prompts = [world.prompt(p) for p in problems]
    suffix = world.render(problems[0]).suffix
    room = max(budgets) + n_tokens(tokenizer, suffix) + ANSWER_TEXT_TOKENS[world.kind]  # its own answer fits
    kwargs = dict(max_new_tokens=room, batch_size=params.batch_size, seed=seed)
    own_greedy = [c[0] for c in generate(model, tokenizer, prompts, greedy=True, **kwargs)]
    own_samples = [c for row in generate(model, tokenizer, prompts, n_samples=n, temperature=params.temperature,
                                         **kwargs) for c in row]
    for budget, arm in zip(sorted(budgets), arms[2:]):
        greedy, _ = under_budget(world, model, tokenizer, problems, own_greedy, budget, params, greedy=True,
                                 seed=seed)
        samples, tokens = under_budget(world, model, tokenizer, _repeat(problems, n), own_samples, budget, params,
                                       greedy=False, seed=seed)
        out[arm] = score(world, problems, greedy, _rows(samples, n), np.reshape(tokens, (Q, n)))
    return out


def teacher_forced_tokens(world: World, tokenizer, problems: list, style: str) -> np.ndarray:
    """Returns the (Q,) tokens of each question's compressed trajectory (in ``style``): read by
    ``long_reads_compressed``, never generated by it."""
    return np.array([n_tokens(tokenizer, compressed_trajectory(world, p, style)) for p in problems])


# --- cached, in parallel processes ---------------------------------------------------------------


def _forced_config(profile: Profile, model_dir: Path, set_name: str) -> dict:
    # The key of the model's ordinary evaluation (model, questions, eval params, sampler), plus the budgets. Forced
    # answers continue a given text token by token: always sampling.generate, whatever backend evaluations use.
    config = {**eval_config(profile, model_dir, set_name, True), "budgets": sorted(profile.efficiency.budgets),
              "what": "forced_answers"}
    style = profile.efficiency.compressed_style  # in the key only where it is not the first studies' style
    return config | ({"backend": "transformers"} if "backend" in config else {}) \
        | ({"compressed_style": style} if style != "compressed" else {})


def _evaluate_forced_cached(profile: Profile, model_dir: str, set_name: str) -> str:
    def make(tmp: Path) -> None:

        model, tokenizer = load_run_model(profile, model_dir, "sample")  # one process per model, as evaluations run
        results = evaluate_forced(model, tokenizer, test_set(profile, set_name), profile.eval,
                                  profile.efficiency.budgets, profile.efficiency.compressed_style)
        for arm, result in results.items():
            save_eval(result, tmp / arm)
        (tmp / "arms.json").write_text(json.dumps(list(results)))

    config = _forced_config(profile, Path(model_dir), set_name)
    return str(store_of(profile).get_or_make("samples", config, make))


def evaluate_forced_models(profile: Profile, model_dirs: list[Path], set_name: str = "in_domain",
                           desc: str = "forced answers") -> list[dict[str, EvalResult]]:
    """Returns, per model, the ``EvalResult`` of each forced arm on a test set; cached, the missing ones computed
    in ``profile.workers`` parallel single-thread processes (as ``experiment.evaluate_models`` does)."""
    configs = [_forced_config(profile, d, set_name) for d in model_dirs]
    make_missing(profile, _evaluate_forced_cached, model_dirs, configs, desc, set_name)
    store = store_of(profile)
    out = []
    for c in configs:
        path = store.path("samples", c)
        out.append({arm: load_eval(path / arm) for arm in json.loads((path / "arms.json").read_text())})
    return out


# --- tables for the notebook ---------------------------------------------------------------------


def arm_examples(world: World, tokenizer, problem, budgets, compressed_style: str) -> "pd.DataFrame":
    """Returns what each arm of the long model reads or writes on one question, with its generated-token count
    (the compressed trajectory in ``compressed_style``).

    The budget rows cut the reference long trajectory (the model's own one is cut the same way).
    """
    reference = world.render(problem)
    long = reference.trajectory
    rows = [{"arm": SOURCE, "text": reference.text, "tokens generated": n_tokens(tokenizer, long)},
            {"arm": f"{SOURCE}_no_trajectory", "text": forced_context(world, problem, "") + "[answer]",
             "tokens generated": 0},
            {"arm": f"{SOURCE}_reads_compressed",
             "text": forced_context(world, problem, compressed_trajectory(world, problem, compressed_style))
             + "[answer]",
             "tokens generated": 0}]
    for b in sorted(budgets):
        cut, _ = budget_cut(world, tokenizer, long + reference.suffix, b)
        rows.append({"arm": f"{SOURCE}_budget_{b}", "text": forced_context(world, problem, cut) + "[answer]",
                     "tokens generated": n_tokens(tokenizer, cut)})
    rows.append({"arm": "compressed (SFT)", "text": world.render(problem, toy.TrajectorySpec(compressed_style)).text,
                 "tokens generated": n_tokens(tokenizer, compressed_trajectory(world, problem, compressed_style))})
    rows.append({"arm": "answer_only (SFT)", "text": world.render(problem, toy.TrajectorySpec("answer_only")).text,
                 "tokens generated": 0})
    return pd.DataFrame(rows).set_index("arm")


def greedy_trajectory_rate(world: World, problems: list, result: EvalResult, style: str) -> float:
    """Returns the share of greedy completions with the right answer after a correct trajectory of ``style``
    (``compressed``, ``compressed_ops``: ``world.compressed_is_correct`` in exactly that style; others:
    ``world.trajectory_is_correct``)."""
    def check(p, t):
        return world.compressed_is_correct(p, t, style) if style.startswith("compressed") \
            else world.trajectory_is_correct(p, t)

    ok = [bool(right) and check(p, world.trajectory_of(c))
          for p, c, right in zip(problems, result.greedy_completions, result.greedy_correct)]
    return float(np.mean(ok))


def gain_kept(frame, contrasts: list[tuple[str, str, str]], metric: str = "pass_at_k") -> "pd.DataFrame":
    """Returns, per (arm, floor, ceiling): how much of the ceiling's gain over the floor the arm keeps, at what
    share of the ceiling's generated tokens.

    Columns: the arm's gain over the floor and the ceiling's, each a paired difference of ``metric`` with its
    95% bootstrap CI over seeds x questions (``stats.bootstrap_paired_diff``); ``share_of_gain`` (their ratio,
    a point estimate) and ``share_of_tokens`` (mean generated trajectory tokens, arm / ceiling).
    """
    rows = []
    for arm, floor, ceiling in contrasts:
        base = scores(frame, floor, metric)
        gain = bootstrap_paired_diff(scores(frame, arm, metric), base)
        full = bootstrap_paired_diff(scores(frame, ceiling, metric), base)
        tokens = frame.groupby("arm")["mean_trajectory_tokens"].mean()
        rows.append({"arm": arm, "floor": floor, "ceiling": ceiling, "metric": metric,
                     "gain": gain["effect"], "gain_lo": gain["lo"], "gain_hi": gain["hi"],
                     "ceiling_gain": full["effect"], "ceiling_gain_lo": full["lo"], "ceiling_gain_hi": full["hi"],
                     "share_of_gain": gain["effect"] / full["effect"] if full["effect"] else float("nan"),
                     "share_of_tokens": tokens[arm] / tokens[ceiling] if tokens[ceiling] else float("nan")})
    return pd.DataFrame(rows).set_index("arm")


def gain_sentence(row) -> str:
    """Returns one sentence that states a row of ``gain_kept``: both gains with CIs, the shares of gain and tokens."""
    share = f"{row.share_of_gain:.0%}" if np.isfinite(row.share_of_gain) else "an undefined share (no ceiling gain)"
    return (f"{row.name} - {row.floor} = {row.gain:+.3f} [{row.gain_lo:+.3f}, {row.gain_hi:+.3f}] vs "
            f"{row.ceiling} - {row.floor} = {row.ceiling_gain:+.3f} [{row.ceiling_gain_lo:+.3f}, "
            f"{row.ceiling_gain_hi:+.3f}] ({row.metric}): "
            f"keeps {share} of the gain with {row.share_of_tokens:.0%} of {row.ceiling}'s generated tokens"
            + (" (it generates no trajectory: it reads a teacher-forced one)" if row.share_of_tokens == 0 else ""))
