"""L-hat along trajectory prefixes: the inner-loop probe of claims C1 (and later C7, C8).

L-hat(prefix) is the negative mean log-probability of the answer tokens when the answer suffix (the
end-of-thinking delimiter and answer marker, then the answer) follows the first i trajectory tokens.
The curve over i = 0..T is the paper's "inner loop": if the trajectory acts as optimisation of the
answer loss, it falls.

Two implementations give the same values:

- ``naive_curve`` re-encodes every prefix (T + 1 forward passes, O(T^2) tokens): the reference;
- ``inner_loop_curve`` encodes prompt + trajectory once, then scores all answer suffixes against that
  shared prefix in packed chunks: block i sees the first P + i tokens of the shared part (a 4D
  attention mask) and sits at positions P + i ... (explicit position ids), exactly as in its own
  naive forward pass. transformers passes a 4D mask through unchanged.

Both worlds' rendered questions (``rendered_probe_input``) and the gsm worked solutions of ``worlds/llm.py``
become a ``ProbeInput`` of token ids, so the probe itself knows nothing about formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache

from .evaluation import world_of_problems
from .sampling import generate
from .worlds import llm, make_problems, toy


@dataclass(frozen=True)
class ProbeInput:
    """Token ids of one probe: prompt, trajectory, answer suffix (delimiter + marker) and answer."""

    prompt: tuple[int, ...]
    trajectory: tuple[int, ...]
    suffix: tuple[int, ...]
    answer: tuple[int, ...]
    step_ends: tuple[int, ...] = ()  # trajectory token counts at which each step ends (last = len(trajectory))
    answer_first_at: int | None = None  # trajectory tokens before the answer is first written in it (None: never)

    def __post_init__(self):
        if not self.prompt or not self.answer:
            raise ValueError("a probe needs a non-empty prompt and a non-empty answer")


# --- rendered questions of either world --------------------------------------------------------


def _ids(tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else ()


def step_terminator(world) -> str:
    """Returns the text that ends every step of ``world``'s rendered trajectories (read off its renderings)."""
    families = toy.FAMILIES if world.kind == "toy" else ("chain_sum", "leg_counting")
    problems = make_problems(6, "train", seed=0, families=families, levels=(3,))
    ends = {s[-1] for p in problems for s in world.render(p, toy.TrajectorySpec("long")).steps}
    if len(ends) != 1:
        raise RuntimeError(f"{world.kind} steps do not share one terminator (found {sorted(ends)}): cannot split free text")
    return ends.pop()


def split_steps(trajectory: str, terminator: str) -> tuple[str, ...]:
    """Returns free trajectory text (e.g. a sample) cut into steps after each ``terminator``."""
    parts = [p + terminator for p in trajectory.split(terminator)[:-1]]
    rest = trajectory[len("".join(parts)):]
    return tuple(parts + ([rest] if rest else []))


def rendered_probe_input(tokenizer, rendered, steps: tuple[str, ...] | None = None,
                         mark_answer: bool = False) -> ProbeInput:
    """Returns the ``ProbeInput`` of a rendered question (either world); ``steps`` overrides its step split (free
    text). ``mark_answer`` sets ``answer_first_at``: the trajectory tokens before the answer is first written in it
    as a number of its own (the LLM world's copying check)."""
    steps = rendered.steps if steps is None else steps
    if "".join(steps) != rendered.trajectory:
        raise ValueError("the steps do not make up the trajectory")
    # The trajectory is tokenized whole (sub-word tokenizers merge across step boundaries, e.g. "\n\n"); a step
    # ends after the last token that ends within it.
    enc = tokenizer(rendered.trajectory, add_special_tokens=False, return_offsets_mapping=True) \
        if rendered.trajectory else {"input_ids": [], "offset_mapping": []}
    trajectory = tuple(enc["input_ids"])
    token_ends = np.array([end for _, end in enc["offset_mapping"]], dtype=int)
    ends = tuple(int((token_ends <= b).sum()) for b in np.cumsum([len(s) for s in steps]))
    first_at = None
    if mark_answer:
        m = re.search(rf"(?<![\d.]){re.escape(str(rendered.answer))}(?![\d]|\.\d)", rendered.trajectory)
        if m is not None:  # the tokens that end before the answer's first character
            first_at = int((token_ends <= m.start()).sum())
    return ProbeInput(_ids(tokenizer, rendered.prompt), trajectory, _ids(tokenizer, rendered.suffix),
                      _ids(tokenizer, rendered.answer), ends, answer_first_at=first_at)


