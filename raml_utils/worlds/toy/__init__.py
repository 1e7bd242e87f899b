"""The toy world: multi-step arithmetic on two-digit numbers in three task families, written as reasoning trajectories.

Every question is an expression ``v0 op1 v1 op2 v2 ...`` over two-digit numbers with k operations (k = difficulty,
the rung of the difficulty ladder); the answer has two digits (chance 1/100 per sample). Three versions of the world
in two arithmetics; a family's name says which:

- **carry world** (version 3, the default; ``carry_chain``, ``carry_names``, ``carry_list``): real base-10 ``+`` and
  ``-`` with carries and borrows, modulo 100 (``37+85 = 22``). One operation is two columns and a carry, which a
  ~1M-parameter model does not compute as reliably in one written step (``short``: ``37+85=22;``) as column by column
  (``long``: ``37+85:7+5=12,3+8+1=12=22;``, a borrow written as ``12-5=7``): inner-loop work that does not fit in
  one step. No order of the operations is favoured: the base model, and every trajectory a training set writes,
  takes a random valid order per question (``distinct_orders``). Every family writes its steps in one format.
- **carry world, version 2** (``carry_chain``, ``carry_vars``, ``carry_list``): the same, but a ``carry_vars``
  trajectory writes each variable it looks up (``a=37;b=45:37+45=82;``), a step format fine-tuning on the other two
  families never shows. Kept so that the profiles of the study's earlier carry-world runs rerun them as they were.
- **digit-wise world** (version 1; ``chain``, ``vars``, ``list``): each digit modulo 10, no carries
  (``37+45 = 72``), trajectories in the left-to-right order first, ``vars`` with written lookups. Kept so that
  ``params/cpu_v1.yaml`` reruns the first study as it was.

The families pose the question differently:

- ``chain``: the expression inline, ``37+45-12+08``;
- ``vars`` / ``names``: variable bindings in shuffled order, then the expression over names, ``b=45,a=37;a+b``;
- ``list``: the sum of a list, ``sum(37,45,12)``.

The world reads in four modules, each re-exported here (``toy.render``, ``toy.make_problems``, ...): ``problems``
(families, arithmetic, drawing questions and splits), ``trajectories`` (styles and every trajectory transform),
``checking`` (parsing completions, checking trajectories) and ``tokenizer`` (the character tokenizer and markers).
"""

from .checking import compressed_is_correct, parse_completion, recovered_answer, trajectory_is_correct, trajectory_of
from .problems import (CARRY_FAMILIES, CARRY_V2_FAMILIES, DIGITWISE_FAMILIES, EXACT_CAPACITY_UP_TO, FAMILIES,
                       MAX_DRAWS_PER_QUESTION, MOD, NAMES, UNSEEN_OPERANDS, Problem, ProblemSpace, apply_ops, combine,
                       fact_problems, has_carries, layout, make_problems, sample_problem, split_capacity, split_of,
                       writes_lookups)
from .tokenizer import (ANSWER, CHARS, END_THINK, EOS, FILLER, PAD, REFLECT, SPECIAL_TOKENS, THINK, build_tokenizer,
                        trajectory_tokens)
from .trajectories import (STYLES, Rendered, Step, TrajectorySpec, answer_digit_positions, coarse_steps, column_steps,
                           cut_anywhere, distinct_orders, force_answer, longest_completion_tokens, render, render_step,
                           solve, start_step, step_long_detail, styles_of, truncate)
