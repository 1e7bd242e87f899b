"""The LLM world's questions: reasoning-gym families at set difficulty levels, their worked solutions written in
the study's trajectory styles, and answers checked by reasoning-gym's own scorer.

Each family gives a question, its answer and the *steps* of a worked solution, one calculation each:

- ``gsm_symbolic``: GSM8K-style word problems; a step is one line of the generator's worked solution
  (``metadata['answer_cot']`` without its ``#### N`` line); the level is the number of lines (one order only);
- ``chain_sum``: ``level`` additions and subtractions of two-digit numbers; a step applies one operation to the
  running total; the operations may be applied in any order (``level!`` distinct valid trajectories);
- ``leg_counting``: ``level`` kinds of animals; a step counts one kind's legs and adds them to the running total;
  any order of the kinds is valid;
- ``letter_counting``: how often a letter occurs in a span of ``level`` words; a step counts one word (any order).

Styles mirror the toy world's: ``answer_only`` (no trajectory), ``short`` (each calculation as an equation; the
gsm solution as given), ``long`` (each calculation spelled out in words and checked by its inverse), ``padded``
(short, padded with neutral filler to the long style's length), ``reflection`` (one step first written with a
wrong result, whose check fails, then "Wait, ..." and the step redone), ``compressed`` (the results only).

Nothing generated is written to disk: gsm_symbolic's templates derive from a dataset licensed non-commercial,
no-derivatives.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import random
import re
from dataclasses import dataclass

from . import toy
from .llm import _EQUATION, ANSWER_SUFFIX, GSMProblem, _evaluate, _fmt, carry_forward, worked_solution

FAMILIES = ("gsm_symbolic", "chain_sum", "leg_counting", "letter_counting")
STYLES = ("answer_only", "short", "long", "padded", "reflection", "compressed")  # the toy world's, less coarse and column
INSTRUCTION = "Reason step by step, then give the final answer as \\boxed{answer}."
THINK, END_THINK = "<think>\n", "\n</think>"  # plain text here: SmolLM2's vocabulary has no thinking markers
ANSWER_END = "}"
REFLECTION = "Wait, that check fails. Let me redo this step.\n"
FILLER = " ."  # neutral filler of the padded style


@dataclass(frozen=True)
class Problem:
    """One reasoning-gym question (a task, in the paper's terms) with what its scorer needs."""

    family: str
    level: int  # difficulty: the number of calculation steps of its worked solution
    question: str
    answer: str
    entry: str  # the reasoning-gym entry (question, answer, metadata) as JSON: its scorer reads it

    @property
    def k(self) -> int:  # the toy world's name for the difficulty, read by tables and plots
        return self.level

    @property
    def key(self) -> str:
        return f"{self.family}:{self.question}"

    @property
    def metadata(self) -> dict:
        return json.loads(self.entry)["metadata"]


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


# --- problem generation ------------------------------------------------------------------------------------------

LEVELS = {"gsm_symbolic": (2, 3, 4, 5), "chain_sum": tuple(range(1, 9)), "leg_counting": tuple(range(1, 9)),
          "letter_counting": tuple(range(1, 9))}  # gsm_symbolic: its worked solutions have 2-5 checkable lines


def levels_of(families) -> tuple[int, ...]:
    """Returns the levels every one of ``families`` has."""
    return tuple(sorted(set.intersection(*(set(LEVELS[f]) for f in families)))) if families else ()


def _config(family: str, level: int) -> dict:
    """Returns the reasoning-gym config of ``family`` at ``level``."""
    if family == "chain_sum":
        return dict(min_terms=level + 1, max_terms=level + 1, min_digits=2, max_digits=2)
    if family == "leg_counting":
        return dict(min_animals=level, max_animals=level, min_instances=1, max_instances=6)
    if family == "letter_counting":
        return dict(min_words=level, max_words=level)
    if family == "gsm_symbolic":
        return {}
    raise ValueError(f"family={family!r} is not an LLM-world family; allowed: {', '.join(FAMILIES)}")


def _gsm_lines(entry: dict) -> list[str]:
    return [line.strip() for line in worked_solution(entry["metadata"]["answer_cot"]).splitlines() if line.strip()]


def split_of(key: str, test_fraction: float) -> str:
    """Returns 'train' or 'test' from a hash of the question, so splits never overlap whatever the seed."""
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "train"


def _entries(family: str, level: int, seed: int):
    """Yields reasoning-gym entries of ``family`` at ``level`` (gsm_symbolic: filtered by solution length)."""
    import reasoning_gym

    found = 0
    for chunk in itertools.count():
        dataset = reasoning_gym.create_dataset(family, size=500, seed=seed * 1000 + chunk, **_config(family, level))
        for entry in dataset:
            if family != "gsm_symbolic" or len(_gsm_lines(entry)) == level:
                found += 1
                yield entry
        if chunk >= 20 and found < chunk:
            raise ValueError(f"{family} has too few questions at level {level} ({found} in {500 * (chunk + 1)} "
                             "generated); gsm_symbolic's worked solutions have 2-5 checkable lines")


def make_problems(n: int, split: str, seed: int, families=("gsm_symbolic", "chain_sum"), levels=(2, 3),
                  test_fraction: float = 0.2) -> list[Problem]:
    """Returns ``n`` distinct problems of ``split``, balanced over families and levels, deterministic in ``seed``.

    Raises ValueError when the generators give too few distinct questions of ``split`` (after a bounded number of
    draws, as the toy world's ``make_problems`` does, instead of looping forever).
    """
    cells = [(f, k) for f in families for k in levels]
    sources = {cell: _entries(*cell, seed=seed) for cell in cells}
    out, seen, draws = [], set(), 0
    while len(out) < n:
        draws += 1
        if draws > toy.MAX_DRAWS_PER_QUESTION * n + 10_000:
            raise ValueError(f"asked for {n} distinct {split} questions of families {tuple(families)} at levels "
                             f"{tuple(levels)}; found only {len(out)}: ask for fewer")
        family, level = cells[len(out) % len(cells)]
        entry = next(sources[family, level])
        p = Problem(family, level, entry["question"], str(entry["answer"]).strip(),
                    json.dumps({k: entry[k] for k in ("question", "answer", "metadata")}, sort_keys=True, default=str))
        if p.key not in seen and split_of(p.key, test_fraction) == split and solution_steps(p) is not None:
            seen.add(p.key)
            out.append(p)
    return out


# --- worked solutions ----------------------------------------------------------------------------------------------

_INVERSE = {"+": "-", "-": "+", "*": "/", "×": "÷", "x": "÷", "/": "×", "÷": "×"}


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _gsm_step(line: str) -> Step:
    """Returns a solution line as a step: its first equation's result is the step's result, checked by undoing its
    last operation where that is well defined (one operation, or only + and -; not "4 + 2 * 3 = 10")."""
    m = _EQUATION.search(line)
    if m is None:
        return Step(_escape(line), _escape(line), "")
    terms = re.split(r"\s*([-+*/×x÷])\s*", m.group(1))
    ops = terms[1::2]
    template = _escape(line[:m.start(2)]) + "{r}" + _escape(line[m.end(2):])
    check = ""
    if len(ops) == 1 or all(op in "+-" for op in ops):
        check = f" (check: {{r}} {_INVERSE[ops[-1]]} {terms[-1]} = {_fmt(_evaluate(' '.join(terms[:-2])))})"
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
        lines = _gsm_lines(json.loads(problem.entry))
        if misread is not None:
            lines = _corrupted_gsm_lines(problem, lines, delta)
            if lines is None:
                return None
        steps = [_gsm_step(line) for line in lines]
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
    text = carry_forward(GSMProblem(problem.question, problem.answer, "\n".join(lines)), delta)
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


# --- rendering -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rendered(toy.Rendered):
    """A problem written out in the LLM world's format: chat prompt, trajectory, answer suffix, boxed answer."""

    eos: str = "<|im_end|>"

    @property
    def suffix(self) -> str:
        return (END_THINK if self.delimiter else "") + ANSWER_SUFFIX

    @property
    def end(self) -> str:
        return ANSWER_END + self.eos

    @property
    def completion(self) -> str:
        return self.trajectory + self.suffix + self.answer + self.end


@dataclass(frozen=True)
class Template:
    """What rendering needs from the model's tokenizer: its chat template around a question, and its EOS."""

    before: str  # chat text before the user's question
    after: str  # chat text from the end of the question to the start of the assistant's reply
    eos: str

    @classmethod
    def of(cls, tokenizer) -> "Template":
        marker = "\x00QUESTION\x00"
        text = tokenizer.apply_chat_template([{"role": "user", "content": marker}], tokenize=False,
                                             add_generation_prompt=True)
        before, after = text.split(marker)
        return cls(before, after, tokenizer.eos_token)

    def prompt(self, question: str) -> str:
        return f"{self.before}{question}\n{INSTRUCTION}{self.after}{THINK}"


def render(problem: Problem, spec: toy.TrajectorySpec, template: Template) -> Rendered:
    """Returns ``problem`` written with the trajectory ``spec`` describes (style, order, delimiter, reflection).

    ``spec.reflection = (position, delta)`` writes step ``position`` first with its result off by ``delta``.
    """
    prompt = template.prompt(problem.question)
    if spec.style == "answer_only":
        return Rendered(prompt, (), problem.answer, spec.delimiter, eos=template.eos)
    style = spec.reflection_style if spec.style == "reflection" else spec.style
    steps = solution_steps(problem, spec.order, spec.misread)
    if steps is None:
        raise ValueError(f"{problem.family} question cannot be written with misread={spec.misread}: {problem.question!r}")
    texts = [s.text(style) for s in steps]
    if spec.style == "reflection":
        pos, delta = spec.reflection or (0, 1)
        pos = min(pos, len(steps) - 1)
        if steps[pos].result:
            wrong = _fmt(float(steps[pos].result) + delta)
            texts.insert(pos, steps[pos].text(style, wrong) + REFLECTION)
    return Rendered(prompt, tuple(texts), problem.answer, spec.delimiter, eos=template.eos)


def force_answer(rendered: Rendered, trajectory: str) -> Rendered:
    """Returns ``rendered`` with its trajectory replaced by free text (e.g. a sampled prefix), answer forced after it."""
    return Rendered(rendered.prompt, (trajectory,) if trajectory else (), rendered.answer, rendered.delimiter,
                    forced=True, eos=rendered.eos)


# --- answer checking -----------------------------------------------------------------------------------------------

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


# --- training sets -------------------------------------------------------------------------------------------------

def cut_anywhere(rendered: Rendered, n_words: int) -> Rendered:
    """Returns the trajectory cut after its first ``n_words`` words (mid-step too), the answer forced after the cut.

    The LLM world's version of ``toy.cut_anywhere``: a word (with the whitespace before it) is the unit, since the
    model's sub-word tokens are not known here; it keeps the answer probe calibrated inside steps.
    """
    pieces = words(rendered.trajectory)
    if not 0 <= n_words <= len(pieces):
        raise ValueError(f"n_words={n_words} outside 0..{len(pieces)}")
    return force_answer(rendered, "".join(pieces[:n_words]))


def words(trajectory: str) -> list[str]:
    """Returns the trajectory cut into words, each with the white space before it (they join back to it)."""
    return re.findall(r"\s*\S+", trajectory)


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