# --- the two probes ------------------------------------------------------------------------------


def solution_probe_input(tokenizer, problem, solution: str) -> ProbeInput:
    """Returns the ``ProbeInput`` of ``solution`` as the trajectory of ``problem``, scored on the true answer.

    ``answer_first_at`` marks where the solution first writes its own final stated number (the true
    answer for a correct solution, the wrong one for a corrupted solution): the probe's drop before that
    point is what the trajectory does before the model can copy the answer.
    """
    enc = tokenizer(solution, add_special_tokens=False, return_offsets_mapping=True)
    first_char = llm.first_statement_of_answer(solution)
    first_at = None if first_char is None else sum(1 for _, end in enc["offset_mapping"] if end <= first_char)
    ids = lambda text: tuple(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    return ProbeInput(ids(llm.chat_prompt(tokenizer, problem.question)), tuple(enc["input_ids"]),
                      ids(llm.ANSWER_SUFFIX), ids(problem.answer), step_ends=(len(enc["input_ids"]),),
                      answer_first_at=first_at)


def _answer_nll(model, hidden: torch.Tensor, answer: torch.Tensor, per_token: bool = False) -> torch.Tensor:
    """Returns the mean NLL of ``answer`` (n, A) from the hidden states (n, A, d) that predict it: (n,), or each
    answer token's NLL (n, A) with ``per_token`` (the others teacher-forced)."""
    logits = model.get_output_embeddings()(hidden).float()  # (n, A, vocab)
    logp = torch.log_softmax(logits, dim=-1).gather(-1, answer[..., None])[..., 0]  # (n, A)
    return -logp if per_token else -logp.mean(dim=-1)


def _cuts(item: ProbeInput, cuts) -> list[int]:
    cuts = list(range(len(item.trajectory) + 1)) if cuts is None else [int(c) for c in cuts]
    if any(not 0 <= c <= len(item.trajectory) for c in cuts):
        raise ValueError(f"cuts must lie in 0..{len(item.trajectory)}")
    return cuts


@torch.inference_mode()
def naive_curve(model, item: ProbeInput, cuts=None) -> np.ndarray:
    """Returns L-hat after each prefix length in ``cuts`` (default 0..T), re-encoding every prefix."""
    block = list(item.suffix) + list(item.answer[:-1])
    answer = torch.tensor([item.answer])
    n_a, device = len(item.answer), model.device
    out = []
    for c in _cuts(item, cuts):
        ids = torch.tensor([list(item.prompt) + list(item.trajectory[:c]) + block], device=device)  # (1, L)
        hidden = model.base_model(input_ids=ids).last_hidden_state  # (1, L, d)
        out.append(_answer_nll(model, hidden[:, -n_a:], answer.to(device)).item())
    return np.array(out)


@torch.inference_mode()
def inner_loop_curve(model, item: ProbeInput, cuts=None, max_block_tokens: int = 2048,
                     per_token: bool = False) -> np.ndarray:
    """Returns L-hat after each prefix length in ``cuts`` (default 0..T): one pass over the shared prefix.
    With ``per_token``, each answer token's own NLL instead, (cuts, A): the loss of one answer digit.

    The answer blocks of many cuts are packed into one sequence after the cached prompt + trajectory;
    each block attends to its own prefix and causally to itself, never to other blocks.
    ``max_block_tokens`` bounds the packed tokens per forward pass (memory: the mask is chunk x total).
    """
    cuts = _cuts(item, cuts)
    if not item.suffix:  # the first answer token would be predicted by a different prefix for every cut
        raise ValueError("the shared-prefix probe needs a non-empty answer suffix")
    device = model.device
    shared = torch.tensor([list(item.prompt) + list(item.trajectory)], device=device)  # (1, P + T)
    n_p, n_shared = len(item.prompt), shared.shape[1]
    block = torch.tensor(list(item.suffix) + list(item.answer[:-1]), device=device)  # (B,)
    n_b, n_s, n_a = len(block), len(item.suffix), len(item.answer)
    answer = torch.tensor(item.answer, device=device)
    cache = DynamicCache(config=model.config)
    model.base_model(input_ids=shared, past_key_values=cache, use_cache=True)
    per_chunk = max(1, max_block_tokens // n_b)
    causal = torch.ones(n_b, n_b, dtype=torch.bool, device=device).tril()  # (B, B)
    # The first answer token is predicted by the last suffix token (or the last shared token if no suffix).
    picks = torch.arange(n_a, device=device) + n_s - 1  # (A,) positions within a block
    out = []
    for start in range(0, len(cuts), per_chunk):
        chunk = torch.tensor(cuts[start:start + per_chunk], device=device)  # (c,)
        c = len(chunk)
        mask = torch.zeros(c, n_b, n_shared + c * n_b, dtype=torch.bool, device=device)  # (c, B, kv)
        mask[:, :, :n_shared] = torch.arange(n_shared, device=device)[None, None] < (n_p + chunk)[:, None, None]
        for j in range(c):
            mask[j, :, n_shared + j * n_b: n_shared + (j + 1) * n_b] = causal
        positions = (n_p + chunk)[:, None] + torch.arange(n_b, device=device)[None]  # (c, B)
        hidden = model.base_model(input_ids=block.repeat(c)[None], attention_mask=mask.reshape(1, 1, c * n_b, -1),
                                  position_ids=positions.reshape(1, -1), past_key_values=cache,
                                  use_cache=True).last_hidden_state.reshape(c, n_b, -1)  # (c, B, d)
        cache.crop(-c * n_b)
        out.append(_answer_nll(model, hidden[:, picks], answer.expand(c, n_a), per_token))
    return torch.cat(out).cpu().numpy()


# --- what a curve says ---------------------------------------------------------------------------


def curve_summary(curve: np.ndarray, item: ProbeInput, fall_threshold: float) -> dict:
    """Returns the numbers of one inner-loop curve: start, end, drop, whether it falls, the shape of the fall.

    ``share_before_last_step``: the part of the total drop already reached when the last step begins
    (1 = all of it before, gradual descent; 0 = a single step when the answer is finally written); NaN
    unless the curve falls by more than ``fall_threshold`` nats. ``pre_answer_drop``: the drop before the
    answer is first written in the trajectory (NaN if it never is). ``peak_above_start``: how far L̂ rises
    above its no-trajectory value anywhere along the curve, the calibration check (an answer probe that was
    never trained to answer mid-step spikes there, design brief section 7; a calibrated one stays near 0
    along a correct trajectory).
    """
    start, end = float(curve[0]), float(curve[-1])
    drop = start - end
    falls = drop > fall_threshold
    last_step_start = item.step_ends[-2] if len(item.step_ends) >= 2 else 0
    share = (start - float(curve[last_step_start])) / drop if falls else float("nan")
    pre = start - float(curve[item.answer_first_at]) if item.answer_first_at is not None else float("nan")
    return {"lhat_start": start, "lhat_end": end, "lhat_drop": drop, "falls": bool(falls),
            "share_before_last_step": share, "pre_answer_drop": pre, "peak_above_start": float(curve.max()) - start,
            "tokens": len(item.trajectory)}


def on_grid(curve: np.ndarray, n_points: int) -> np.ndarray:
    """Returns the curve linearly interpolated at ``n_points`` normalised positions in [0, 1]."""
    x = np.linspace(0, 1, len(curve)) if len(curve) > 1 else np.zeros(1)
    grid = np.linspace(0, 1, n_points)
    return np.interp(grid, x, curve) if len(curve) > 1 else np.full(n_points, curve[0])


def sampled_items(model, tokenizer, problems, n_samples: int, eval_params, seed: int, delimiter: bool = True):
    """Yields ``(question, sample, completion, item)`` for ``n_samples`` of the model's own completions of each
    problem (at ``eval_params.temperature``): ``item`` probes the sampled trajectory, cut into its steps, with
    the true answer forced after it in the model's format (``</think>`` and the answer marker, or the marker
    alone without delimiter)."""
    world = world_of_problems(problems, tokenizer)
    terminator = step_terminator(world)
    reference = [world.render(p, toy.TrajectorySpec("long", delimiter=delimiter)) for p in problems]
    samples = generate(model, tokenizer, [r.prompt for r in reference], n_samples=n_samples,
                       temperature=eval_params.temperature, max_new_tokens=eval_params.max_new_tokens,
                       batch_size=eval_params.batch_size, seed=seed)
    for q, (r, completions) in enumerate(zip(reference, samples)):
        for s, completion in enumerate(completions):
            trajectory = world.trajectory_of(completion)
            yield q, s, completion, rendered_probe_input(tokenizer, world.force_answer(r, trajectory),
                                                         split_steps(trajectory, terminator), world.kind == "llm")
