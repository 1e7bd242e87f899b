"""Reflection tokens and the end-of-thinking delimiter (claims C7, C8): the SFT arms and what their probes say.

- **C7** asks whether reading a reflection token (``<wait>`` in the toy world; "Wait", "Alternatively",
  "However", "Hold on" in the LLM world) changes the answer loss L-hat more, relative to its current
  value, than an average token: |L_i - L_{i-1}| / L_{i-1}, where L_i is L-hat after the first i trajectory
  tokens (``probe.inner_loop_curve``, the exact shared-prefix probe). The change at token i (0-based) is
  the one between L_i and L_{i+1}: what reading that token did.
- **C8** asks whether a model trained to close its trajectory with the delimiter ``</think>`` makes L-hat
  fall faster but end higher, along its own sampled trajectories, than one trained without it.

Arms (every one an ordinary ``experiment.sft_job`` from the base, same questions, steps and seeds):
``long`` (notebook 02's model: same call, same cache entry), ``reflection`` (the same questions with a
wrong step, ``<wait>`` and the corrected step) and ``no_delimiter`` (long, without ``</think>``).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd

from . import experiment, probe
from .evaluation import world_of_problems
from .stats import bootstrap_paired_diff
from .training import TrainJob
from .worlds import llm, llm_tasks, toy

ARMS = ("long", "reflection", "no_delimiter")
ARM_DELIMITER = {"long": True, "reflection": True, "no_delimiter": False}  # the format each arm was trained in
TOY_MARKERS = (";", ":", "=", ",")  # the toy trajectory's structure tokens: step end, detail, result, digit split
LLM_MARKERS = (".", ",", ":", "=", "\n")  # punctuation and line breaks of a worked solution
CLASSES = ("reflection", "marker", "other")


def arm_jobs(profile) -> dict[tuple[str, int], TrainJob]:
    """Returns the training job of every (arm, seed): ``long``, ``reflection`` and ``no_delimiter`` SFT."""
    recipes = {"long": ("long", {}),
               "reflection": ("reflection", {"reflection_rate": profile.reflection.reflection_rate}),
               "no_delimiter": ("long", {"delimiter": False})}
    return {(arm, seed): experiment.sft_job(profile, style, seed, **data)
            for arm, (style, data) in recipes.items() for seed in profile.seeds}


def evaluate_arms(profile, model_dirs: dict, set_name: str = "in_domain") -> dict:
    """Returns the ``EvalResult`` of every (arm, seed) in ``model_dirs``, each checked in its own format."""
    out = {}
    for delimiter in (True, False):
        keys = [key for key in model_dirs if ARM_DELIMITER[key[0]] == delimiter]
        if keys:
            results = experiment.evaluate_models(profile, [model_dirs[k] for k in keys], set_name, delimiter=delimiter,
                                                 desc=f"evaluating ({'with' if delimiter else 'without'} delimiter)")
            out.update(zip(keys, results))
    return {key: out[key] for key in model_dirs}


# --- the relative change of L-hat at each token --------------------------------------------------


def relative_changes(curve, min_lhat: float) -> np.ndarray:
    """Returns |L_{i+1} - L_i| / L_i for i = 0..T-1: the relative change made by reading trajectory token i.

    ``curve`` holds L_0..L_T. Where L_i < ``min_lhat`` the ratio is float rounding over float rounding,
    so it is NaN (left undefined, never silently replaced).
    """
    curve = np.asarray(curve, dtype=float)
    before, after = curve[:-1], curve[1:]
    out = np.full(len(before), np.nan)
    defined = before >= min_lhat
    out[defined] = np.abs(after[defined] - before[defined]) / before[defined]
    return out


def token_class(token: str, reflection: bool, markers: tuple[str, ...]) -> str:
    """Returns 'reflection', 'marker' (structure or punctuation) or 'other' for one token's text."""
    if reflection:
        return "reflection"
    text = token.strip(" ")
    return "marker" if text and all(ch in markers for ch in text) else "other"


