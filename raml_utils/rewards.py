"""The paper's reward, as GRPO scores its rollouts: 1 correct answer in the right format, 0 wrong answer in the
right format, -0.5 correct answer in a bad format, -1 wrong answer in a bad format.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from .worlds import ToyWorld, World, toy

CORRECT, WRONG, CORRECT_BAD_FORMAT, WRONG_BAD_FORMAT = 1.0, 0.0, -0.5, -1.0


def world_reward(world: World, completion: str, problem, delimiter: bool = True) -> float:
    """Returns the paper's reward (1, 0, -0.5 or -1) of ``completion`` for ``problem`` in ``world``.

    Right format means the world's strict parser accepts the completion (toy: one ``</think>`` right before the
    single ``<ans>``, two digits, ``<eos>``; LLM: one final ``\\boxed{}`` after the delimiter, then EOS); a bad format
    is any other completion, its answer recovered by ``world.recovered_answer`` (e.g. a missing delimiter, no EOS at
    the length limit, two answers).
    """
    well_formed = world.parse_completion(completion, delimiter)
    if well_formed is not None:
        return CORRECT if world.is_correct(problem, well_formed) else WRONG
    return CORRECT_BAD_FORMAT if world.is_correct(problem, world.recovered_answer(completion)) else WRONG_BAD_FORMAT


def paper_reward(completion: str, problem: toy.Problem, delimiter: bool = True) -> float:
    """Returns the paper's reward (1, 0, -0.5 or -1) of a completion of a toy ``problem``."""
    return world_reward(ToyWorld(), completion, problem, delimiter)


class PaperReward:
    """TRL reward function: decodes each rollout with its special tokens (TRL's text drops them) and scores it
    against its question (the dataset's ``question`` column indexes ``problems``)."""

    __name__ = "paper_reward"  # TRL logs rewards under the function's name

    def __init__(self, tokenizer, world: World, problems: list, delimiter: bool = True):
        self.tokenizer, self.world, self.problems, self.delimiter = tokenizer, world, problems, delimiter

    def __call__(self, prompts, completions, completion_ids, question, **kwargs) -> list[float]:
        texts = [self.tokenizer.decode(ids, skip_special_tokens=False) for ids in completion_ids]
        return [world_reward(self.world, t, self.problems[q], self.delimiter) for t, q in zip(texts, question)]


class AnswerAccuracy(PaperReward):
    """TRL reward function with weight 0 (``grpo_config``): logs the share of rollouts whose answer is correct
    in the right format (reward 1), as evaluation counts accuracy, without touching the advantages."""

    __name__ = "accuracy"

    def __call__(self, *args, **kwargs) -> list[float]:
        return [float(r == 1.0) for r in super().__call__(*args, **kwargs)]


def reward_examples(world: World, problem) -> "pd.DataFrame":
    """Returns the paper's reward of four completions of one question (the right answer or a wrong one, well formed
    or cut off before the end token, as at the length limit), as the GRPO runs score their rollouts."""
    right = world.render(problem)
    last = right.answer[-1]
    wrong = dataclasses.replace(right, answer=right.answer[:-1] + (str((int(last) + 1) % 10) if last.isdigit() else "1"))
    rows = []
    for answer, rendered in (("right", right), ("wrong", wrong)):
        for form, completion in (("well formed", rendered.completion),
                                 ("no end token", rendered.completion.removesuffix(rendered.end))):
            rows.append({"answer": answer, "format": form, "completion": completion,
                         "reward": world_reward(world, completion, problem)})
    return pd.DataFrame(rows)
