"""Checking what a model wrote in the LLM world: the strict parse of a completion's boxed answer, the answer a
malformed one still states, reasoning-gym's scorer, and whether a trajectory derives the answer."""

from __future__ import annotations

import functools
import json
import re

from ..llm import Problem
from .solutions import solution_steps
from .trajectories import END_THINK

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


@functools.cache
def _scorer(family: str):
    import reasoning_gym

    return reasoning_gym.get_score_answer_fn(family)


def is_correct(problem: Problem, answer: str | None) -> bool:
    """Returns True if reasoning-gym's scorer gives ``answer`` full marks for ``problem`` (partial credit is wrong)."""
    return answer is not None and _scorer(problem.family)(answer.strip(), json.loads(problem.entry)) == 1.0


def parse_completion(completion: str, delimiter: bool = True, eos: str = "<|im_end|>") -> str | None:
    """Returns the answer of a well-formed completion, or None if it is malformed in any way.

    Well-formed: ``trajectory [</think>] \\boxed{answer} <eos>``: exactly one boxed answer, at the end (only
    whitespace and a full stop may follow it), the delimiter once and before it when the format asks for one,
    never otherwise, and the reply finished (EOS) within the budget.
    """
    if not completion.endswith(eos) or completion.count(eos) != 1:
        return None
    body = completion[: -len(eos)].rstrip().removesuffix(".").rstrip()
    boxes = list(_BOXED.finditer(body))
    if len(boxes) != 1 or boxes[0].end() != len(body):
        return None
    before = body[: boxes[0].start()]
    if delimiter != (before.count(END_THINK.strip()) == 1) or (delimiter and END_THINK.strip() in body[boxes[0].start():]):
        return None
    return boxes[0].group(1)


def recovered_answer(completion: str) -> str | None:
    """Returns the answer a completion states even if malformed: the content of its last ``\\boxed{}``, else its
    last number ("... so the final answer is 12." states 12), else None. A pretrained model that has not learnt the
    format answers in prose; GRPO's reward tells a right answer in a bad format (-0.5) from a wrong one (-1)."""
    boxes = _BOXED.findall(completion)
    if boxes:
        return boxes[-1]
    numbers = re.findall(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?", completion)  # "1,200" is 1200
    return numbers[-1].replace(",", "") if numbers else None


def trajectory_of(completion: str) -> str:
    """Returns the trajectory part of a completion: the text before the delimiter or the final-answer suffix."""
    cut = [i for i in (completion.find(END_THINK.strip()), completion.find("**Final Answer**"),
                       completion.find("\\boxed{")) if i >= 0]
    return completion[: min(cut)] if cut else completion


def trajectory_is_correct(problem: Problem, trajectory: str) -> bool:
    """Returns True if ``trajectory`` derives the answer: some calculation in it ends in ``= answer``.

    Weaker than the toy world's step-by-step check (free text cannot be parsed into steps in general); the
    evaluation credits it only together with a correct final answer, so it tells a derived answer from a guess.
    """
    return re.search(rf"=\s*{re.escape(problem.answer)}(?!\d|\.\d)", trajectory) is not None


def compressed_is_correct(problem: Problem, trajectory: str) -> bool:
    """Returns True if ``trajectory`` is a correct compressed trajectory of ``problem``: its lines are the running
    results of the worked solution's steps in one valid order (gsm_symbolic: the generator's order)."""
    lines = [line.strip() for line in trajectory.strip().splitlines()]
    results = [float(step.result) for step in solution_steps(problem)]
    if problem.family == "gsm_symbolic" or len(lines) != len(results):
        return len(lines) == len(results) and all(_same_number(a, b) for a, b in zip(lines, results))
    # Every other family adds one contribution per step to a running total: search the orders step by step.
    start = float(re.findall(r"-?\d+", problem.metadata["expression"])[0]) if problem.family == "chain_sum" else 0.0
    contributions = [b - a for a, b in zip([start, *results], results)]

    def reachable(value: float, pos: int, unused: frozenset) -> bool:
        return pos == len(lines) or any(_same_number(lines[pos], value + contributions[i])
                                         and reachable(value + contributions[i], pos + 1, unused - {i}) for i in unused)

    return reachable(start, 0, frozenset(range(len(results))))


def _same_number(text: str, value) -> bool:
    try:
        return float(text) == float(value)
    except ValueError:
        return False
