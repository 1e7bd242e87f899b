"""The vocabulary notebooks speak: SFT arms from the base model, test sets, cached evaluation sweeps.

Every notebook builds its jobs through ``sft_job``, so the same arm asked for by two notebooks is
the same cache entry, trained once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from tqdm import tqdm  # plain text bars: readable in the terminal, the notebook and its saved copy

from .base_model import base_job
from .cache import Store, write_json_atomic
from .evaluation import EvalResult, evaluate
from .params import Profile
from .results import load_claims, pre_registered
from .training import SFTData, TrainJob, load_history, run_jobs
from .workers import pool
from .worlds import make_problems, toy, world_for


def store_of(profile: Profile) -> Store:
    return Store(profile.cache_dir)


def sft_job(profile: Profile, style: str, seed: int, init: TrainJob | None = None, **data) -> TrainJob:
    """Returns the job of an SFT arm: the profile's training questions written in ``style``, from the base.

    ``data`` overrides fields of ``SFTData`` (e.g. ``orders_per_question``, ``delimiter``).
    """
    world = profile.world
    recipe = SFTData(style=style, n_questions=profile.sft_questions, families=world.train_families,
                     levels=world.train_levels, truncation_rate=profile.sft.truncation_rate,
                     test_fraction=world.test_fraction)
    # One thread per job: sweeps run as parallel single-thread processes (steadier than threads on 2 cores).
    return TrainJob(dataclasses.replace(recipe, **data), profile.sft, profile.model, seed,
                    init=init or base_job(profile), threads=1)


def train(profile: Profile, jobs: list[TrainJob], desc: str = "training") -> list[Path]:
    """Returns the model directories of ``jobs``, training the missing ones on ``profile.workers`` processes (or,
    with ``profile.gpus`` above 1, each one over that many GPUs)."""
    if profile.gpus > 1:
        return launch_each(profile, jobs, desc)
    return run_jobs(jobs, store_of(profile), workers=profile.workers, desc=desc)


def launch_each(profile: Profile, jobs: list, desc: str) -> list[Path]:
    """Returns the model directories of ``jobs`` (SFT or GRPO), training each missing one with ``accelerate launch``
    over ``profile.gpus`` GPUs, one after another."""
    import torch

    from .launch import launch_job

    store = store_of(profile)
    if torch.cuda.device_count() < profile.gpus:
        raise RuntimeError(f"gpus={profile.gpus} but {torch.cuda.device_count()} CUDA GPU(s) are visible: lower gpus")
    for job in tqdm(list(dict.fromkeys(jobs)), desc=desc):
        if not store.has("model", job):
            launch_job(job, str(store.root), profile.gpus)
    return [store.path("model", j) for j in jobs]


# --- test sets ----------------------------------------------------------------------------------

UNSEEN_OPERANDS = toy.UNSEEN_OPERANDS  # the unseen-operand split's band (a rule of the toy world)


def test_set(profile: Profile, name: str) -> list:
    """Returns a named set of unseen questions (never in any training split) of the profile's world.

    ``in_domain``: fine-tuning families at every level of the difficulty ladder (``ladder_levels``: the training
    levels where the profile has no ladder); ``held_out_family``: the families no model (on the same levels)
    is fine-tuned on; ``longer``: more operations than any training question; ``all``: every family at
    every difficulty of the world; ``unseen_operands`` (toy world only): fine-tuning families at the longest
    training difficulty, every operand in ``UNSEEN_OPERANDS`` (an operand combination absent from fine-tuning).
    """
    world, n = profile.world, profile.eval.n_questions
    every_k = tuple(sorted(set(world.easy_levels) | set(world.train_levels) | set(world.hard_levels)))
    spec = {
        "all": (world.families, every_k),
        "in_domain": (world.train_families, ladder_levels(profile)),
        "held_out_family": (world.held_out_families, ladder_levels(profile)),
        "longer": (world.train_families, world.hard_levels),
        "unseen_operands": (world.train_families, (max(world.train_levels),)),
    }
    if world.kind == "llm":
        del spec["unseen_operands"]  # reasoning-gym questions have no operand band of ours
    if name not in spec:
        raise ValueError(f"test set {name!r} is unknown in the {world.kind} world; allowed: {', '.join(spec)}")
    families, steps = spec[name]
    operands = {"operand_range": UNSEEN_OPERANDS} if name == "unseen_operands" else {}
    return make_problems(n, "test", seed=profile.eval.question_seed, families=families, levels=steps,
                         test_fraction=world.test_fraction,
                         **operands)


# --- the difficulty ladder ----------------------------------------------------------------------------

def ladder_levels(profile: Profile) -> tuple[int, ...]:
    """Returns the levels of the in-domain test set: the profile's ladder, or its training levels without one."""
    return profile.ladder.levels or profile.world.train_levels


