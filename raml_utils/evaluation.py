"""Evaluation on unseen questions: greedy accuracy, and Pass@k / mG-Pass@k from n samples per question."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import summarise_samples
from .params import EvalParams
from .sampling import generate
from .worlds.toy import Problem, TrajectorySpec, parse_completion, render, trajectory_is_correct, trajectory_of


@dataclass
class EvalResult:
    """Per-question results of one model on one question set."""

    greedy_correct: np.ndarray  # (Q,) bool
    sample_correct: np.ndarray  # (Q, n) bool
    sample_trajectory_tokens: np.ndarray  # (Q, n) tokens generated before the answer suffix
    sample_trajectory_correct: np.ndarray  # (Q, n) bool: a complete, step-by-step correct trajectory
    greedy_completions: list[str]

    def summary(self, k: int) -> dict:
        """Returns greedy accuracy, sample accuracy, Pass@k, mG-Pass@k and mean trajectory length."""
        out = summarise_samples(self.sample_correct, k)
        out["greedy_accuracy"] = float(self.greedy_correct.mean())
        out["mean_trajectory_tokens"] = float(self.sample_trajectory_tokens.mean())
        out["correct_trajectory_rate"] = float(self.sample_trajectory_correct.mean())
        return out


def evaluate(model, tokenizer, problems: list[Problem], params: EvalParams, seed: int = 0,
             delimiter: bool = True, progress: bool = False) -> EvalResult:
    """Returns the greedy and sampled correctness of ``model`` on ``problems`` (answers checked strictly)."""
    prompts = [render(p, TrajectorySpec("answer_only")).prompt for p in problems]
    kwargs = dict(max_new_tokens=params.max_new_tokens, batch_size=params.batch_size, progress=progress)
    greedy = [c[0] for c in generate(model, tokenizer, prompts, greedy=True, **kwargs)]
    samples = generate(model, tokenizer, prompts, n_samples=params.n_samples, temperature=params.temperature,
                       seed=seed, **kwargs)
    lengths = np.array([[len(tokenizer(trajectory_of(c), add_special_tokens=False)["input_ids"]) for c in row]
                        for row in samples])
    return score(problems, greedy, samples, lengths, delimiter)


def score(problems: list[Problem], greedy: list[str], samples: list[list[str]], trajectory_tokens: np.ndarray,
          delimiter: bool = True) -> EvalResult:
    """Returns the ``EvalResult`` of greedy and sampled completions of ``problems`` (answers parsed strictly in the
    ``delimiter`` format), with ``trajectory_tokens`` (Q, n) as the samples' trajectory lengths."""
    answers = np.array([p.answer for p in problems])
    greedy_correct = np.array([parse_completion(c, delimiter) for c in greedy], dtype=object) == answers
    sample_correct = np.array([[parse_completion(c, delimiter) == a for c in row] for row, a in zip(samples, answers)])
    # Credited only with the right answer too: a valid trajectory followed by a wrong answer is not "correct".
    trajectory_correct = np.array([[trajectory_is_correct(p, trajectory_of(c)) for c in row]
                                   for row, p in zip(samples, problems)]) & sample_correct
    return EvalResult(greedy_correct.astype(bool), sample_correct, np.asarray(trajectory_tokens), trajectory_correct,
                      greedy)
