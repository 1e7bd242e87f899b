"""The toy world: multi-step arithmetic on two-digit numbers in three task families, written as reasoning trajectories.

Every question is an expression ``v0 op1 v1 op2 v2 ...`` over two-digit numbers with k operations (k = difficulty,
the rung of the difficulty ladder); the answer has two digits (chance 1/100 per sample). Two arithmetics, one per
version of the world, and a family's name says which:

- **carry world** (version 2, the default; ``carry_chain``, ``carry_vars``, ``carry_list``): real base-10 ``+`` and
  ``-`` with carries and borrows, modulo 100 (``37+85 = 22``). One operation is two columns and a carry, which a
  ~1M-parameter model does not compute as reliably in one written step (``short``: ``37+85=22;``) as column by column
  (``long``: ``37+85:7+5=12,3+8+1=12=22;``, a borrow written as ``12-5=7``): inner-loop work that does not fit in
  one step. No order of the operations is favoured: the base model, and every trajectory a training set writes,
  takes a random valid order per question (``distinct_orders``).
- **digit-wise world** (version 1; ``chain``, ``vars``, ``list``): each digit modulo 10, no carries
  (``37+45 = 72``), trajectories in the left-to-right order first. Kept so that ``params/cpu_v1.yaml`` reruns the
  first study as it was.

The families share one step format (``37+85=22;``) and pose the question differently:

- ``chain``: the expression inline, ``37+45-12+08``;
- ``vars``: variable bindings in shuffled order, then the expression over names, ``b=45,a=37;a+b``;
- ``list``: the sum of a list, ``sum(37,45,12)``.

A trajectory is a sequence of steps, one running result per operation; since + and - commute mod 100, any order of
the operations 1..k is a valid trajectory (k! distinct ones), which the support-set experiment needs. The op-by-op
styles fix the answer only at their last step; the ``column`` style of the carry world's list family adds the whole
list column by column (``7+5+2=14;3+8+1+1=13;34;``), each column fixing one digit of the answer, so information
about the answer appears part by part along the trajectory (``answer_digit_positions`` says where). All trajectory
transforms of the study live here: styles, truncation with a forced answer, corruption carried forward, reflection,
compression, padding with filler tokens.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import random
import re
from dataclasses import dataclass

MOD = 100
CARRY_FAMILIES = ("carry_chain", "carry_vars", "carry_list")  # version 2: base-10 with carries (the default)
DIGITWISE_FAMILIES = ("chain", "vars", "list")  # version 1: digit-wise, no carries
FAMILIES = CARRY_FAMILIES + DIGITWISE_FAMILIES
STYLES = ("answer_only", "short", "long", "padded", "reflection", "compressed", "coarse", "column")
NAMES = "abcdefghij"

# Special tokens: each is one token of the tokenizer, never split into characters.
THINK, END_THINK, ANSWER, REFLECT, EOS, PAD, FILLER = "<think>", "</think>", "<ans>", "<wait>", "<eos>", "<pad>", "_"
SPECIAL_TOKENS = (PAD, EOS, THINK, END_THINK, ANSWER, REFLECT)
_TOKEN = re.compile("|".join(map(re.escape, SPECIAL_TOKENS)) + "|.", re.DOTALL)


def layout(family: str) -> str:
    """Returns how a family poses its question: "chain", "vars" or "list" (the same in both arithmetics)."""
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not a toy family; allowed: {', '.join(FAMILIES)}")
    return family.removeprefix("carry_")


def has_carries(family: str) -> bool:
    """Returns True for the carry world's families (real base-10 arithmetic), False for the digit-wise ones."""
    return layout(family) != family


def styles_of(family: str) -> tuple[str, ...]:
    """Returns the trajectory styles a family can be written in (``column``: the carry world's list family only)."""
    return STYLES if family == "carry_list" else tuple(s for s in STYLES if s != "column")