def rungs(profile: Profile, contrast: str) -> tuple[int, ...]:
    """Returns the levels ``contrast``'s primary metric averages (claims.yaml, ``ladder``): its placed rungs, or the
    training levels it is evaluated at while none are placed."""
    placed = profile.ladder.rungs.get(contrast)
    return placed or tuple(k for k in ladder_levels(profile) if k in profile.world.train_levels)


def rung_text(profile: Profile, contrast: str) -> str:
    """Returns e.g. "rungs k = 3, 4" (placed by the pilot) or "training levels k = 2, 3, 4 (rungs not placed)"."""
    levels = ", ".join(map(str, rungs(profile, contrast)))
    return f"rungs k = {levels}" if contrast in profile.ladder.rungs else f"training levels k = {levels} (rungs not placed)"


def ladder_contrast(profile: Profile, frame, contrast: str, arms: tuple[str, str], metric: str | None = None,
                    role: str = "primary"):
    """Returns the pre-registered verdict of ``arms[0]`` - ``arms[1]`` on ``contrast``'s rungs (a ``LADDER_CONTRASTS``
    name; its claim is the part before "_"): ``frame`` (a ``per_question_frame``) restricted to the questions of
    those levels, paired over seeds x questions; the result records the rungs and the pilot's expected half-width."""
    on = frame[frame.k.isin(rungs(profile, contrast))]
    metric = metric or load_claims()["claims"][contrast.split("_")[0]]["metric"]
    result = pre_registered(contrast.split("_")[0], scores(on, arms[0], metric), scores(on, arms[1], metric),
                            arms=arms, metric=metric, role=role)
    return dataclasses.replace(result, rungs=rungs(profile, contrast), ladder=rung_text(profile, contrast),
                               expected_half_width=profile.ladder.expected_half_width.get(contrast))


# --- cached evaluation --------------------------------------------------------------------------

SAMPLER_VERSION = 2  # part of every evaluation's cache key: 2 = sampling.decode (finished rows leave the batch)


def questions_digest(problems: list) -> str:
    """Returns a short hash of a question set (its questions' keys, in order): part of an evaluation's cache key, so
    a test set that changes (e.g. another ladder) is never read from an older evaluation."""
    import hashlib

    return hashlib.sha256("\n".join(p.key for p in problems).encode()).hexdigest()[:16]


def eval_config(profile: Profile, model_dir: Path, set_name: str, delimiter: bool) -> dict:
    """Returns the cache key of one model's evaluation on one test set."""
    operands = {"operands": UNSEEN_OPERANDS} if set_name == "unseen_operands" else {}  # the split's band
    operands["questions"] = questions_digest(test_set(profile, set_name))
    if profile.world.kind == "llm":  # which backend sampled, and where (toy keys stay as they were)
        from .devices import device_for
        from .sampling import backend_name

        operands |= {"backend": backend_name(profile.world), "device": device_for(profile.world.families)}
    return {"model": Path(model_dir).name, "set": set_name, "world": profile.world, "eval": profile.eval,
            "delimiter": delimiter, "sampler": SAMPLER_VERSION, **operands}


def save_eval(result: EvalResult, out: Path) -> None:
    """Writes ``result`` in the layout ``load_eval`` reads."""
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "result.npz", greedy_correct=result.greedy_correct, sample_correct=result.sample_correct,
             sample_trajectory_tokens=result.sample_trajectory_tokens,
             sample_trajectory_correct=result.sample_trajectory_correct,
             sample_answer_correct=result.sample_answer_correct)
    write_json_atomic(out / "greedy.json", result.greedy_completions)