def token_frame(records: list[dict], min_lhat: float):
    """Returns one row per probed token: its text, class, L-hat before and after it, and its relative change.

    ``records`` hold one probed trajectory each (``curve``, ``tokens``, ``classes`` and identifying fields).
    """
    rows = []
    for r in records:
        ids = {k: v for k, v in r.items() if k not in ("curve", "tokens", "classes")}
        rel = relative_changes(r["curve"], min_lhat)
        for i, (tok, cls) in enumerate(zip(r["tokens"], r["classes"])):
            rows.append({**ids, "position": i, "token": tok, "token_class": cls, "lhat_before": r["curve"][i],
                         "lhat_after": r["curve"][i + 1], "relative_change": rel[i]})
    return pd.DataFrame(rows)


def trajectory_means(tokens, keys: list[str]):
    """Returns per trajectory (``keys``) the mean relative change over all its tokens and within each class.

    Columns ``all_tokens``, ``reflection``, ``marker``, ``other`` (NaN where a trajectory has no defined value).
    """
    overall = tokens.groupby(keys)["relative_change"].mean().rename("all_tokens")
    by_class = tokens.groupby(keys + ["token_class"])["relative_change"].mean().unstack("token_class")
    table = pd.concat([overall, by_class.reindex(columns=list(CLASSES))], axis=1)
    return table.reset_index()


def class_summary(tokens):
    """Returns per token class (and all tokens): tokens, how many are undefined, mean, median, 90th percentile."""
    rows = []
    for name, g in [("all_tokens", tokens), *[(c, tokens[tokens.token_class == c]) for c in CLASSES]]:
        rel = g.relative_change.dropna()
        rows.append({"tokens": name, "n": len(g), "undefined": int(g.relative_change.isna().sum()),
                     "mean": rel.mean() if len(rel) else float("nan"),
                     "median": rel.median() if len(rel) else float("nan"),
                     "p90": rel.quantile(0.9) if len(rel) else float("nan")})
    return pd.DataFrame(rows).set_index("tokens")


def class_table(tokens, means, keys: list[str]):
    """Returns per token group (all tokens, then each class) the token-level distribution (tokens, undefined,
    pooled mean, median, 90th percentile) and the mean of the per-trajectory means with its bootstrap 95% CI
    over seeds x questions (``means`` from ``trajectory_means``; the unit of the C7 verdict)."""
    table = class_summary(tokens)
    nan = {"effect": float("nan"), "lo": float("nan"), "hi": float("nan")}
    grids = {name: paired_grid(means, name, name, *keys)[0] for name in table.index}
    boots = {name: bootstrap_mean(a) if a.size else nan for name, a in grids.items()}
    table["trajectories"] = [grids[name].size for name in table.index]
    for column, key in (("trajectory_mean", "effect"), ("ci_lo", "lo"), ("ci_hi", "hi")):
        table[column] = [boots[name][key] for name in table.index]
    return table


def paired_grid(table, a: str, b: str, seed_col: str = "seed", question_col: str = "question"):
    """Returns (a, b, dropped): (seeds, questions) arrays of columns ``a`` and ``b``, keeping only the questions
    defined for every seed in both (bootstraps cannot take gaps); ``dropped`` counts the questions left out."""
    grids = [table.pivot(index=seed_col, columns=question_col, values=c).sort_index() for c in (a, b)]
    keep = grids[0].notna().all(axis=0) & grids[1].notna().all(axis=0)
    return grids[0].loc[:, keep].to_numpy(), grids[1].loc[:, keep].to_numpy(), int((~keep).sum())


def bootstrap_mean(scores) -> dict:
    """Returns dict(effect, lo, hi, ...): the mean of (seeds, questions) ``scores`` and its bootstrap 95% CI."""
    scores = np.asarray(scores, dtype=float)
    return bootstrap_paired_diff(scores, np.zeros_like(scores))  # the paired difference with 0 is the score itself


# --- C7 in the study's world: reflection trajectories probed token by token -------------------------


