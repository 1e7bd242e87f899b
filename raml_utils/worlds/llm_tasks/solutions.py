"""Worked solutions of the LLM world's questions, as steps of one calculation each, and the orders they may be
written in.

A step keeps its calculation in two forms (``short``: the equation; ``long``: spelled out in words and checked by
its inverse) and writes itself in each of the study's styles. gsm_symbolic's steps are the lines of the generator's
worked solution, in its order; the other families' steps are built from the entry's metadata, in any order.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import re
from dataclasses import dataclass

from ..llm import EQUATION, Problem, carry_forward, evaluate_arithmetic, format_number, solution_lines
from .families import FAMILIES

FILLER = " ."  # neutral filler of the padded style


@dataclass(frozen=True)
class Step:
    """One calculation of a worked solution; ``{r}`` in the templates stands for its result."""

    short: str  # e.g. "42 - 25 = {r}"
    long: str  # e.g. "Take 25 away from 42: 42 - 25 = {r}. Check: {r} + 25 = 42."
    result: str  # e.g. "17"

    def text(self, style: str, result: str | None = None) -> str:
        r = self.result if result is None else result
        if style == "compressed":
            return r + "\n"
        if style == "padded":
            n_fill = max(0, (len(self.long) - len(self.short)) // len(FILLER))
            return self.short.replace("{r}", r).replace("=", "=" + FILLER * n_fill, 1) + "\n"
        return (self.long if style == "long" else self.short).replace("{r}", r) + "\n"


_INVERSE = {"+": "-", "-": "+", "*": "/", "×": "÷", "x": "÷", "/": "×", "÷": "×"}


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def gsm_step(line: str) -> Step:
    """Returns a solution line as a step: its first equation's result is the step's result, checked by undoing its
    last operation where that is well defined (one operation, or only + and -; not "4 + 2 * 3 = 10")."""
    m = EQUATION.search(line)
    if m is None:
        return Step(_escape(line), _escape(line), "")
    terms = re.split(r"\s*([-+*/×x÷])\s*", m.group(1))
    ops = terms[1::2]
    template = _escape(line[:m.start(2)]) + "{r}" + _escape(line[m.end(2):])
    check = ""
    if len(ops) == 1 or all(op in "+-" for op in ops):
        undone = format_number(evaluate_arithmetic(" ".join(terms[:-2])))  # the left side before its last operation
        check = f" (check: {{r}} {_INVERSE[ops[-1]]} {terms[-1]} = {undone})"
    return Step(template, template + check, m.group(2))


def solution_steps(problem: Problem, order: tuple[int, ...] | None = None,
                   misread: tuple[int, int] | None = None) -> list[Step] | None:
    """Returns the steps of a worked solution of ``problem`` in ``order`` (None: the generator's), or None if the
    solution cannot be written as checkable steps (a gsm line without a plain ``a op b = c`` equation).

    ``misread=(j, delta)`` corrupts the solution, the error carried forward to a wrong final answer, as the toy
    world's misread does: the j-th step written reads its operand (a number, a count of animals, a count of
    letters) off by ``delta``; in gsm_symbolic, whose solutions come as text, the first computed result is off by
    ``delta`` and every later equation is recomputed (``worlds.llm.carry_forward``; None if it cannot be).
    """
    meta = problem.metadata
    j, delta = misread if misread is not None else (-1, 0)
    if problem.family == "gsm_symbolic":
        lines = solution_lines(problem.solution)
        if misread is not None:
            lines = _corrupted_gsm_lines(problem, lines, delta)
            if lines is None:
                return None
        steps = [gsm_step(line) for line in lines]
        # Kept only if every line computes one result that can be checked and the last one is the answer
        # (lines like "6 days/week * 2 weeks/month = 12" cannot be rewritten in the other styles).
        ok = steps and all(s.result for s in steps) and \
            (float(steps[-1].result) == float(problem.answer)) == (misread is None)
        return steps if ok else None
    if problem.family == "chain_sum":
        terms = re.findall(r"([-+]?)\s*(\d+)", meta["expression"])
        ops = [(op or "+", int(v)) for op, v in terms]
        start, rest = ops[0][1], ops[1:]
        order = order or tuple(range(len(rest)))
        value, steps = start, []
        for pos, i in enumerate(order):
            op, v = rest[i]
            v += delta if pos == j else 0
            new = value + v if op == "+" else value - v
            verb = f"Add {v} to {value}" if op == "+" else f"Take {v} away from {value}"
            steps.append(Step(f"{value} {op} {v} = {{r}}", f"{verb}: {value} {op} {v} = {{r}}. "
                              f"Check: {{r}} {_INVERSE[op]} {v} = {value}.", str(new)))
            value = new
        return steps
    if problem.family == "leg_counting":
        from reasoning_gym.arithmetic.leg_counting import ANIMALS

        kinds = list(meta["animals"].items())
        order = order or tuple(range(len(kinds)))
        total, steps = 0, []
        for pos, i in enumerate(order):
            animal, count = kinds[i]
            count += delta if pos == j else 0
            legs = ANIMALS[animal]
            new = total + count * legs
            steps.append(Step(f"{total} + {count} × {legs} = {{r}}",
                              f"A {animal} has {legs} legs, so {count} of them have {count} × {legs} = {count * legs} "
                              f"legs; the total so far is {total} + {count * legs} = {{r}}. Check: {{r}} - {total} = "
                              f"{count * legs}.", str(new)))
            total = new
        return steps
    if problem.family == "letter_counting":
        letter, total, steps = meta["target_letter"], 0, []
        words = meta["span"]
        order = order or tuple(range(len(words)))
        for pos, i in enumerate(order):
            word = words[i]
            count = word.lower().count(letter) + (delta if pos == j else 0)
            new = total + count
            steps.append(Step(f"{word}: {total} + {count} = {{r}}",
                              f'"{word}" is spelled {"-".join(word)}; it has {count} "{letter}", so the count is '
                              f"{total} + {count} = {{r}}. Check: {{r}} - {count} = {total}.", str(new)))
            total = new
        return steps
    raise ValueError(f"family={problem.family!r} is not an LLM-world family; allowed: {', '.join(FAMILIES)}")


def _corrupted_gsm_lines(problem: Problem, lines: list[str], delta: int) -> list[str] | None:
    text = carry_forward(dataclasses.replace(problem, solution="\n".join(lines)), delta)
    return None if text is None else text.split("\n")


def distinct_orders(problem: Problem, n: int, rng: random.Random) -> list[tuple[int, ...] | None]:
    """Returns up to ``n`` distinct valid step orders (the generator's first), sampled without replacement."""
    if problem.family == "gsm_symbolic":
        return [None]
    size = len(solution_steps(problem))
    first = tuple(range(size))
    if math.factorial(size) <= 4 * n:
        rest = [o for o in itertools.permutations(range(size)) if o != first]
        rng.shuffle(rest)
        return [first] + rest[: n - 1]
    seen = {first}
    while len(seen) < min(n, math.factorial(size)):
        seen.add(tuple(rng.sample(range(size), size)))
    return [first] + sorted(seen - {first})[: n - 1]