def _evaluate_to(profile: Profile, model_dir: str, set_name: str, delimiter: bool, out: str) -> None:
    import torch

    from .devices import device_for, explain_oom, inference_dtype
    from .models import load_model
    from .sampling import sampler_for

    torch.set_num_threads(1)
    device = device_for(profile.world.families)
    model, tokenizer = load_model(Path(model_dir), device, inference_dtype(profile.world, device))
    with explain_oom():
        result = evaluate(model, tokenizer, test_set(profile, set_name), profile.eval, delimiter=delimiter,
                          sampler=sampler_for(profile.world, model_dir),
                          progress=profile.world.kind == "llm")  # minutes per model there: show the batches
    save_eval(result, Path(out))


def _evaluate_cached(profile: Profile, model_dir: str, set_name: str, delimiter: bool) -> str:
    store = store_of(profile)
    config = eval_config(profile, Path(model_dir), set_name, delimiter)
    return str(store.get_or_make("samples", config, lambda tmp: _evaluate_to(profile, model_dir, set_name,
                                                                              delimiter, str(tmp))))


def load_eval(path: Path) -> EvalResult:
    import json

    arrays = np.load(Path(path) / "result.npz")
    return EvalResult(arrays["greedy_correct"], arrays["sample_correct"], arrays["sample_trajectory_tokens"],
                      arrays["sample_trajectory_correct"], json.loads((Path(path) / "greedy.json").read_text()),
                      arrays["sample_answer_correct"])


def histories(model_dirs: dict, arms=None) -> "pd.DataFrame":
    """Returns the training logs of ``model_dirs`` ({(arm, seed): model dir}; only ``arms`` if given): one row per
    (arm, seed, logged step), with the columns each run logged (``loss`` for SFT; reward etc. for GRPO)."""
    import pandas as pd

    frames = [pd.DataFrame(load_history(d)).assign(arm=arm, seed=seed)
              for (arm, seed), d in model_dirs.items() if arms is None or arm in arms]
    return pd.concat(frames, ignore_index=True)


def make_missing(profile: Profile, make_one, model_dirs: list[Path], configs: list[dict], desc: str, *args) -> None:
    """Calls ``make_one(profile, model_dir, *args)`` (which caches its result under the model's config) for each
    model whose config the store lacks: in ``profile.workers`` parallel single-thread processes (``workers.pool``)
    when several are."""
    store = store_of(profile)
    missing = list(dict.fromkeys(str(d) for d, c in zip(model_dirs, configs) if not store.has("samples", c)))
    bar = tqdm(total=len(model_dirs), desc=desc, initial=len(model_dirs) - len(missing))
    if profile.workers > 1 and len(missing) > 1:
        with pool(profile.workers) as processes:
            for _ in processes.map(make_one, [profile] * len(missing), missing, *[[a] * len(missing) for a in args]):
                bar.update()
    else:
        for d in missing:
            make_one(profile, d, *args)
            bar.update()
    bar.close()


def evaluate_models(profile: Profile, model_dirs: list[Path], set_name: str = "in_domain", delimiter: bool = True,
                    desc: str = "evaluating") -> list[EvalResult]:
    """Returns the evaluation of each model on a test set, sampling only what the cache lacks (in parallel)."""
    configs = [eval_config(profile, d, set_name, delimiter) for d in model_dirs]
    if profile.world.kind == "llm":
        from .sampling import backend_line

        print(backend_line(profile.world))
    make_missing(profile, _evaluate_cached, model_dirs, configs, desc, set_name, delimiter)
    store = store_of(profile)
    return [load_eval(store.path("samples", c)) for c in configs]


# --- tables for notebooks -----------------------------------------------------------------------