def reflection_spec(world, problem, rng: random.Random) -> toy.TrajectorySpec:
    """Returns a reflection ``TrajectorySpec`` drawn as in training: a wrong step at a random position (off by
    1..``world.max_step_error``), then the reflection."""
    return toy.TrajectorySpec("reflection", reflection=(rng.randrange(problem.k), rng.randint(1, world.max_step_error)))


def reflection_positions(tokens: list[str]) -> list[int]:
    """Returns the indices of the toy reflection token ``<wait>`` among a trajectory's tokens."""
    return [i for i, t in enumerate(tokens) if t == toy.REFLECT]


def _tokens_and_reflections(tokenizer, world, trajectory: str, item) -> tuple[list[str], set[int]]:
    """Returns a trajectory's tokens (as text) and the indices of its reflection tokens: the toy world's
    ``<wait>``; in the LLM world, the first token of every "Wait, ..." sentence (``llm_tasks.REFLECTION``)."""
    if world.kind == "toy":
        tokens = tokenizer.convert_ids_to_tokens(list(item.trajectory))
        return tokens, set(reflection_positions(tokens))

    enc = tokenizer(trajectory, add_special_tokens=False, return_offsets_mapping=True)
    if tuple(enc["input_ids"]) != item.trajectory:
        raise RuntimeError("the probe's trajectory and the offsets' tokenization differ")
    starts = [m for m in range(len(trajectory)) if trajectory.startswith(llm_tasks.REFLECTION, m)]
    return [trajectory[a:b] for a, b in enc["offset_mapping"]], {token_at(enc["offset_mapping"], c) for c in starts}


def reflection_records(model, tokenizer, problems: list) -> list[dict]:
    """Returns one record per problem: its reflection trajectory's tokens, their classes and the L-hat curve.

    The trajectories depend on the problems only (not on the model), so every seed probes the same text.
    """
    world = world_of_problems(problems, tokenizer)
    markers = TOY_MARKERS if world.kind == "toy" else LLM_MARKERS
    rng = random.Random("reflection-probe")
    records = []
    for q, p in enumerate(problems):
        spec = reflection_spec(world, p, rng)
        rendered = world.render(p, spec)
        item = probe.rendered_probe_input(tokenizer, rendered)
        tokens, at = _tokens_and_reflections(tokenizer, world, rendered.trajectory, item)
        records.append({"question": q, "reflection_step": spec.reflection[0], "tokens": tokens,
                        "classes": [token_class(t, i in at, markers) for i, t in enumerate(tokens)],
                        "curve": probe.inner_loop_curve(model, item).tolist()})
    return records


def reflection_probe(profile, model_dir: Path, seed: int, problems: list) -> list[dict]:
    """Returns the C7 records of the model in ``model_dir`` (trained with ``seed``), cached."""
    def make_records():
        return reflection_records(*experiment.load_run_model(profile, model_dir, "probe"), problems)

    config = {"what": f"{profile.world.kind}_c7", "model": Path(model_dir).name, "problems": [p.key for p in problems],
              **experiment.device_key(profile)}
    return [{**r, "seed": seed} for r in experiment.cached_records(profile, config, make_records)]


# --- C7 on SmolLM2: worked solutions with a reflection sentence ----------------------------------


def insert_reflection(solution: str, sentence: str) -> tuple[str, int] | None:
    """Returns (text, at): ``sentence`` on its own line after the solution's first line, and the index of the
    sentence's first character in ``text``; None for a one-line solution."""
    first, sep, rest = solution.partition("\n")
    if not sep or not rest.strip():
        return None
    return f"{first}\n{sentence}\n{rest}", len(first) + 1


def token_at(offsets, char: int) -> int:
    """Returns the index of the token whose character span (start, end) contains ``char``."""
    for i, (start, end) in enumerate(offsets):
        if start <= char < end:
            return i
    raise ValueError(f"no token covers character {char}")


def reflection_problems(n: int, seed: int, max_draws: int = 20) -> list:
    """Returns ``n`` gsm_symbolic problems whose worked solution has two or more lines and ends by stating the answer."""
    out = [p for p in llm.gsm_problems(max_draws * n, seed)
           if llm.final_number(p.solution) == p.answer and insert_reflection(p.solution, "x") is not None][:n]
    if len(out) < n:
        raise RuntimeError(f"only {len(out)} of {max_draws * n} gsm_symbolic problems fit; asked for {n}")
    return out


