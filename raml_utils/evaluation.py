"""Evaluation on unseen questions: greedy accuracy, and Pass@k / mG-Pass@k from n samples per question."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import summarise_samples
from .params import EvalParams
from .sampling import generate
from .worlds import World, world_for


@dataclass
class EvalResult:
    """Per-question results of one model on one question set."""

    greedy_correct: np.ndarray  # (Q,) bool
    sample_correct: np.ndarray  # (Q, n) bool
    sample_trajectory_tokens: np.ndarray  # (Q, n) tokens generated before the answer suffix
    sample_trajectory_correct: np.ndarray  # (Q, n) bool: a complete, step-by-step correct trajectory
    greedy_completions: list[str]
    sample_answer_correct: np.ndarray | None = None  # (Q, n) bool: the right answer in any format (strict, or
    # recovered from a malformed completion as GRPO's reward recovers it): what on-policy RL gets signal from

    def summary(self, k: int) -> dict:
        """Returns greedy accuracy, sample accuracy, Pass@k, mG-Pass@k and mean trajectory length."""
        out = summarise_samples(self.sample_correct, k)
        out["greedy_accuracy"] = float(self.greedy_correct.mean())
        out["mean_trajectory_tokens"] = float(self.sample_trajectory_tokens.mean())
        out["correct_trajectory_rate"] = float(self.sample_trajectory_correct.mean())
        if self.sample_answer_correct is not None:
            out["any_format_accuracy"] = float(self.sample_answer_correct.mean())
        return out


def world_of_problems(problems: list, tokenizer) -> World:
    """Returns the world ``problems`` belong to (read off their families), in ``tokenizer``'s format."""
    return world_for(sorted({p.family for p in problems}), tokenizer)


def evaluate(model, tokenizer, problems: list, params: EvalParams, seed: int = 0,
             delimiter: bool = True, progress: bool = False, sampler=generate) -> EvalResult:
    """Returns the greedy and sampled correctness of ``model`` on ``problems`` (answers checked strictly).

    ``sampler`` has the signature of ``sampling.generate`` (the vLLM backend of ``sampling.sampler_for`` too).
    """
    world = world_of_problems(problems, tokenizer)
    prompts = [world.prompt(p) for p in problems]
    kwargs = dict(max_new_tokens=params.max_new_tokens, batch_size=params.batch_size, progress=progress)
    greedy = [c[0] for c in sampler(model, tokenizer, prompts, greedy=True, **kwargs)]
    samples = sampler(model, tokenizer, prompts, n_samples=params.n_samples, temperature=params.temperature,
                      seed=seed, **kwargs)
    trajectories = [world.trajectory_of(c) for row in samples for c in row]  # one tokenizer call for all of them
    lengths = np.array([len(ids) for ids in tokenizer(trajectories, add_special_tokens=False)["input_ids"]]
                       if trajectories else [], dtype=np.int64).reshape(len(samples), params.n_samples)
    return score(world, problems, greedy, samples, lengths, delimiter)


def score(world: World, problems: list, greedy: list[str], samples: list[list[str]], trajectory_tokens: np.ndarray,
          delimiter: bool = True) -> EvalResult:
    """Returns the ``EvalResult`` of greedy and sampled completions of ``problems`` (answers parsed strictly in the
    ``delimiter`` format of ``world``), with ``trajectory_tokens`` (Q, n) as the samples' trajectory lengths."""
    def correct(completion, problem) -> bool:
        return world.is_correct(problem, world.parse_completion(completion, delimiter))

    def right_answer(completion, problem) -> bool:
        return correct(completion, problem) or world.is_correct(problem, world.recovered_answer(completion))

    greedy_correct = np.array([correct(c, p) for c, p in zip(greedy, problems)], dtype=bool)
    sample_correct = np.array([[correct(c, p) for c in row] for row, p in zip(samples, problems)], dtype=bool)
    # Credited only with the right answer too: a valid trajectory followed by a wrong answer is not "correct".
    trajectory_correct = np.array([[world.trajectory_is_correct(p, world.trajectory_of(c)) for c in row]
                                   for row, p in zip(samples, problems)], dtype=bool) & sample_correct
    answer_correct = np.array([[right_answer(c, p) for c in row] for row, p in zip(samples, problems)], dtype=bool)
    return EvalResult(greedy_correct, sample_correct, np.asarray(trajectory_tokens), trajectory_correct, greedy,
                      answer_correct)