def per_question_frame(problems: list, results: dict, k: int):
    """Returns one row per (arm, seed, question): family, difficulty, greedy, accuracy, Pass@k, mG-Pass@k, tokens.

    ``results`` maps (arm, seed) to the ``EvalResult`` of that run on ``problems``.
    """
    import pandas as pd

    from .metrics import mg_pass_at_k_per_question, pass_at_k_per_question

    rows = []
    for (arm, seed), r in results.items():
        pass_k, mg_k = pass_at_k_per_question(r.sample_correct, k), mg_pass_at_k_per_question(r.sample_correct, k)
        for q, p in enumerate(problems):
            rows.append({"arm": arm, "seed": seed, "question": q, "family": p.family, "k": p.k,
                         "greedy_accuracy": float(r.greedy_correct[q]), "accuracy": float(r.sample_correct[q].mean()),
                         "pass_at_k": pass_k[q], "mg_pass_at_k": mg_k[q],
                         "correct_trajectory_rate": float(r.sample_trajectory_correct[q].mean()),
                         "any_format_accuracy": float(r.sample_answer_correct[q].mean()),
                         "mean_trajectory_tokens": float(r.sample_trajectory_tokens[q].mean())})
    return pd.DataFrame(rows)


def scores(frame, arm: str, metric: str) -> np.ndarray:
    """Returns the (seeds, questions) array of ``metric`` for ``arm`` from a ``per_question_frame``, seeds sorted."""
    table = frame[frame.arm == arm].pivot(index="seed", columns="question", values=metric)
    return table.sort_index().to_numpy()


def style_examples(profile: Profile, family: str = "chain", k: int = 3, tokenizer=None):
    """Returns a table of one training question written in every trajectory style (with and without delimiter);
    the LLM world writes it in ``tokenizer``'s chat template."""
    import pandas as pd

    world = world_for((family,), tokenizer)
    problem = make_problems(1, "train", seed=11, families=(family,), levels=(k,))[0]
    rows = [{"style": s, "text": world.render(problem, toy.TrajectorySpec(s, reflection=(1, 7))).text}
            for s in world.styles_of(family)]
    long = world.render(problem)
    rows.append({"style": "long, no delimiter", "text": world.render(problem, toy.TrajectorySpec("long", delimiter=False)).text})
    rows.append({"style": "long, cut after 1 step", "text": world.force_answer(long, long.steps[0]).text})
    return pd.DataFrame(rows).set_index("style")


def style_lengths(profile: Profile, tokenizer, n: int = 60):
    """Returns tokens per training sequence for each style and family (``n`` questions per family)."""
    import pandas as pd

    rows = []
    for family in profile.world.families:
        world = world_for((family,), tokenizer)
        for p in make_problems(n, "train", seed=0, families=(family,), levels=profile.world.train_levels):
            for style in world.styles_of(family):
                text = world.render(p, toy.TrajectorySpec(style)).text
                rows.append({"family": family, "style": style,
                             "tokens": len(tokenizer(text, add_special_tokens=False)["input_ids"])})
    return pd.DataFrame(rows)


def arm_summary(frame, metrics: list[str], order=None):
    """Returns, per arm, each metric's mean with its 95% bootstrap interval over seeds x questions (the contrasts'
    resampling, so an interval stays inside its metric's range), and the arm's seed count."""
    import pandas as pd

    from .stats import bootstrap_mean

    rows = {}
    for arm, group in frame.groupby("arm"):
        row = {"seeds": int(group.seed.nunique())}
        for m in metrics:
            grid = group.pivot(index="seed", columns="question", values=m).sort_index().to_numpy()  # (seeds, questions)
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = bootstrap_mean(grid)
        rows[arm] = row
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("arm")
    return table.loc[[a for a in (order or table.index) if a in table.index]]


def claims_table(claims):
    """Returns the verdicts as a table: claim, metric, arms, effect [lo, hi], seeds, questions, verdict."""
    import pandas as pd

    return pd.DataFrame([{"claim": c.claim, "metric": c.metric, "contrast": f"{c.arms[0]} - {c.arms[1]}",
                          "effect": round(c.effect, 4), "ci_95": f"[{c.lo:+.3f}, {c.hi:+.3f}]",
                          "seeds": c.n_seeds, "questions": c.n_questions, "read on": c.ladder or "-",
                          "role": c.role, "verdict": c.verdict} for c in claims])
