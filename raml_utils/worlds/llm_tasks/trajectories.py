"""The LLM world's trajectories: a question in the model's chat template, its worked solution written in one of the
study's styles, the boxed answer after the paper's suffix, and the transforms of a written trajectory (a cut with
the answer forced after it).

Styles mirror the toy world's: ``answer_only`` (no trajectory), ``short`` (each calculation as an equation; the
gsm solution as given), ``long`` (each calculation spelled out in words and checked by its inverse), ``padded``
(short, padded with neutral filler to the long style's length), ``reflection`` (one step first written with a
wrong result, whose check fails, then "Wait, ..." and the step redone), ``compressed`` (the results only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import toy
from ..llm import ANSWER_SUFFIX, Problem, format_number
from .solutions import solution_steps

STYLES = ("answer_only", "short", "long", "padded", "reflection", "compressed")  # the toy world's, less coarse and column
INSTRUCTION = "Reason step by step, then give the final answer as \\boxed{answer}."
THINK, END_THINK = "<think>\n", "\n</think>"  # plain text here: SmolLM2's vocabulary has no thinking markers
ANSWER_END = "}"
REFLECTION = "Wait, that check fails. Let me redo this step.\n"


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
            wrong = format_number(float(steps[pos].result) + delta)
            texts.insert(pos, steps[pos].text(style, wrong) + REFLECTION)
    return Rendered(prompt, tuple(texts), problem.answer, spec.delimiter, eos=template.eos)


def force_answer(rendered: Rendered, trajectory: str) -> Rendered:
    """Returns ``rendered`` with its trajectory replaced by free text (e.g. a sampled prefix), answer forced after it."""
    return Rendered(rendered.prompt, (trajectory,) if trajectory else (), rendered.answer, rendered.delimiter,
                    forced=True, eos=rendered.eos)


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