def llm_reflection_records(model, tokenizer, problems: list, words: tuple[str, ...], sentence: str) -> list[dict]:
    """Returns one record per problem: its solution with ``sentence`` inserted for the next word of ``words`` in
    turn (problem q gets word q mod len(words)), probed token by token.

    One word per solution keeps the solutions independent (a solution probed once per word would count its
    other tokens several times). The reflection token is the word's first token; markers are punctuation and
    line breaks.
    """
    records = []
    for q, p in enumerate(problems):
        word = words[q % len(words)]
        text, at = insert_reflection(p.solution, sentence.format(word=word))
        item = probe.solution_probe_input(tokenizer, p, text)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if tuple(enc["input_ids"]) != item.trajectory:
            raise RuntimeError("the probe's trajectory and the offsets' tokenization differ")
        tokens = [text[a:b] for a, b in enc["offset_mapping"]]
        reflect = token_at(enc["offset_mapping"], at)
        records.append({"question": q, "word": word, "tokens": tokens,
                        "classes": [token_class(t, i == reflect, LLM_MARKERS) for i, t in enumerate(tokens)],
                        "curve": probe.inner_loop_curve(model, item).tolist()})
    return records


def llm_reflection_probe(profile) -> list[dict]:
    """Returns the C7 records of SmolLM2-135M-Instruct on ``reflection.llm_problems`` solutions, cached."""
    R = profile.reflection

    def records_of(model, tokenizer):
        problems = reflection_problems(R.llm_problems, R.llm_seed)
        return llm_reflection_records(model, tokenizer, problems, R.llm_words, R.llm_sentence)

    config = {"what": "llm_c7", "problems": R.llm_problems, "seed": R.llm_seed, "words": R.llm_words,
              "sentence": R.llm_sentence}
    return [{**r, "seed": 0} for r in experiment.smollm2_records(profile, config, records_of)]


# --- C8: L-hat along the models' own trajectories, with and without the delimiter ------------------


def half_drop_position(curve, fall_threshold: float) -> float:
    """Returns the first prefix length i (as a share i / T of the trajectory) at which L-hat has made half its
    drop (L_i <= L_0 - (L_0 - L_T) / 2); NaN unless the curve falls by more than ``fall_threshold``."""
    curve = np.asarray(curve, dtype=float)
    drop = curve[0] - curve[-1]
    if len(curve) < 2 or not drop > fall_threshold:
        return float("nan")
    return float(np.argmax(curve <= curve[0] - drop / 2) / (len(curve) - 1))


def delimiter_records(model, tokenizer, problems: list, delimiter: bool, n_samples: int, eval_params,
                      seed: int) -> list[dict]:
    """Returns one record per probed trajectory: the reference long trajectory of each problem and ``n_samples``
    of the model's own, sampled at ``eval_params.temperature``; every curve scores the true answer.

    The answer suffix follows the model's training format: ``</think>`` and the answer marker with the delimiter,
    the marker alone without.
    """
    world = world_of_problems(problems, tokenizer)
    reference = [world.render(p, toy.TrajectorySpec("long", delimiter=delimiter)) for p in problems]
    records = []
    for q, r in enumerate(reference):
        item = probe.rendered_probe_input(tokenizer, r)
        records.append({"kind": "reference", "question": q, "sample": 0, "correct": True,
                        "tokens": len(item.trajectory), "curve": probe.inner_loop_curve(model, item).tolist()})
    for q, s, completion, item in probe.sampled_items(model, tokenizer, problems, n_samples, eval_params, seed,
                                                      delimiter):
        records.append({"kind": "sampled", "question": q, "sample": s,
                        "correct": world.is_correct(problems[q], world.parse_completion(completion, delimiter)),
                        "tokens": len(item.trajectory), "curve": probe.inner_loop_curve(model, item).tolist()})
    return records


