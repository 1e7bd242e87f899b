"""The study's two worlds behind one interface, so every experiment has one code path.

``world_of(params, tokenizer)`` returns the ``ToyWorld`` (two-digit arithmetic, ``worlds/toy/``) or the
``LLMWorld`` (reasoning-gym questions for a pretrained chat model, ``worlds/llm_tasks/``) that ``params`` (a
profile's ``world``) selects. Both make questions, write them in the study's trajectory styles, and check answers
strictly; the LLM world needs the model's tokenizer for its chat template and end-of-sequence token.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import examples, llm_tasks, toy


class ToyWorld:
    """The toy world: questions from ``toy.make_problems``, the character tokenizer's format."""

    kind = "toy"
    eos = toy.EOS
    STYLES = toy.STYLES
    max_step_error = toy.MOD - 1  # how far a wrong step is off (reflection, corruption): an operand misread by 1..99

    def render(self, problem, spec: toy.TrajectorySpec = toy.TrajectorySpec()) -> toy.Rendered:
        return toy.render(problem, spec)

    def prompt(self, problem) -> str:
        return toy.render(problem, toy.TrajectorySpec("answer_only")).prompt

    def training_examples(self, problems, style: str, seed: int, **kwargs) -> list[toy.Rendered]:
        return examples.training_examples(self, problems, style, seed, **kwargs)

    def cut_anywhere(self, rendered, n: int):
        return toy.cut_anywhere(rendered, n)

    def cut_positions(self, rendered) -> int:
        """Returns where a training cut may fall: before any of the trajectory's tokens."""
        return len(toy.trajectory_tokens(rendered.trajectory))

    def force_answer(self, rendered, trajectory: str):
        return toy.force_answer(rendered, trajectory)

    def distinct_orders(self, problem, n: int, rng):
        return toy.distinct_orders(problem, n, rng)

    def parse_completion(self, completion: str, delimiter: bool = True):
        return toy.parse_completion(completion, delimiter)

    def recovered_answer(self, completion: str):
        return toy.recovered_answer(completion)

    def is_correct(self, problem, answer) -> bool:
        return answer is not None and answer == problem.answer

    def trajectory_of(self, completion: str) -> str:
        return toy.trajectory_of(completion)

    def trajectory_is_correct(self, problem, trajectory: str) -> bool:
        return toy.trajectory_is_correct(problem, trajectory)

    def compressed_is_correct(self, problem, trajectory: str, style: str | None = None) -> bool:
        return toy.compressed_is_correct(problem, trajectory, style)

    def styles_of(self, family: str) -> tuple[str, ...]:
        return toy.styles_of(family)


@dataclass(frozen=True)
class LLMWorld:
    """The LLM world: reasoning-gym questions in a chat model's template, answers checked by reasoning-gym."""

    template: llm_tasks.Template
    kind = "llm"
    STYLES = llm_tasks.STYLES
    max_step_error = 9  # how far a wrong step is off (reflection, corruption): 1..9

    @property
    def eos(self) -> str:
        return self.template.eos

    def render(self, problem, spec: toy.TrajectorySpec = toy.TrajectorySpec()) -> llm_tasks.Rendered:
        return llm_tasks.render(problem, spec, self.template)

    def prompt(self, problem) -> str:
        return self.template.prompt(problem.question)

    def training_examples(self, problems, style: str, seed: int, **kwargs) -> list[llm_tasks.Rendered]:
        return examples.training_examples(self, problems, style, seed, **kwargs)

    def cut_anywhere(self, rendered, n: int):
        return llm_tasks.cut_anywhere(rendered, n)

    def cut_positions(self, rendered) -> int:
        """Returns where a training cut may fall: before any of the trajectory's words."""
        return len(llm_tasks.words(rendered.trajectory))

    def force_answer(self, rendered, trajectory: str):
        return llm_tasks.force_answer(rendered, trajectory)

    def distinct_orders(self, problem, n: int, rng):
        return llm_tasks.distinct_orders(problem, n, rng)

    def parse_completion(self, completion: str, delimiter: bool = True):
        return llm_tasks.parse_completion(completion, delimiter, self.eos)

    def recovered_answer(self, completion: str):
        return llm_tasks.recovered_answer(completion)

    def is_correct(self, problem, answer) -> bool:
        return llm_tasks.is_correct(problem, answer)

    def trajectory_of(self, completion: str) -> str:
        return llm_tasks.trajectory_of(completion).removesuffix(self.eos)

    def trajectory_is_correct(self, problem, trajectory: str) -> bool:
        return llm_tasks.trajectory_is_correct(problem, trajectory)

    def compressed_is_correct(self, problem, trajectory: str, style: str | None = None) -> bool:
        return llm_tasks.compressed_is_correct(problem, trajectory)  # the LLM world has one compressed style

    def styles_of(self, family: str) -> tuple[str, ...]:
        return llm_tasks.STYLES


World = ToyWorld | LLMWorld


def kind_of(families) -> str:
    """Returns "toy" or "llm": the world whose task families ``families`` are (their names never overlap)."""
    families = tuple(families)
    for kind, names in (("toy", toy.FAMILIES), ("llm", llm_tasks.FAMILIES)):
        if families and all(f in names for f in families):
            return kind
    raise ValueError(f"families={families} are not all of one world: toy {toy.FAMILIES}, LLM {llm_tasks.FAMILIES}")


def world_for(families, tokenizer=None) -> World:
    """Returns the world of ``families``; the LLM world reads ``tokenizer``'s chat template and EOS token."""
    if kind_of(families) == "toy":
        return ToyWorld()
    if tokenizer is None:
        raise ValueError("the LLM world needs the model's tokenizer (its chat template and EOS token)")
    return LLMWorld(llm_tasks.Template.of(tokenizer))


def world_of(params, tokenizer=None) -> World:
    """Returns the world a profile's ``world`` params select (see ``world_for``)."""
    return world_for(params.families, tokenizer)


def make_problems(n: int, split: str, seed: int, families, levels, test_fraction: float = 0.2, **space) -> list:
    """Returns ``n`` distinct questions of ``split`` from the world of ``families`` (no tokenizer needed), balanced
    over families and difficulties; ``space`` holds toy-only options (``operand_range``)."""
    if kind_of(families) == "llm":
        if space:
            raise ValueError(f"the LLM world has no problem-space options {sorted(space)}")
        return llm_tasks.make_problems(n, split, seed, families, levels, test_fraction=test_fraction)
    return toy.make_problems(n, split, seed, families, levels, test_fraction=test_fraction, **space)