@dataclass(frozen=True)
class Problem:
    """One question (a task, in the paper's terms): ``values[0] ops[0] values[1] ...`` in its family's arithmetic."""

    family: str
    values: tuple[int, ...]  # k + 1 two-digit operands in 0..99
    ops: tuple[str, ...]  # k operators in "+-"
    binding_order: tuple[int, ...] = ()  # vars only: the order in which bindings are listed

    @property
    def k(self) -> int:
        return len(self.ops)

    @property
    def carries(self) -> bool:
        return has_carries(self.family)

    @property
    def answer(self) -> int:
        return apply_ops(self.values[0], zip(self.ops, self.values[1:]), self.carries)

    @property
    def key(self) -> str:
        """Identity of the question used for splits: the family and the expression."""
        return f"{self.family}:{self.values}:{self.ops}"

    def question(self) -> str:
        """Returns the question text of this problem's family."""
        nums = [f"{v:02d}" for v in self.values]
        if layout(self.family) == "chain":
            return nums[0] + "".join(op + n for op, n in zip(self.ops, nums[1:]))
        if layout(self.family) == "list":
            return "sum(" + ",".join(nums) + ")"
        bindings = ",".join(f"{NAMES[i]}={nums[i]}" for i in self.binding_order)
        return bindings + ";" + NAMES[0] + "".join(op + NAMES[i + 1] for i, op in enumerate(self.ops))