def delimiter_probe(profile, model_dir: Path, arm: str, seed: int, problems: list) -> list[dict]:
    """Returns the C8 records of the model of ``arm`` (trained with ``seed``) in ``model_dir``, cached."""
    R, delimiter = profile.reflection, ARM_DELIMITER[arm]

    def make_records():
        model, tokenizer = experiment.load_run_model(profile, model_dir, "probe")
        return delimiter_records(model, tokenizer, problems, delimiter, R.c8_samples, profile.eval, seed)

    config = {"what": f"{profile.world.kind}_c8", "model": Path(model_dir).name, "problems": [p.key for p in problems],
              "delimiter": delimiter, "samples": R.c8_samples, "eval": profile.eval, "seed": seed,
              "sampler": experiment.SAMPLER_VERSION, **experiment.device_key(profile)}
    return [{**r, "arm": arm, "seed": seed} for r in experiment.cached_records(profile, config, make_records)]


def curve_frame(records: list[dict], fall_threshold: float, curve_points: int):
    """Returns one row per C8 trajectory: start, final L-hat, drop, half-drop position (share of the trajectory
    and tokens), correctness, and the curve on an even grid of ``curve_points`` (for ``plots.inner_loop_curves``)."""
    rows = []
    for r in records:
        curve = np.asarray(r["curve"])
        half = half_drop_position(curve, fall_threshold)
        rows.append({k: v for k, v in r.items() if k != "curve"} | {
            "lhat_start": float(curve[0]), "final_lhat": float(curve[-1]), "lhat_drop": float(curve[0] - curve[-1]),
            "half_drop_position": half, "half_drop_tokens": half * r["tokens"], "falls": not np.isnan(half),
            "curve": probe.on_grid(curve, curve_points).tolist()})
    return pd.DataFrame(rows)


def arm_columns(frame, column: str, kind: str = "sampled"):
    """Returns one row per (seed, question) with ``column`` averaged over that question's ``kind`` trajectories,
    one column per arm (for ``paired_grid``)."""
    g = frame[frame.kind == kind]
    return g.groupby(["seed", "question", "arm"])[column].mean().unstack("arm").reset_index()


def delimiter_table(frame):
    """Returns per (arm, kind): trajectories, share answered correctly, tokens, mean L-hat at the start and at the
    end, share of curves that fall, and where they make half their drop (mean over falling curves)."""
    return frame.groupby(["arm", "kind"]).agg(
        trajectories=("final_lhat", "size"), correct=("correct", "mean"), tokens=("tokens", "mean"),
        lhat_start=("lhat_start", "mean"), final_lhat=("final_lhat", "mean"), share_falling=("falls", "mean"),
        half_drop_position=("half_drop_position", "mean"), half_drop_tokens=("half_drop_tokens", "mean"))


def arm_contrasts(frame, pairs: list[tuple[str, str]], metrics: list[str]):
    """Returns one row per (pair, metric) of a ``per_question_frame``: the paired difference a - b over seeds x
    questions with its bootstrap 95% CI (a measurement; these contrasts carry no pre-registered verdict)."""
    rows = []
    for a, b in pairs:
        for metric in metrics:
            boot = bootstrap_paired_diff(experiment.scores(frame, a, metric), experiment.scores(frame, b, metric))
            rows.append({"contrast": f"{a} - {b}", "metric": metric, **boot})
    return pd.DataFrame(rows)


def by_word_table(tokens):
    """Returns, per reflection word of the LLM probe (``token_frame`` rows with a ``word``): how many reflection
    tokens, their mean relative change and mean L-hat just before and after, and the mean relative change over all
    tokens of the solutions that word was inserted in."""
    by_word = (tokens[tokens.token_class == "reflection"].groupby("word", sort=False)
               .agg(tokens=("relative_change", "size"), mean_relative_change=("relative_change", "mean"),
                    lhat_before=("lhat_before", "mean"), lhat_after=("lhat_after", "mean")))
    by_word["mean_over_all_tokens_of_those_solutions"] = tokens.groupby("word").relative_change.mean()
    return by_word
