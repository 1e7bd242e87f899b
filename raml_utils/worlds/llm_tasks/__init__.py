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

The world reads in five modules, each re-exported here (``llm_tasks.render``, ``llm_tasks.make_problems``, ...):
``families`` (the generators and their levels), ``solutions`` (worked solutions as steps, and their orders),
``problems`` (drawing questions into splits), ``trajectories`` (the chat format, the styles, cuts) and ``checking``
(parsing completions, the scorer). A question is ``worlds.llm.Problem``, the LLM world's one question class.

Nothing generated is written to disk: gsm_symbolic's templates derive from a dataset licensed non-commercial,
no-derivatives.
"""

from ..llm import Problem
from .checking import (compressed_is_correct, is_correct, parse_completion, recovered_answer, trajectory_is_correct,
                       trajectory_of)
from .families import FAMILIES, LEVELS, levels_of
from .problems import make_problems, split_of
from .solutions import FILLER, Step, distinct_orders, gsm_step, solution_steps
from .trajectories import (ANSWER_END, END_THINK, INSTRUCTION, REFLECTION, STYLES, THINK, Rendered, Template,
                           cut_anywhere, force_answer, render, words)