def combine(a: int, op: str, b: int, carries: bool = False) -> int:
    """Returns ``a op b`` modulo 100: with carries and borrows (the carry world), or digit-wise modulo 10 (units with
    units, tens with tens, no carries: the digit-wise world)."""
    sign = 1 if op == "+" else -1
    if carries:
        return (a + sign * b) % MOD
    return ((a // 10 + sign * (b // 10)) % 10) * 10 + (a % 10 + sign * (b % 10)) % 10


def apply_ops(start: int, ops_and_values, carries: bool = False) -> int:
    """Returns the running value after applying (op, value) pairs in one arithmetic."""
    value = start
    for op, v in ops_and_values:
        value = combine(value, op, v, carries)
    return value


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
    name: str = ""  # vars only: the variable looked up
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
        name = NAMES[i + 1] if layout(problem.family) == "vars" else ""
        steps.append(Step(value, problem.ops[i], operand, name, problem.carries))
        value = steps[-1].after
    return steps


def render_step(step: Step, style: str) -> str:
    """Returns one step written in ``style`` (short, long, padded or compressed)."""
    lookup = f"{step.name}={step.value:02d}:" if step.name else ""
    head = f"{step.before:02d}{step.op}{step.value:02d}"
    if style == "compressed":
        return f"{step.after:02d};"
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
    """Returns the lookup of the start value that opens a ``vars`` trajectory (no step elsewhere)."""
    return (f"{NAMES[0]}={problem.values[0]:02d};",) if layout(problem.family) == "vars" else ()


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


def trajectory_tokens(trajectory: str) -> list[str]:
    """Returns the trajectory split into the tokenizer's tokens: a marker (e.g. ``<wait>``) or one character."""
    return _TOKEN.findall(trajectory)


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


# --- problem generation and splits ---------------------------------------------------------------


def split_of(problem: Problem, test_fraction: float) -> str:
    """Returns 'train' or 'test' from a hash of the question, so splits never overlap whatever the seed."""
    h = int(hashlib.sha256(problem.key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "train"


@dataclass(frozen=True)
class ProblemSpace:
    """Which problems exist: families, levels (operations per question), operand range."""

    families: tuple[str, ...] = CARRY_FAMILIES
    levels: tuple[int, ...] = (2, 3, 4)
    operand_range: tuple[int, int] = (0, 99)  # inclusive; a held-out range makes a harder split
    test_fraction: float = 0.2


def sample_problem(family: str, k: int, rng: random.Random, operand_range: tuple[int, int] = (0, 99)) -> Problem:
    """Returns a random problem of ``family`` with ``k`` operations."""
    lo, hi = operand_range
    values = tuple(rng.randint(lo, hi) for _ in range(k + 1))
    ops = tuple("+" for _ in range(k)) if layout(family) == "list" else tuple(rng.choice("+-") for _ in range(k))
    order = tuple(rng.sample(range(k + 1), k + 1)) if layout(family) == "vars" else ()
    return Problem(family, values, ops, order)


UNSEEN_OPERANDS = (80, 99)  # every operand of the ``unseen_operands`` test split lies in this band; no fine-tuning
# question of the shipped profiles at that length has all its operands there (tested). The split's name is its
# evaluation cache key: a different band needs a new name.
MAX_DRAWS_PER_QUESTION = 200  # make_problems gives up after this many draws per question asked for
EXACT_CAPACITY_UP_TO = 200_000  # questions in a cell counted one by one up to this size; larger cells are estimated


@functools.lru_cache(maxsize=None)
def split_capacity(family: str, k: int, split: str, operand_range=(0, 99), test_fraction=0.2) -> int:
    """Returns how many distinct questions of ``family`` with ``k`` operations fall in ``split``: counted one by one
    (the hash split) in a small cell, estimated from the split's share in a large one (where any count a profile
    could ask for fits)."""
    lo, hi = operand_range
    n_ops = 1 if layout(family) == "list" else 2 ** k
    size = (hi - lo + 1) ** (k + 1) * n_ops
    share = test_fraction if split == "test" else 1 - test_fraction
    if size > EXACT_CAPACITY_UP_TO:
        return int(size * share * 0.9)
    ops_choices = [("+",) * k] if layout(family) == "list" else list(itertools.product("+-", repeat=k))
    return sum(split_of(Problem(family, values, ops), test_fraction) == split
               for values in itertools.product(range(lo, hi + 1), repeat=k + 1) for ops in ops_choices)


def make_problems(
    n: int, split: str, seed: int, families=CARRY_FAMILIES, levels=(2, 3, 4), operand_range=(0, 99), test_fraction=0.2
) -> list[Problem]:
    """Returns ``n`` distinct problems of ``split``, balanced over families and levels, deterministic in ``seed``.

    Raises ValueError when the space holds too few distinct questions of ``split`` (after a bounded number of draws,
    instead of looping forever).
    """
    rng = random.Random(f"{seed}:{split}:{families}:{levels}:{operand_range}")
    cells = [(f, k) for f in families for k in levels]
    out, seen, draws = [], set(), 0
    while len(out) < n:
        draws += 1
        if draws > MAX_DRAWS_PER_QUESTION * n + 10_000:
            raise ValueError(f"asked for {n} distinct {split} questions of families {tuple(families)} at k in "
                             f"{tuple(levels)}; found only {len(out)}: ask for fewer")
        family, k = cells[len(out) % len(cells)]
        p = sample_problem(family, k, rng, operand_range)
        if p.key not in seen and split_of(p, test_fraction) == split:
            seen.add(p.key)
            out.append(p)
    return out


# --- tokenizer ----------------------------------------------------------------------------------

CHARS = "0123456789+-=:;,()_" + NAMES + "sum"


def build_tokenizer():
    """Returns a character-level ``PreTrainedTokenizerFast`` with the trajectory markers as single tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in dict.fromkeys(CHARS):
        vocab.setdefault(ch, len(vocab))
    vocab["<unk>"] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token="<unk>",
        additional_special_tokens=[THINK, END_THINK, ANSWER, REFLECT],
    )
    tok.padding_side = "left"  # generation pads prompts on the left
    return tok


# --- training sets ------------------------------------------------------------------------------


def longest_completion_tokens(k: int, families=FAMILIES) -> int:
    """Returns the tokens of the longest correct completion at difficulty ``k`` among ``families``' arithmetics: a
    ``vars`` question (a lookup per step) of 99s written in the ``reflection`` style (one extra wrong step), answer
    suffix included."""
    vars_families = {"carry_vars" if has_carries(f) else "vars" for f in families}
    lengths = []
    for family in vars_families:
        problem = Problem(family, (99,) * (k + 1), ("+",) * k, tuple(range(k + 1)))
        lengths.append(len(trajectory_tokens(render(problem, TrajectorySpec("reflection", reflection=(k - 1, 5)))
                                             .completion)))
    return max(lengths)


def fact_problems(n: int, seed: int, families=("chain",)) -> list[Problem]:
    """Returns ``n`` single-operation problems: the primitive facts every harder question is made of."""
    rng = random.Random(f"facts:{seed}")
    return [sample_problem(families[i % len(families)], 1, rng) for i in range(n)]


# --- answer checking ----------------------------------------------------------------------------


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


def compressed_is_correct(problem: Problem, trajectory: str) -> bool:
    """Returns True if ``trajectory`` is a correct compressed trajectory of ``problem`` in some order of its steps.

    Every step must be a two-digit running result followed by ``;`` (a ``vars`` trajectory opens with the start-value
    lookup), reachable from the previous one by one unused operation, ending at the answer.
    """
    start = start_step(problem)
    body = trajectory.removeprefix(start[0]) if start else trajectory
    if not re.fullmatch(r"(\d\d;)+", body) or (start and not trajectory.startswith(start[0])):
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
