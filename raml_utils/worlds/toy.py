"""The toy world: multi-step digit-wise arithmetic in three task families, rendered as reasoning trajectories.

Every question is an expression ``v0 op1 v1 op2 v2 ...`` over two-digit numbers with k operations
(k = difficulty), computed **digit-wise modulo 10, without carries** (``37+45 = 72``: 7+5 -> 2, 3+4 -> 7).
Carry-free digits keep every primitive fact a single-digit sum, which a 1M-parameter transformer learns
in minutes on a CPU, while the answer still has two digits (chance 1/100).
The families share one step format (``37+45=82;``) but pose the question differently:

- ``chain``: the expression inline, ``37+45-12+08``;
- ``vars``: variable bindings in shuffled order, then the expression over names, ``b=45,a=37;a+b``;
- ``list``: the sum of a list, ``sum(37,45,12)``.

A trajectory is a sequence of steps, one running result per operation; since + and - commute mod 100,
any order of the operations 1..k is a valid trajectory (k! distinct ones), which is what the
support-set experiment needs. The answer has two digits (chance 1/100 per sample) and, in the
``long`` style, each step fixes the result digit by digit, so information about the answer can build
up along the trajectory. All trajectory transforms of the study live here: styles, truncation with
a forced answer, corruption carried forward, reflection, compression, padding with filler tokens.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

MOD = 100
FAMILIES = ("chain", "vars", "list")
STYLES = ("answer_only", "short", "long", "padded", "reflection", "compressed")
NAMES = "abcdefghij"

# Special tokens: each is one token of the tokenizer, never split into characters.
THINK, END_THINK, ANSWER, REFLECT, EOS, PAD, FILLER = "<think>", "</think>", "<ans>", "<wait>", "<eos>", "<pad>", "_"
SPECIAL_TOKENS = (PAD, EOS, THINK, END_THINK, ANSWER, REFLECT)
_TOKEN = re.compile("|".join(map(re.escape, SPECIAL_TOKENS)) + "|.", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    """One question (a task, in the paper's terms): ``values[0] ops[0] values[1] ...``, digit-wise mod 10."""

    family: str
    values: tuple[int, ...]  # k + 1 two-digit operands in 0..99
    ops: tuple[str, ...]  # k operators in "+-"
    binding_order: tuple[int, ...] = ()  # vars only: the order in which bindings are listed

    @property
    def k(self) -> int:
        return len(self.ops)

    @property
    def answer(self) -> int:
        return apply_ops(self.values[0], zip(self.ops, self.values[1:]))

    @property
    def key(self) -> str:
        """Identity of the question used for splits: the family and the expression."""
        return f"{self.family}:{self.values}:{self.ops}"

    def question(self) -> str:
        """Returns the question text of this problem's family."""
        nums = [f"{v:02d}" for v in self.values]
        if self.family == "chain":
            return nums[0] + "".join(op + n for op, n in zip(self.ops, nums[1:]))
        if self.family == "list":
            return "sum(" + ",".join(nums) + ")"
        bindings = ",".join(f"{NAMES[i]}={nums[i]}" for i in self.binding_order)
        return bindings + ";" + NAMES[0] + "".join(op + NAMES[i + 1] for i, op in enumerate(self.ops))


def combine(a: int, op: str, b: int) -> int:
    """Returns ``a op b`` digit-wise modulo 10 (no carries): units with units, tens with tens."""
    sign = 1 if op == "+" else -1
    return ((a // 10 + sign * (b // 10)) % 10) * 10 + (a % 10 + sign * (b % 10)) % 10


def apply_ops(start: int, ops_and_values) -> int:
    """Returns the running value after applying (op, value) pairs digit-wise."""
    value = start
    for op, v in ops_and_values:
        value = combine(value, op, v)
    return value


def step_long_detail(a: int, op: str, b: int) -> str:
    """Returns the digit-by-digit sub-steps of ``a op b``: the units digit first, then the tens digit."""
    units, tens = combine(a % 10, op, b % 10), combine(a // 10, op, b // 10)
    return f"{a % 10}{op}{b % 10}={units},{a // 10}{op}{b // 10}={tens}"


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

    @property
    def after(self) -> int:
        return apply_ops(self.before, [(self.op, self.value)])


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
        name = NAMES[i + 1] if problem.family == "vars" else ""
        steps.append(Step(value, problem.ops[i], operand, name))
        value = steps[-1].after
    return steps


def render_step(step: Step, style: str) -> str:
    """Returns one step written in ``style`` (short, long, padded or compressed)."""
    lookup = f"{step.name}={step.value:02d}:" if step.name else ""
    head = f"{step.before:02d}{step.op}{step.value:02d}"
    if style == "compressed":
        return f"{step.after:02d};"
    if style == "long":
        return f"{lookup}{head}:{step_long_detail(step.before, step.op, step.value)}={step.after:02d};"
    if style == "padded":  # the short step, with neutral filler up to the long step's length
        n_fill = len(render_step(step, "long")) - len(render_step(step, "short"))
        return f"{lookup}{head}={FILLER * n_fill}{step.after:02d};"
    return f"{lookup}{head}={step.after:02d};"


def start_step(problem: Problem) -> tuple[str, ...]:
    """Returns the lookup of the start value that opens a ``vars`` trajectory (no step elsewhere)."""
    return (f"{NAMES[0]}={problem.values[0]:02d};",) if problem.family == "vars" else ()


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
    style = spec.reflection_style if spec.style == "reflection" else spec.style
    steps = [render_step(s, style) for s in solve(problem, spec.order, spec.misread)]
    if spec.style == "reflection":
        pos, delta = spec.reflection or (0, 1)
        wrong = solve(problem, spec.order, (pos, delta))[pos]
        steps.insert(pos, render_step(wrong, style) + REFLECT)
    return Rendered(prompt, start_step(problem) + tuple(steps), answer, spec.delimiter)


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
    """Returns up to ``n`` distinct valid operation orders (the identity first), sampled without replacement."""
    import itertools
    import math

    if math.factorial(problem.k) <= 4 * n:
        orders = list(itertools.permutations(range(problem.k)))
        rest = [o for o in orders if o != tuple(range(problem.k))]
        rng.shuffle(rest)
        return [tuple(range(problem.k))] + rest[: n - 1]
    seen = {tuple(range(problem.k))}
    while len(seen) < n:
        seen.add(tuple(rng.sample(range(problem.k), problem.k)))
    first = tuple(range(problem.k))
    return [first] + sorted(seen - {first})[: n - 1]


# --- problem generation and splits ---------------------------------------------------------------


def split_of(problem: Problem, test_fraction: float) -> str:
    """Returns 'train' or 'test' from a hash of the question, so splits never overlap whatever the seed."""
    h = int(hashlib.sha256(problem.key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "train"


@dataclass(frozen=True)
class ProblemSpace:
    """Which problems exist: families, step counts, operand range."""

    families: tuple[str, ...] = FAMILIES
    steps: tuple[int, ...] = (2, 3, 4)
    operand_range: tuple[int, int] = (0, 99)  # inclusive; a held-out range makes a harder split
    test_fraction: float = 0.2


def sample_problem(family: str, k: int, rng: random.Random, operand_range: tuple[int, int] = (0, 99)) -> Problem:
    """Returns a random problem of ``family`` with ``k`` operations."""
    lo, hi = operand_range
    values = tuple(rng.randint(lo, hi) for _ in range(k + 1))
    ops = tuple("+" for _ in range(k)) if family == "list" else tuple(rng.choice("+-") for _ in range(k))
    order = tuple(rng.sample(range(k + 1), k + 1)) if family == "vars" else ()
    return Problem(family, values, ops, order)


def make_problems(
    n: int, split: str, seed: int, families=FAMILIES, steps=(2, 3, 4), operand_range=(0, 99), test_fraction=0.2
) -> list[Problem]:
    """Returns ``n`` distinct problems of ``split``, balanced over families and step counts, deterministic in ``seed``."""
    rng = random.Random(f"{seed}:{split}:{families}:{steps}:{operand_range}")
    cells = [(f, k) for f in families for k in steps]
    out, seen = [], set()
    while len(out) < n:
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


def longest_completion_tokens(k: int) -> int:
    """Returns the tokens of the longest correct completion at difficulty ``k``: a ``vars`` question (a lookup
    per step) written in the ``reflection`` style (one extra wrong step), answer suffix included."""
    problem = Problem("vars", (99,) * (k + 1), ("+",) * k, tuple(range(k + 1)))
    text = render(problem, TrajectorySpec("reflection", reflection=(k - 1, 5))).completion
    return len(build_tokenizer()(text, add_special_tokens=False)["input_ids"])


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


_STEP = re.compile(r"(?:[a-j]=(\d\d):)?(\d\d)([+-])(\d\d)(?::[^;]*)?=(\d\d);")


def trajectory_is_correct(problem: Problem, trajectory: str) -> bool:
    """Returns True if ``trajectory`` solves ``problem`` step by step, in any valid order of its operations.

    Every step must be well formed (short, long or padded style), arithmetically right, start from the
    previous step's result (the first from the start value), and the steps must use each of the
    problem's operations exactly once; an empty trajectory (answer only) is never correct.
    """
    body = trajectory.removeprefix(start_step(problem)[0]) if problem.family == "vars" else trajectory
    body = body.replace(FILLER, "")
    steps = list(_STEP.finditer(body))
    if not steps or "".join(m.group(0) for m in steps) != body:
        return False
    value, used = problem.values[0], []
    for m in steps:
        before, op, operand, after = int(m.group(2)), m.group(3), int(m.group(4)), int(m.group(5))
        if before != value or after != apply_ops(before, [(op, operand)]):
            return False
        used.append((op, operand))
        value = after
    return sorted(used) == sorted(zip(problem.ops, problem.values[1:])) and value == problem.answer
