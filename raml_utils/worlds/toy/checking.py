"""Checking what a model wrote in the toy world: the strict parse of a completion's answer, the answer a malformed
completion still states, and whether a trajectory solves its question step by step (any valid order)."""

from __future__ import annotations

import re

from .problems import NAMES, Problem, apply_ops, combine
from .tokenizer import ANSWER, END_THINK, EOS, FILLER, THINK
from .trajectories import column_steps, start_step, step_long_detail


def parse_completion(completion: str, delimiter: bool = True) -> int | None:
    """Returns the answer stated by a well-formed completion, or None if it is malformed in any way.

    Well-formed: ``trajectory [</think>] <ans> dd <eos>`` with exactly one answer marker, the delimiter
    exactly where the format asks for it, and a two-digit answer. Nothing malformed is ever credited.
    """
    if not completion.endswith(EOS) or completion.count(ANSWER) != 1 or completion.count(EOS) != 1:
        return None
    trajectory, answer = completion[: -len(EOS)].split(ANSWER)
    if delimiter:
        if trajectory.count(END_THINK) != 1 or not trajectory.endswith(END_THINK):
            return None
    elif END_THINK in trajectory:
        return None
    if THINK in trajectory or len(answer) != 2 or not answer.isdigit():
        return None
    return int(answer)


_STATED_ANSWER = re.compile(re.escape(ANSWER) + r"(\d+)")


def recovered_answer(completion: str) -> int | None:
    """Returns the answer a completion states even if malformed: the digits right after its last ``<ans>``.

    The digit run must be exactly two digits (``<ans>421`` states 421, not 42); no marker means no answer.
    """
    stated = _STATED_ANSWER.findall(completion)
    return int(stated[-1]) if stated and len(stated[-1]) == 2 else None


def trajectory_of(completion: str) -> str:
    """Returns the trajectory part of a completion: the text before the delimiter or answer marker."""
    cut = [i for i in (completion.find(END_THINK), completion.find(ANSWER)) if i >= 0]
    return completion[: min(cut)] if cut else completion.replace(EOS, "")


# One written step of an op-by-op style (short, long, padded, coarse), its closing ";" removed.
_STEP = re.compile(r"(?:(?P<lookups>[a-j]=\d\d(?:,[a-j]=\d\d)*):)?(?P<head>\d\d(?:[+-]\d\d)+)"
                   r"(?::(?P<detail>[\d+\-=,]+))?=(?P<result>\d\d)")
_OPERATION = re.compile(r"([+-])(\d\d)")


def trajectory_is_correct(problem: Problem, trajectory: str) -> bool:
    """Returns True if ``trajectory`` solves ``problem`` step by step, in any valid order of its operations.

    Every step (short, long, padded or coarse style) must be well formed and arithmetically right, its column
    work (long style) exactly the right columns, a ``vars`` lookup the bound value, start from the previous step's
    result (the first from the start value), and the steps must use each of the problem's operations exactly once.
    A carry-world list question may instead be worked in the ``column`` style, exactly. An empty trajectory
    (answer only) is never correct.
    """
    if problem.family == "carry_list" and trajectory == "".join(column_steps(problem)):
        return True
    body = trajectory.removeprefix(start_step(problem)[0]) if start_step(problem) else trajectory
    if start_step(problem) and not trajectory.startswith(start_step(problem)[0]):
        return False
    body = body.replace(FILLER, "")
    if not body.endswith(";"):
        return False
    value, used = problem.values[0], []
    bound = {NAMES[i]: v for i, v in enumerate(problem.values)} if start_step(problem) else {}
    for text in body[:-1].split(";"):
        m = _STEP.fullmatch(text)
        if m is None or int(m["head"][:2]) != value:
            return False
        operations = [(op, int(v)) for op, v in _OPERATION.findall(m["head"][2:])]
        lookups = dict((name, int(v)) for name, v in (x.split("=") for x in m["lookups"].split(","))) \
            if m["lookups"] else {}
        if bound and (len(lookups) != len(operations) or any(bound.get(n) != v for n, v in lookups.items())):
            return False
        if m["detail"] is not None and (len(operations) != 1 or m["detail"] != step_long_detail(
                value, *operations[0], problem.carries)):
            return False
        value = apply_ops(value, operations, problem.carries)
        if int(m["result"]) != value:
            return False
        used += operations
    return sorted(used) == sorted(zip(problem.ops, problem.values[1:])) and value == problem.answer


# One step of the ``compressed_ops`` style: the lookup (vars), the operation and the result (``b=45:+45=82``).
_OPS_STEP = re.compile(r"(?:(?P<lookup>[a-j]=\d\d):)?(?P<op>[+-])(?P<value>\d\d)=(?P<result>\d\d)")


def compressed_is_correct(problem: Problem, trajectory: str, style: str | None = None) -> bool:
    """Returns True if ``trajectory`` is a correct compressed trajectory of ``problem`` in some order of its steps,
    in ``style`` (None: either compressed style; a ``vars`` trajectory opens with the start-value lookup in both).

    ``compressed``: every step a two-digit running result followed by ``;``, reachable from the previous one by one
    unused operation, ending at the answer. ``compressed_ops``: every step an operation and its result, checked as
    the short step it shortens (the running value it starts from written back in: ``trajectory_is_correct``).
    """
    start = start_step(problem)
    body = trajectory.removeprefix(start[0]) if start else trajectory
    if start and not trajectory.startswith(start[0]):
        return False
    if style not in (None, "compressed", "compressed_ops"):
        raise ValueError(f"style={style!r} is not a compressed style")
    steps = [_OPS_STEP.fullmatch(s) for s in body[:-1].split(";")] if body.endswith(";") else [None]
    if style != "compressed" and all(steps):
        value, short = problem.values[0], []
        for m in steps:
            short.append(f"{m['lookup'] + ':' if m['lookup'] else ''}{value:02d}{m['op']}{m['value']}={m['result']};")
            value = int(m["result"])
        return trajectory_is_correct(problem, "".join(start) + "".join(short))
    if style == "compressed_ops" or not re.fullmatch(r"(\d\d;)+", body):
        return False
    targets = [int(v) for v in body[:-1].split(";")]
    if len(targets) != problem.k:
        return False
    operations = list(zip(problem.ops, problem.values[1:]))

    def reachable(value: int, pos: int, unused: tuple[int, ...]) -> bool:
        if pos == len(targets):
            return True
        return any(combine(value, *operations[i], problem.carries) == targets[pos]
                   and reachable(targets[pos], pos + 1, tuple(j for j in unused if j != i)) for i in unused)

    return reachable(problem.values[0], 0, tuple(range(problem.k)))
