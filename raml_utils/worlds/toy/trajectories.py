"""The toy world's trajectories: the styles a question is written in, and every transform of a written trajectory
the study uses (truncation with a forced answer, corruption carried forward, reflection, compression, padding).

A trajectory is a sequence of steps, one running result per operation; since + and - commute mod 100, any order of
the operations 1..k is a valid trajectory (k! distinct ones), which the support-set experiment needs. The op-by-op
styles fix the answer only at their last step; the ``column`` style of the carry world's list family adds the whole
list column by column (``7+5+2=14;3+8+1+1=13;34;``), each column fixing one digit of the answer, so information
about the answer appears part by part along the trajectory (``answer_digit_positions`` says where).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

from .problems import FAMILIES, MOD, NAMES, Problem, combine, layout, writes_lookups
from .tokenizer import ANSWER, END_THINK, EOS, FILLER, REFLECT, THINK, trajectory_tokens

STYLES = ("answer_only", "short", "long", "padded", "reflection", "compressed", "coarse", "column", "compressed_ops")


def styles_of(family: str) -> tuple[str, ...]:
    """Returns the trajectory styles a family can be written in (``column``: the carry world's list family only)."""
    return STYLES if family == "carry_list" else tuple(s for s in STYLES if s != "column")


def step_long_detail(a: int, op: str, b: int, carries: bool = False) -> str:
    """Returns the column-by-column sub-steps of ``a op b``, units first.

    Digit-wise: ``7+5=2,3+4=7``. With carries, a column's value carries into the next (``7+5=12,3+8+1=12``: the
    tens column adds the carry 1 and keeps the last digit); a column that must borrow is written from ten more
    (``12-5=7,13-8-1=4`` for 32-85 = 47 mod 100), and the tens column subtracts the borrow.
    """
    (a1, a0), (b1, b0) = divmod(a, 10), divmod(b, 10)
    if not carries:
        return f"{a0}{op}{b0}={combine(a0, op, b0) % 10},{a1}{op}{b1}={combine(a1, op, b1) % 10}"
    if op == "+":
        units = a0 + b0
        return f"{a0}+{b0}={units},{a1}+{b1}+{units // 10}={a1 + b1 + units // 10}"
    borrow = int(a0 < b0)
    tens_borrow = int(a1 - b1 - borrow < 0)
    units = f"{'1' if borrow else ''}{a0}-{b0}={a0 + 10 * borrow - b0}"
    return units + f",{'1' if tens_borrow else ''}{a1}-{b1}-{borrow}={a1 + 10 * tens_borrow - b1 - borrow}"


@dataclass(frozen=True)
class Rendered:
    """A problem written out as prompt + trajectory steps + answer suffix, ready to tokenize."""

    prompt: str  # question followed by the <think> marker
    steps: tuple[str, ...]  # the trajectory, one string per inner-loop step (may be empty)
    answer: str  # two digits
    delimiter: bool = True  # whether </think> closes the trajectory
    forced: bool = False  # True when the answer was forced after a truncated trajectory

    @property
    def suffix(self) -> str:
        """The answer suffix: end-of-thinking delimiter (if used) and answer marker."""
        return (END_THINK if self.delimiter else "") + ANSWER

    @property
    def trajectory(self) -> str:
        return "".join(self.steps)

    @property
    def end(self) -> str:
        """What closes the answer: the end-of-sequence token."""
        return EOS

    @property
    def completion(self) -> str:
        return self.trajectory + self.suffix + self.answer + self.end

    @property
    def text(self) -> str:
        return self.prompt + self.completion


@dataclass(frozen=True)
class Step:
    """One inner-loop step: the running value ``before`` combined with operand ``value`` by ``op``."""

    before: int
    op: str
    value: int
    name: str = ""  # the variable looked up, where the family writes it (``writes_lookups``)
    carries: bool = False  # the arithmetic: the carry world's, or digit-wise

    @property
    def after(self) -> int:
        return combine(self.before, self.op, self.value, self.carries)


def solve(problem: Problem, order: tuple[int, ...] | None = None, misread: tuple[int, int] | None = None) -> list[Step]:
    """Returns the steps of a trajectory that applies the operations in ``order`` (default 0..k-1).

    ``misread=(j, delta)`` adds ``delta`` to the operand of the j-th step written, and the error is
    carried forward: every later step starts from the wrong running value (a corrupted trajectory).
    """
    order = tuple(range(problem.k)) if order is None else order
    if sorted(order) != list(range(problem.k)):
        raise ValueError(f"order={order} is not a permutation of the {problem.k} operations")
    steps, value = [], problem.values[0]
    for pos, i in enumerate(order):
        operand = problem.values[i + 1]
        if misread is not None and misread[0] == pos:
            operand = (operand + misread[1]) % MOD
        name = NAMES[i + 1] if writes_lookups(problem.family) else ""
        steps.append(Step(value, problem.ops[i], operand, name, problem.carries))
        value = steps[-1].after
    return steps


def render_step(step: Step, style: str) -> str:
    """Returns one step written in ``style`` (short, long, padded, compressed or compressed_ops).

    ``compressed`` keeps only the running result (``82;``); ``compressed_ops`` keeps the operation and the result,
    dropping the running value it starts from (the previous step's result) and the long step's column work
    (``+45=82;``): with operations in any order, a step that names none leaves the model to choose one unwritten.
    """
    lookup = f"{step.name}={step.value:02d}:" if step.name else ""
    head = f"{step.before:02d}{step.op}{step.value:02d}"
    if style == "compressed":
        return f"{step.after:02d};"
    if style == "compressed_ops":
        return f"{lookup}{step.op}{step.value:02d}={step.after:02d};"
    if style == "long":
        return f"{lookup}{head}:{step_long_detail(step.before, step.op, step.value, step.carries)}={step.after:02d};"
    if style == "padded":  # the short step, with neutral filler up to the long step's length
        n_fill = len(render_step(step, "long")) - len(render_step(step, "short"))
        return f"{lookup}{head}={FILLER * n_fill}{step.after:02d};"
    return f"{lookup}{head}={step.after:02d};"


def coarse_steps(steps: list[Step]) -> list[str]:
    """Returns the steps merged in pairs, one running result per two operations (the last alone when k is odd):
    ``37+85-32=90;`` (a ``vars`` step looks both operands up first: ``b=85,c=32:37+85-32=90;``)."""
    out = []
    for pair in (steps[i:i + 2] for i in range(0, len(steps), 2)):
        lookups = ",".join(f"{s.name}={s.value:02d}" for s in pair if s.name)
        expr = f"{pair[0].before:02d}" + "".join(f"{s.op}{s.value:02d}" for s in pair)
        out.append(f"{lookups + ':' if lookups else ''}{expr}={pair[-1].after:02d};")
    return out


def column_steps(problem: Problem) -> tuple[str, ...]:
    """Returns the ``column`` trajectory of a carry-world list question: the units column, the tens column with the
    units' carry last, then the answer they spell (``7+5+2=14;3+8+1+1=13;34;`` for sum(37,85,12))."""
    if problem.family != "carry_list":
        raise ValueError(f"the column style adds a list column by column: carry_list only, not {problem.family}")
    units = sum(v % 10 for v in problem.values)
    tens = sum(v // 10 for v in problem.values) + units // 10
    return ("+".join(str(v % 10) for v in problem.values) + f"={units};",
            "+".join(str(v // 10) for v in problem.values) + f"+{units // 10}={tens};", f"{problem.answer:02d};")


def start_step(problem: Problem) -> tuple[str, ...]:
    """Returns the lookup of the start value that opens a trajectory of a family that writes its lookups (``vars``,
    ``carry_vars``; no step elsewhere)."""
    return (f"{NAMES[0]}={problem.values[0]:02d};",) if writes_lookups(problem.family) else ()


@dataclass(frozen=True)
class TrajectorySpec:
    """How to write a trajectory: the style, the order of operations, and optional errors."""

    style: str = "long"
    order: tuple[int, ...] | None = None
    delimiter: bool = True
    misread: tuple[int, int] | None = None  # corruption carried forward: (step position, operand delta)
    reflection: tuple[int, int] | None = None  # (step position, operand delta) of a wrong step then <wait>
    reflection_style: str = "long"  # the style in which a reflection trajectory writes its steps

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"style={self.style!r} is not a trajectory style; allowed: {', '.join(STYLES)}")


def render(problem: Problem, spec: TrajectorySpec = TrajectorySpec()) -> Rendered:
    """Returns the problem written with the trajectory described by ``spec``."""
    prompt = problem.question() + THINK
    answer = f"{problem.answer:02d}"
    if spec.style == "answer_only":
        return Rendered(prompt, (), answer, spec.delimiter)
    if spec.style == "column":  # one order of its own (the columns'); a reflection is the reflection style's only
        if spec.misread:
            raise ValueError("the column style has no misread operand")
        return Rendered(prompt, column_steps(problem), answer, spec.delimiter)
    solved = solve(problem, spec.order, spec.misread)
    if spec.style == "coarse":
        return Rendered(prompt, start_step(problem) + tuple(coarse_steps(solved)), answer, spec.delimiter)
    style = spec.reflection_style if spec.style == "reflection" else spec.style
    steps = [render_step(s, style) for s in solved]
    if spec.style == "reflection":
        pos, delta = spec.reflection or (0, 1)
        wrong = solve(problem, spec.order, (pos, delta))[pos]
        steps.insert(pos, render_step(wrong, style) + REFLECT)
    return Rendered(prompt, start_step(problem) + tuple(steps), answer, spec.delimiter)


def answer_digit_positions(problem: Problem, spec: TrajectorySpec) -> tuple[int, int]:
    """Returns, for the answer's tens and units digit, how many trajectory tokens precede the token that first
    writes it in its final place: a prefix that long does not hold the digit yet (the C1 shape metric reads the
    answer loss of a digit only before this point, so that copying a written digit never counts as descent).

    An op-by-op trajectory writes the answer's digits only in its last step (the long style in that step's tens
    and units columns, before the result); the ``column`` style writes the units digit with its first column's sum
    and the tens digit with its second's.
    """
    rendered = render(problem, spec)
    if not rendered.steps:
        raise ValueError("an answer-only trajectory writes no digit of the answer")

    def token_index(step: int, char: int) -> int:  # tokens before character ``char`` of step ``step``
        return len(trajectory_tokens("".join(rendered.steps[:step]) + rendered.steps[step][:char]))

    if spec.style == "column":
        tens, units = (token_index(i, len(rendered.steps[i]) - 2) for i in (1, 0))
        return tens, units
    last = len(rendered.steps) - 1
    text = rendered.steps[last].removesuffix(";")
    if "long" in (spec.style, spec.reflection_style if spec.style == "reflection" else None):
        work = text.rsplit("=", 1)[0]  # "[b=85:]37+85:7+5=12,3+8+1=12": the columns end the work
        units_end = len(work) - len(work.split(":")[-1]) + work.split(":")[-1].index(",")
        return token_index(last, len(work) - 1), token_index(last, units_end - 1)
    return token_index(last, len(text) - 2), token_index(last, len(text) - 1)


def truncate(rendered: Rendered, n_steps: int) -> Rendered:
    """Returns the trajectory cut after ``n_steps`` steps, with the answer forced right after the cut.

    This is budget forcing at step granularity (training cuts anywhere: ``cut_anywhere``).
    """
    if not 0 <= n_steps <= len(rendered.steps):
        raise ValueError(f"n_steps={n_steps} outside 0..{len(rendered.steps)}")
    return Rendered(rendered.prompt, rendered.steps[:n_steps], rendered.answer, rendered.delimiter, forced=True)


def cut_anywhere(rendered: Rendered, n_tokens: int) -> Rendered:
    """Returns the trajectory cut after its first ``n_tokens`` tokens (mid-step too), answer forced after the cut.

    The training-time cut that keeps the answer probe calibrated at every position of a trajectory, not only
    where a step ends (a model only ever asked to answer at step ends has no calibrated answer mid-step).
    """
    tokens = trajectory_tokens(rendered.trajectory)
    if not 0 <= n_tokens <= len(tokens):
        raise ValueError(f"n_tokens={n_tokens} outside 0..{len(tokens)}")
    return force_answer(rendered, "".join(tokens[:n_tokens]))


def force_answer(rendered: Rendered, trajectory: str) -> Rendered:
    """Returns ``rendered`` with its trajectory replaced by free text (e.g. a sampled prefix), answer forced after it."""
    return Rendered(rendered.prompt, (trajectory,) if trajectory else (), rendered.answer, rendered.delimiter, forced=True)


def distinct_orders(problem: Problem, n: int, rng: random.Random) -> list[tuple[int, ...]]:
    """Returns up to ``n`` valid operation orders that write distinct trajectories, sampled without replacement.

    The carry world favours no order: all are drawn at random (a support set of one is a random order, as the
    base's trajectories are), and two orders that apply the same operations in the same sequence (a repeated
    operand) count once. The digit-wise world puts the left-to-right order first and keeps its first study's draws.
    """
    identity = tuple(range(problem.k))
    if not problem.carries:
        if math.factorial(problem.k) <= 4 * n:
            rest = [o for o in itertools.permutations(range(problem.k)) if o != identity]
            rng.shuffle(rest)
            return [identity] + rest[: n - 1]
        seen = {identity}
        while len(seen) < n:
            seen.add(tuple(rng.sample(range(problem.k), problem.k)))
        return [identity] + sorted(seen - {identity})[: n - 1]

    def written(order):  # the sequence of operations an order writes
        return tuple((problem.ops[i], problem.values[i + 1]) for i in order)

    if math.factorial(problem.k) <= 4 * n:
        candidates = list(itertools.permutations(range(problem.k)))
        rng.shuffle(candidates)
    else:  # drawn one at a time, until n distinct ones (or a bounded number of draws)
        candidates = (tuple(rng.sample(range(problem.k), problem.k)) for _ in range(50 * n))
    chosen, seen = [], set()
    for order in candidates:
        if written(order) not in seen:
            seen.add(written(order))
            chosen.append(order)
            if len(chosen) == n:
                break
    return chosen


def longest_completion_tokens(k: int, families=FAMILIES) -> int:
    """Returns the tokens of the longest correct completion at difficulty ``k`` among ``families``: a question of 99s
    written in the ``reflection`` style (one extra wrong step), answer suffix included (the longest where a family
    writes a lookup per step)."""
    lengths = []
    for family in families:
        order = tuple(range(k + 1)) if layout(family) == "vars" else ()
        problem = Problem(family, (99,) * (k + 1), ("+",) * k, order)
        lengths.append(len(trajectory_tokens(render(problem, TrajectorySpec("reflection", reflection=(k - 1, 5)))
                                             .completion)))
    return max(lengths)
