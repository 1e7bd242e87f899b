"""The toy world's problem space: its task families and arithmetics, one question (``Problem``), and drawing
questions into train and test splits that never overlap.

Every question is an expression ``v0 op1 v1 op2 v2 ...`` over two-digit numbers with k operations; the answer has two
digits. A family's name says its arithmetic (``carry_``: base 10 with carries, modulo 100; none: digit-wise modulo 10)
and its layout says how the question is posed (``chain``, ``vars`` or ``list``). A ``vars`` question's trajectory
writes each variable it looks up (``b=45:``) in the first two versions of the world (``vars``, ``carry_vars``); in
the third (``carry_names``) it is written in the other families' step format, each operand resolved unwritten.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
from dataclasses import dataclass

MOD = 100
CARRY_FAMILIES = ("carry_chain", "carry_names", "carry_list")  # version 3: base-10 with carries (the default)
CARRY_V2_FAMILIES = ("carry_chain", "carry_vars", "carry_list")  # version 2: its vars trajectories write lookups
DIGITWISE_FAMILIES = ("chain", "vars", "list")  # version 1: digit-wise, no carries
FAMILIES = CARRY_FAMILIES + ("carry_vars",) + DIGITWISE_FAMILIES
LAYOUTS = {"chain": "chain", "vars": "vars", "list": "list", "carry_chain": "chain", "carry_vars": "vars",
           "carry_names": "vars", "carry_list": "list"}
LOOKUP_FAMILIES = ("vars", "carry_vars")  # vars-layout families whose trajectories write each lookup (``b=45:``)
NAMES = "abcdefghij"


def layout(family: str) -> str:
    """Returns how a family poses its question: "chain", "vars" or "list" (the same in every arithmetic)."""
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not a toy family; allowed: {', '.join(FAMILIES)}")
    return LAYOUTS[family]


def has_carries(family: str) -> bool:
    """Returns True for the carry world's families (real base-10 arithmetic), False for the digit-wise ones."""
    return layout(family) != family


def writes_lookups(family: str) -> bool:
    """Returns True where a trajectory writes each variable it looks up (``b=45:37+45=82;``, opening with the start
    value's ``a=37;``): the ``vars`` families of the first two worlds. ``carry_names`` poses the same question and
    writes its steps as the other families do (``37+45=82;``), each operand resolved from its binding unwritten."""
    layout(family)  # an unknown family fails here, naming the allowed ones
    return family in LOOKUP_FAMILIES


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


# --- drawing questions and splits ----------------------------------------------------------------


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


def fact_problems(n: int, seed: int, families=("chain",)) -> list[Problem]:
    """Returns ``n`` single-operation problems: the primitive facts every harder question is made of."""
    rng = random.Random(f"facts:{seed}")
    return [sample_problem(families[i % len(families)], 1, rng) for i in range(n)]
