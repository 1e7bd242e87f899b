"""The vocabulary experiments speak: SFT and GRPO arms from the base model, test sets and the difficulty ladder,
cached evaluation sweeps and probe records, tables.

Every notebook builds its jobs through ``sft_job`` / ``grpo_job`` (and ``dispatch.build``), so the same arm asked
for by two notebooks is the same cache entry, trained once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .base_model import base_job
from .cache import Store, write_json_atomic
from .devices import device_for, explain_oom, inference_dtype
from .dispatch import in_pool
from .evaluation import EvalResult, evaluate
from .grpo import HISTORY_KEYS, MONITOR_KEYS, GRPOData, GRPOJob
from .metrics import mg_pass_at_k_per_question, pass_at_k_per_question
from .models import load_model
from .params import Profile
from .results import bounds, headroom_verdict, load_claims, pre_registered
from .sampling import backend_line, backend_name, sampler_for
from .stats import bootstrap_mean
from .training import SFTData, TrainJob, load_history
from .worlds import llm, llm_tasks, make_problems, toy


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


def grpo_job(profile: Profile, support_n: int, seed: int, init: TrainJob | GRPOJob | None = None, **data) -> GRPOJob:
    """Returns the job of a GRPO arm on the profile's fine-tuning questions, from ``init`` (default: the base).

    ``data`` overrides fields of ``GRPOData`` (e.g. ``levels``, ``n_questions``).
    """
    world = profile.world
    recipe = GRPOData(families=world.train_families, levels=world.train_levels, n_questions=profile.sft_questions,
                      test_fraction=world.test_fraction)
    return GRPOJob(dataclasses.replace(recipe, **data), profile.grpo, support_n, seed,
                   init=init or base_job(profile), threads=1)


# --- test sets ----------------------------------------------------------------------------------

def test_set(profile: Profile, name: str) -> list:
    """Returns a named set of unseen questions (never in any training split) of the profile's world.

    ``in_domain``: fine-tuning families at every level of the difficulty ladder (``ladder_levels``: the training
    levels where the profile has no ladder); ``held_out_family``: the families no model (on the same levels)
    is fine-tuned on; ``longer``: more operations than any training question; ``all``: every family at
    every difficulty of the world; ``unseen_operands`` (toy world only): fine-tuning families at the longest
    training difficulty, every operand in ``toy.UNSEEN_OPERANDS`` (an operand combination absent from fine-tuning).
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
    families, levels = spec[name]
    operands = {"operand_range": toy.UNSEEN_OPERANDS} if name == "unseen_operands" else {}
    return make_problems(n, "test", seed=profile.eval.question_seed, families=families, levels=levels,
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


# --- the models of runs -------------------------------------------------------------------------------

def load_run_model(profile: Profile, model_dir, purpose: str):
    """Returns (model, tokenizer) of a run's model directory, loaded for ``purpose``:

    ``"sample"``: one torch thread (sweeps run one process per model), the world's inference dtype (bfloat16 on a
    GPU for the LLM world's ``dtype: auto``); ``"probe"``: ``profile.threads`` threads (probes run in the notebook's
    own process) and float32 wherever it runs (L-hat's small relative changes, C7, would drown in bfloat16's
    rounding of the logits).
    """
    device = device_for(profile.world.families)
    if purpose == "sample":
        torch.set_num_threads(1)
        return load_model(Path(model_dir), device, inference_dtype(profile.world, device))
    if purpose == "probe":
        torch.set_num_threads(profile.threads)
        return load_model(Path(model_dir), device)
    raise ValueError(f"purpose={purpose!r}; allowed: 'sample', 'probe'")


# --- cached evaluation --------------------------------------------------------------------------

SAMPLER_VERSION = 2  # part of every evaluation's cache key: 2 = sampling.decode (finished rows leave the batch)


def questions_digest(problems: list) -> str:
    """Returns a short hash of a question set (its questions' keys, in order): part of an evaluation's cache key, so
    a test set that changes (e.g. another ladder) is never read from an older evaluation."""
    return hashlib.sha256("\n".join(p.key for p in problems).encode()).hexdigest()[:16]


def eval_config(profile: Profile, model_dir: Path, set_name: str, delimiter: bool) -> dict:
    """Returns the cache key of one model's evaluation on one test set."""
    operands = {"operands": toy.UNSEEN_OPERANDS} if set_name == "unseen_operands" else {}  # the split's band
    operands["questions"] = questions_digest(test_set(profile, set_name))
    if profile.world.kind == "llm":  # which backend sampled, and where (toy keys stay as they were)
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
    model, tokenizer = load_run_model(profile, model_dir, "sample")
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
    arrays = np.load(Path(path) / "result.npz")
    return EvalResult(arrays["greedy_correct"], arrays["sample_correct"], arrays["sample_trajectory_tokens"],
                      arrays["sample_trajectory_correct"], json.loads((Path(path) / "greedy.json").read_text()),
                      arrays["sample_answer_correct"])


def histories(model_dirs: dict, arms=None) -> "pd.DataFrame":
    """Returns the training logs of ``model_dirs`` ({(arm, seed): model dir}; only ``arms`` if given): one row per
    (arm, seed, logged step), with the columns each run logged.

    SFT rows hold ``loss``; GRPO rows hold every key GRPO logs (``grpo.HISTORY_KEYS``, ``grpo.MONITOR_KEYS``):
    ``reward`` (mean over every rollout of the step), ``accuracy`` (share of rollouts answered correctly in the right
    format), ``frac_reward_zero_std`` (groups with no reward spread: no learning signal), ``completion_length``,
    ``grad_norm`` (before clipping), ... A GRPO run cached before a key was logged has NaN there, not a missing column.
    """
    frames = [pd.DataFrame(load_history(d)).assign(arm=arm, seed=seed)
              for (arm, seed), d in model_dirs.items() if arms is None or arm in arms]
    out = pd.concat(frames, ignore_index=True)
    if "reward" in out.columns:  # GRPO runs among them
        logged = [*HISTORY_KEYS, *MONITOR_KEYS]
        out = out.reindex(columns=[*out.columns, *(k for k in logged if k not in out.columns)])
    return out


def make_missing(profile: Profile, make_one, model_dirs: list[Path], configs: list[dict], desc: str, *args) -> None:
    """Calls ``make_one(profile, model_dir, *args)`` (which caches its result under the model's config) for each
    model whose config the store lacks: on ``profile.workers`` processes (``dispatch.in_pool``) when several are."""
    store = store_of(profile)
    missing = list(dict.fromkeys(str(d) for d, c in zip(model_dirs, configs) if not store.has("samples", c)))
    in_pool([(make_one, profile, d, *args) for d in missing], profile.workers, desc,
            done_already=len(model_dirs) - len(missing))


def evaluate_models(profile: Profile, model_dirs: list[Path], set_name: str = "in_domain", delimiter: bool = True,
                    desc: str = "evaluating") -> list[EvalResult]:
    """Returns the evaluation of each model on a test set, sampling only what the cache lacks (in parallel)."""
    configs = [eval_config(profile, d, set_name, delimiter) for d in model_dirs]
    if profile.world.kind == "llm":
        print(backend_line(profile.world))
    make_missing(profile, _evaluate_cached, model_dirs, configs, desc, set_name, delimiter)
    store = store_of(profile)
    return [load_eval(store.path("samples", c)) for c in configs]


# --- cached probe records -----------------------------------------------------------------------

def device_key(profile) -> dict:
    """Returns what a cached probe adds to its key for where it ran: nothing in the toy world (always the CPU, keys as
    before), the device in the LLM world (a CPU and a GPU run differ in their float sums)."""
    return {} if profile.world.kind == "toy" else {"device": device_for(profile.world.families)}


def cached_records(profile, config: dict, make_records, name: str = "records.json") -> list[dict]:
    """Returns the records (JSON rows) built by ``make_records()``, from the probe cache when ``config`` was seen
    before: a warm rerun of a notebook reads every probe instead of loading its model again."""
    def make(tmp) -> None:
        (tmp / name).write_text(json.dumps(make_records()))

    path = store_of(profile).get_or_make("probe", config, make)
    return json.loads((path / name).read_text())


def smollm2_records(profile, config: dict, records_of) -> list[dict]:
    """Returns ``records_of(model, tokenizer)`` of SmolLM2-135M-Instruct (float32, on the GPU where one is visible),
    cached under ``config`` plus the model, the thread count and a GPU: a warm rerun does not load the model (~15 s
    on 2 CPU cores)."""
    device = device_for(llm_tasks.FAMILIES)

    def make_records():
        torch.set_num_threads(profile.threads)
        return records_of(*llm.load_llm(device=device))

    key = {**config, "model": llm.SMOLLM2_GGUF, "threads": profile.threads,
           **({"device": device} if device == "cuda" else {})}
    return cached_records(profile, key, make_records)


# --- tables for notebooks -----------------------------------------------------------------------

def per_question_frame(problems: list, results: dict, k: int):
    """Returns one row per (arm, seed, question): family, difficulty, greedy, accuracy, Pass@k, mG-Pass@k, tokens.

    ``results`` maps (arm, seed) to the ``EvalResult`` of that run on ``problems``.
    """
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


def arm_summary(frame, metrics: list[str], order=None):
    """Returns, per arm, each metric's mean with its 95% bootstrap interval over seeds x questions (the contrasts'
    resampling, so an interval stays inside its metric's range), and the arm's seed count."""
    rows = {}
    for arm, group in frame.groupby("arm"):
        row = {"seeds": int(group.seed.nunique())}
        for m in metrics:
            grid = group.pivot(index="seed", columns="question", values=m).sort_index().to_numpy()  # (seeds, questions)
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = bootstrap_mean(grid)
        rows[arm] = row
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("arm")
    return table.loc[[a for a in (order or table.index) if a in table.index]]


def claims_table(claims, profile: Profile):
    """Returns the verdicts as a table: claim, metric, arms, effect [lo, hi], seeds, questions, each arm's mean, the
    CI rule's verdict, whether the arms have headroom (the reason where not; "n/a" on an unbounded metric), and the
    verdict of both (``results.headroom_verdict``; the scoreboard adds the component checks)."""
    rows = []
    for c in claims:
        verdict, reason = headroom_verdict(c, profile)
        room = reason or ("n/a" if bounds(profile, c.metric) == (None, None) else "yes")
        rows.append({"claim": c.claim, "metric": c.metric, "contrast": f"{c.arms[0]} - {c.arms[1]}",
                     "effect": round(c.effect, 4), "ci_95": f"[{c.lo:+.3f}, {c.hi:+.3f}]", "seeds": c.n_seeds,
                     "questions": c.n_questions, "read on": c.ladder or "-", "role": c.role,
                     "means (a, b)": f"{c.a_mean:.3f}, {c.b_mean:.3f}" if c.a_mean is not None else "-",
                     "CI rule": c.verdict, "headroom": room, "verdict": verdict})
    return pd.DataFrame(rows)


def stability(frame, history):
    """Returns, per arm, the spread over seeds of final accuracy / Pass@k and the variance of the reward curve.

    ``frame`` is a ``per_question_frame``; ``history`` has one row per (arm, seed, step) with ``reward`` (GRPO
    arms only). The reward-curve variance is the variance of the per-step mean reward within a run (mean over
    seeds); its roughness is the standard deviation of step-to-step changes.
    """
    per_seed = frame.groupby(["arm", "seed"])[["accuracy", "pass_at_k", "mg_pass_at_k"]].mean()
    table = per_seed.groupby(level="arm").std(ddof=1).add_suffix("_seed_sd")
    table["seeds"] = per_seed.groupby(level="arm").size()
    if len(history):
        runs = history.groupby(["arm", "seed"]).reward
        curve = runs.var(ddof=1).groupby(level="arm").mean().rename("reward_curve_var")
        rough = runs.apply(lambda r: r.diff().std(ddof=1)).groupby(level="arm").mean().rename("reward_step_change_sd")
        table = table.join(curve).join(rough)
    return table
