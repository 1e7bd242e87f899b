"""Pilot of a carry world for the toy study (issue 17, item 3, first step): its token cost, its learnability by the
~1M-parameter base model within the base's budget, and the cold `cpu` study time it would project to.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/toy_carry_pilot.py [--facts-steps 600] [--train-steps 500]
        [--eval-questions 200] [--profile cpu] [--outputs-dir outputs] [--out outputs/benchmarks/toy_carry_pilot.json]

**The prototype world** (here only, not in ``raml_utils``): today's three families and step format, on three-digit
operands 000..999 with real base-10 ``+`` and ``-`` (carries and borrows), results mod 1000. Characters: today's
``toy.CHARS`` (digits, ``+-=:;,()_``, ``a``..``j``, ``sum``) and no new one: the carry marker ``c`` is already a
character (also the variable name ``c`` in ``vars``; a carry ``c`` is always followed by a digit, a name never is).
Styles of one operation ``437+285``:

- ``answer_only``: no trajectory;  ``compressed``: the running result, ``722;`` (for notebook 07's projection);
- ``coarse``: one running result per two operations, ``437+285-012=710;``;
- ``short``: one running result per operation, ``437+285=722;`` (today's format);
- ``long``: every column with its carry in, units first, ``437+285:7+5=12,3+8+c1=12,4+2+c1=7=722;`` (a column's
  value ``v`` gives the result digit ``v mod 10`` and the next carry: ``v // 10`` for ``+``, a borrow ``v < 0`` for
  ``-``: ``437-285:7-5=2,3-8-c0=-5,4-2-c1=1=152;``);
- ``padded``: the short step padded with ``_`` to the long step's length;
- ``reflection``: long steps, one of them first written with a misread operand and ``<wait>`` (notebook 04's);
- ``column`` (``list`` family only): the whole list added column by column, each column fixing one answer digit,
  ``sum(437,285,912)``: ``7+5+2=14,3+8+1+c1=13,4+2+9+c1=16=634;``.

**Measured**: (1) trajectory tokens (``toy.trajectory_tokens``) per style and k = 2..6, today's world
(``toy.make_problems`` / ``toy.render``) against the prototype's, and the new/old ratios of what each notebook trains
and samples; (2) a learnability pilot, one seed (0): ``models.build_model`` with the default ``ModelParams`` and
``toy.build_tokenizer`` (as the base is built), a plain torch loop (AdamW, lr 2e-3, weight decay 0.01, batch 64,
linear warm-up over 5% of the steps then cosine decay, gradient norm clipped at 1 as the Trainer does, loss on
completion tokens only, each batch sorted by length into 4 micro-batches as ``TrainParams.micro_batches``),
stage (i) single operations in the long style, stage (ii) chain questions with k = 1..4, each written answer-only,
short or long (a third each: the answer-only prompt is then a trained format, as answer-only questions are in the
base's mixture); then greedy exact-match accuracy on held-out questions per k and prompt style (the model is forced
into a style by its first characters: ``<think></think><ans>`` for answer-only, ``<think>437+285=`` for short,
``<think>437+285:`` for long, and writes the rest itself); a short throughput check trains both worlds' base
mixtures side by side to test that time follows tokens; (3) the projection.

**Projection rule.** For each notebook, every timed section of the last run (``outputs/<profile>/*/timings.json``,
used when every notebook has one) is multiplied by a ratio new/old of mean tokens per sequence: prompt + completion
for sections that train or probe (forward and backward over whole sequences), the completion alone for sections
that sample (generation, GRPO rollouts), averaged with equal weight over the styles (or mixtures) the section uses;
sections that use no toy sequence (SmolLM2 probes, the theory check, the summary) and the time outside sections
(kernel start) keep their time. The base's section is weighted by its stages' steps (600 facts, 500 mixture). The
previous cold run's notebook totals (no sections; marked "previous run") are projected too, each scaled whole by
the mean ratio of its non-fixed sections (an upper bound: its fixed parts are scaled too). Time is assumed linear
in tokens (the throughput check measures how far it is).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from raml_utils.models import build_model, n_parameters  # noqa: E402
from raml_utils.params import ModelParams  # noqa: E402
from raml_utils.worlds import toy  # noqa: E402

WIDTH = 3  # digits per operand
MOD = 10**WIDTH
CARRY = "c"  # the carry-in marker of a column (already one of toy.CHARS)
EXTRA_CHARS = ""  # characters the prototype needs beyond toy.CHARS: none
NEW_STYLES = ("answer_only", "compressed", "coarse", "short", "long", "padded", "reflection")
STEPS = (2, 3, 4, 5, 6)
FAMILIES = toy.FAMILIES
SFT_FAMILIES = ("chain", "list")  # the fine-tuning families (held out: vars)
SFT_STEPS = (2, 3, 4)  # WorldParams.train_steps
BASE_STEPS = (1, 2, 3, 4)  # easy_steps | train_steps
PREVIOUS_RUN_S = {"00_world": 580, "01_pseudo_gradient": 300, "02_trajectory_length": 430,
                  "03_support_set_size": 400, "04_reflection_tokens": 250, "05_sft_then_rl": 500,
                  "06_generalisation": 200, "07_efficient_reasoning": 150, "99_summary": 20}
BUDGET_MIN = 45.0


# --- the prototype world -------------------------------------------------------------------------


@dataclass(frozen=True)
class CarryProblem:
    """One question of the prototype: ``values[0] ops[0] values[1] ...`` in real base-10 arithmetic mod 1000."""

    family: str
    values: tuple[int, ...]
    ops: tuple[str, ...]
    binding_order: tuple[int, ...] = ()

    @property
    def k(self) -> int:
        return len(self.ops)

    @property
    def answer(self) -> int:
        value = self.values[0]
        for op, v in zip(self.ops, self.values[1:]):
            value = apply(value, op, v)
        return value

    @property
    def key(self) -> str:
        return f"carry:{self.family}:{self.values}:{self.ops}"

    def question(self) -> str:
        nums = [num(v) for v in self.values]
        if self.family == "chain":
            return nums[0] + "".join(op + n for op, n in zip(self.ops, nums[1:]))
        if self.family == "list":
            return "sum(" + ",".join(nums) + ")"
        bindings = ",".join(f"{toy.NAMES[i]}={nums[i]}" for i in self.binding_order)
        return bindings + ";" + toy.NAMES[0] + "".join(op + toy.NAMES[i + 1] for i, op in enumerate(self.ops))


def num(v: int) -> str:
    """Returns ``v`` written with WIDTH digits."""
    return f"{v:0{WIDTH}d}"


def apply(a: int, op: str, b: int) -> int:
    """Returns ``a op b`` mod 1000."""
    return (a + b if op == "+" else a - b) % MOD


def digit(v: int, col: int) -> int:
    return v // 10**col % 10


def column_detail(numbers: list[int], op: str) -> tuple[str, int]:
    """Returns the column-by-column working of ``n0 op n1 op n2 ...`` (units first, carry in after the first
    column) and the result mod 1000 its digits spell. ``op`` "-" takes exactly two numbers (a borrow)."""
    parts, carry, result = [], 0, 0
    for col in range(WIDTH):
        terms = op.join(str(digit(n, col)) for n in numbers) + (f"{op}{CARRY}{carry}" if col else "")
        if op == "+":
            v = sum(digit(n, col) for n in numbers) + carry
        else:
            v = digit(numbers[0], col) - digit(numbers[1], col) - carry
        parts.append(f"{terms}={v}")
        result += (v % 10) * 10**col
        carry = v // 10 if op == "+" else int(v < 0)
    return ",".join(parts), result


def lookup(problem: CarryProblem, i: int) -> str:
    """Returns the binding read before using operand ``i`` (1..k) in a ``vars`` step, else ''."""
    return f"{toy.NAMES[i]}={num(problem.values[i])}" if problem.family == "vars" else ""


def render_op(problem: CarryProblem, before: int, i: int, style: str, operand: int | None = None) -> str:
    """Returns operation ``i`` (1..k) applied to the running value ``before`` in ``style`` (optionally misread)."""
    op, v = problem.ops[i - 1], problem.values[i] if operand is None else operand
    name = lookup(problem, i)
    lk = f"{name[:2]}{num(v)}:" if name else ""
    head, after = f"{num(before)}{op}{num(v)}", apply(before, op, v)
    detail, check = column_detail([before, v], op)
    assert check == after, (before, op, v)
    if style == "compressed":
        return f"{num(after)};"
    if style == "long":
        return f"{lk}{head}:{detail}={num(after)};"
    if style == "padded":
        fill = len(render_op(problem, before, i, "long", v)) - len(render_op(problem, before, i, "short", v))
        return f"{lk}{head}={toy.FILLER * fill}{num(after)};"
    return f"{lk}{head}={num(after)};"


def running_values(problem: CarryProblem) -> list[int]:
    """Returns the running value before each operation and after the last."""
    out = [problem.values[0]]
    for op, v in zip(problem.ops, problem.values[1:]):
        out.append(apply(out[-1], op, v))
    return out


def coarse_steps(problem: CarryProblem) -> list[str]:
    """Returns one step per two operations (the last alone when k is odd): ``437+285-012=710;``."""
    run, steps = running_values(problem), []
    for i in range(1, problem.k + 1, 2):
        idx = range(i, min(i + 2, problem.k + 1))
        names = ",".join(lookup(problem, j) for j in idx if lookup(problem, j))
        expr = num(run[i - 1]) + "".join(problem.ops[j - 1] + num(problem.values[j]) for j in idx)
        steps.append(f"{names + ':' if names else ''}{expr}={num(run[idx[-1]])};")
    return steps


def column_steps(problem: CarryProblem) -> list[str]:
    """Returns the list family's column-style trajectory: the whole list added column by column."""
    detail, result = column_detail(list(problem.values), "+")
    assert result == problem.answer
    return [f"{detail}={num(result)};"]


def carry_render(problem: CarryProblem, style: str, rng: random.Random | None = None) -> toy.Rendered:
    """Returns the problem written in ``style`` as today's ``toy.Rendered`` (prompt, steps, answer)."""
    prompt, answer = problem.question() + toy.THINK, num(problem.answer)
    start = (f"a={num(problem.values[0])};",) if problem.family == "vars" else ()
    if style == "answer_only":
        return toy.Rendered(prompt, (), answer)
    if style == "coarse":
        return toy.Rendered(prompt, start + tuple(coarse_steps(problem)), answer)
    if style == "column":
        return toy.Rendered(prompt, tuple(column_steps(problem)), answer)
    base = "long" if style == "reflection" else style
    run = running_values(problem)
    steps = [render_op(problem, run[i - 1], i, base) for i in range(1, problem.k + 1)]
    if style == "reflection":  # a misread operand at a random step, <wait>, then the step redone
        pos = (rng or random.Random(0)).randrange(problem.k)
        wrong = render_op(problem, run[pos], pos + 1, base, (problem.values[pos + 1] + 1) % MOD)
        steps.insert(pos, wrong + toy.REFLECT)
    return toy.Rendered(prompt, start + tuple(steps), answer)


def split_of(problem: CarryProblem, test_fraction: float = 0.2) -> str:
    h = int(hashlib.sha256(problem.key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "train"


def carry_problems(n: int, split: str, seed: int, families=FAMILIES, steps=STEPS) -> list[CarryProblem]:
    """Returns ``n`` distinct prototype problems of ``split``, balanced over families and k (as toy.make_problems)."""
    rng = random.Random(f"carry:{seed}:{split}:{families}:{steps}")
    cells, out, seen = [(f, k) for f in families for k in steps], [], set()
    while len(out) < n:
        family, k = cells[len(out) % len(cells)]
        values = tuple(rng.randrange(MOD) for _ in range(k + 1))
        ops = ("+",) * k if family == "list" else tuple(rng.choice("+-") for _ in range(k))
        order = tuple(rng.sample(range(k + 1), k + 1)) if family == "vars" else ()
        p = CarryProblem(family, values, ops, order)
        if p.key not in seen and split_of(p) == split:
            seen.add(p.key)
            out.append(p)
    return out


def old_render(problem: toy.Problem, style: str, rng: random.Random) -> toy.Rendered:
    """Returns today's rendering of ``problem`` (reflection at a random step, as notebook 04's)."""
    reflection = (rng.randrange(problem.k), 1) if style == "reflection" else None
    return toy.render(problem, toy.TrajectorySpec(style, reflection=reflection))


# --- (1) tokens ----------------------------------------------------------------------------------


def n_tokens(text: str) -> int:
    return len(toy.trajectory_tokens(text))


def token_table(n_per_cell: int) -> dict:
    """Returns mean trajectory tokens per style and k, today's world and the prototype, over the three families."""
    rng = random.Random(0)
    table = {"old": {}, "new": {}, "list_family": {"old": {}, "new": {}}}
    for k in STEPS:
        old = [p for f in FAMILIES for p in toy.make_problems(n_per_cell, "train", 0, (f,), (k,))]
        new = [p for f in FAMILIES for p in carry_problems(n_per_cell, "train", 0, (f,), (k,))]
        for style in toy.STYLES:
            table["old"].setdefault(style, {})[k] = mean(n_tokens(old_render(p, style, rng).trajectory) for p in old)
        for style in NEW_STYLES:
            table["new"].setdefault(style, {})[k] = mean(n_tokens(carry_render(p, style, rng).trajectory) for p in new)
        old_list, new_list = [p for p in old if p.family == "list"], [p for p in new if p.family == "list"]
        listed = table["list_family"]
        for style in ("short", "long"):
            tokens = [n_tokens(old_render(p, style, rng).trajectory) for p in old_list]
            listed["old"].setdefault(style, {})[k] = mean(tokens)
        for style in ("short", "long", "column"):
            tokens = [n_tokens(carry_render(p, style, rng).trajectory) for p in new_list]
            listed["new"].setdefault(style, {})[k] = mean(tokens)
    return table


def mixture(world: str, name: str, n: int, rng: random.Random) -> list[toy.Rendered]:
    """Returns ``n`` sequences of a named mixture in ``world`` ("old" or "new"): a style over the SFT distribution
    (families chain and list, k = 2..4), or the base's stages: ``base_facts`` (k = 1..2, long), ``base_mixture``
    (k = 1..4, 20% single-operation facts in long; easy k with a short or long trajectory, harder ones with one 30%
    of the time, else answer-only; as training.BaseData)."""
    if name == "base_facts":
        families, steps = FAMILIES, (1, 2)
    elif name == "base_mixture":
        families, steps = FAMILIES, BASE_STEPS
    else:
        families, steps = SFT_FAMILIES, SFT_STEPS
    if world == "old":
        problems, render = toy.make_problems(n, "train", 0, families, steps), old_render
        facts = toy.fact_problems(n // 4, 0, FAMILIES)
    else:
        problems, render = carry_problems(n, "train", 0, families, steps), carry_render
        facts = carry_problems(n // 4, "train", 1, FAMILIES, (1,))
    out = []
    for p in problems:
        style = name
        if name == "base_facts":
            style = "long"
        elif name == "base_mixture":
            style = rng.choice(("short", "long")) if p.k <= 2 or rng.random() < 0.3 else "answer_only"
        out.append(render(p, style, rng))
    if name == "base_mixture":
        out += [render(p, "long", rng) for p in facts]
    return out


SEQUENCE_MIXES = ("answer_only", "short", "padded", "long", "reflection", "compressed", "base_facts", "base_mixture")


def mix_ratios(n: int) -> dict:
    """Returns, per mixture, mean tokens per sequence and per completion in both worlds and their ratios new/old."""
    out = {}
    for name in SEQUENCE_MIXES:
        row = {}
        for world in ("old", "new"):
            seqs = mixture(world, name, n, random.Random(f"{world}:{name}"))
            row[f"{world}_sequence"] = mean(n_tokens(r.text) for r in seqs)
            row[f"{world}_completion"] = mean(n_tokens(r.completion) for r in seqs)
            row[f"{world}_trajectory"] = mean(n_tokens(r.trajectory) for r in seqs)
        for part in ("sequence", "completion", "trajectory"):
            row[f"{part}_ratio"] = row[f"new_{part}"] / row[f"old_{part}"] if row[f"old_{part}"] else None
        out[name] = row
    return out


# --- (2) learnability pilot ----------------------------------------------------------------------


def encode(tokenizer, rendered: toy.Rendered) -> tuple[list[int], int]:
    """Returns the token ids of a sequence and the length of its prompt (no loss there)."""
    prompt = tokenizer(rendered.prompt, add_special_tokens=False)["input_ids"]
    completion = tokenizer(rendered.completion, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in prompt + completion, rendered.text
    return prompt + completion, len(prompt)


def batch_tensors(encoded: list[tuple[list[int], int]], pad_id: int):
    """Returns input ids, attention mask and labels (-100 on prompt and padding), right-padded."""
    width = max(len(ids) for ids, _ in encoded)
    ids = torch.full((len(encoded), width), pad_id)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, (seq, n_prompt) in enumerate(encoded):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, n_prompt: len(seq)] = torch.tensor(seq[n_prompt:])
    return ids, mask, labels


def lr_at(step: int, steps: int, peak: float, warmup_ratio: float = 0.05) -> float:
    """Returns the learning rate at ``step``: linear warm-up, then cosine decay to 0 (transformers' schedule)."""
    warmup = int(warmup_ratio * steps)
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def batch_loss(model, encoded: list[tuple[list[int], int]], pad_id: int, micro_batches: int) -> float:
    """Backpropagates the batch's completion-token loss in ``micro_batches`` length-sorted parts (as the study's
    ``TrainParams.micro_batches``: the same update as one padded batch, normalised by the whole batch's tokens,
    without most of the padding); returns the loss."""
    encoded = sorted(encoded, key=lambda e: len(e[0]))
    n_targets = sum(len(ids) - n_prompt for ids, n_prompt in encoded)
    size, total = math.ceil(len(encoded) / micro_batches), 0.0
    for i in range(0, len(encoded), size):
        ids, mask, labels = batch_tensors(encoded[i: i + size], pad_id)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                                 ignore_index=-100, reduction="sum") / n_targets
        loss.backward()
        total += loss.item()
    return total


def train(model, tokenizer, pool: list[toy.Rendered], steps: int, seed: int, batch: int = 64, lr: float = 2e-3,
          micro_batches: int = 4) -> dict:
    """Trains ``model`` for ``steps`` AdamW steps on random batches of ``pool``; returns loss curve and timing."""
    encoded = [encode(tokenizer, r) for r in pool]
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    losses, tokens, start = [], 0, time.perf_counter()
    for step in range(steps):
        chosen = rng.sample(encoded, batch)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr)
        opt.zero_grad()
        losses.append(batch_loss(model, chosen, tokenizer.pad_token_id, micro_batches))
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens += sum(len(ids) for ids, _ in chosen)
    seconds = time.perf_counter() - start
    return {"steps": steps, "seconds": seconds, "s_per_step": seconds / steps, "tokens_per_s": tokens / seconds,
            "loss_first_20": mean(losses[:20]), "loss_last_20": mean(losses[-20:]),
            "loss_every_50": [round(x, 4) for x in losses[::50]]}


def forced_prompt(problem: CarryProblem, style: str) -> str:
    """Returns the prompt that puts the model into ``style``: the answer marker, or the first step's head and its
    style character (``=`` short, ``:`` long)."""
    prompt = problem.question() + toy.THINK
    if style == "answer_only":
        return prompt + toy.END_THINK + toy.ANSWER
    head = f"{num(problem.values[0])}{problem.ops[0]}{num(problem.values[1])}"
    return prompt + head + ("=" if style == "short" else ":")


@torch.no_grad()
def greedy(model, tokenizer, prompts: list[str], max_new_tokens: int) -> list[str]:
    """Returns greedy completions of ``prompts`` (decoded up to and including the first ``<eos>``)."""
    model.eval()
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=False)
    return [t.split(toy.EOS)[0] + toy.EOS if toy.EOS in t else t.replace(toy.PAD, "") for t in texts]


def stated_answer(completion: str) -> int | None:
    """Returns the answer of a well-formed completion (``...</think><ans>ddd<eos>``), else None."""
    if not completion.endswith(toy.EOS) or completion.count(toy.ANSWER) != 1:
        return None
    body, answer = completion[: -len(toy.EOS)].split(toy.ANSWER)
    ok = body.endswith(toy.END_THINK) and len(answer) == WIDTH and answer.isdigit()
    return int(answer) if ok else None


def evaluate(model, tokenizer, problems: list[CarryProblem], style: str) -> dict:
    """Returns greedy exact-match answer accuracy and the share of trajectories equal to the oracle's."""
    prompts = [forced_prompt(p, style) for p in problems]
    k = max(p.k for p in problems)
    budget = {"answer_only": 8, "short": 20 * k + 12, "long": 48 * k + 12}[style]  # tokens: above the oracle's
    completions = []
    for i in range(0, len(prompts), 100):
        completions += greedy(model, tokenizer, prompts[i: i + 100], budget)
    # the whole completion: the forced characters after <think>, then what the model wrote
    written = [pr[len(p.question() + toy.THINK):] + c for pr, p, c in zip(prompts, problems, completions)]
    correct = [stated_answer(w) == p.answer for w, p in zip(written, problems)]
    oracle = [w == carry_render(p, style).completion for w, p in zip(written, problems)]
    return {"accuracy": mean(correct), "exact_trajectory": mean(oracle), "n": len(problems),
            "example": problems[0].question() + toy.THINK + written[0]}


def learnability(facts_steps: int, train_steps: int, n_eval: int, pool_size: int) -> dict:
    """Trains the pilot model (stage i: facts, stage ii: the k = 1..4 chain mixture) and evaluates it greedily."""
    tokenizer = toy.build_tokenizer()
    model = build_model(ModelParams(), tokenizer, seed=0)
    rng = random.Random(0)
    facts = [carry_render(p, "long") for p in carry_problems(pool_size, "train", 0, ("chain",), (1,))]
    questions = carry_problems(pool_size, "train", 0, ("chain",), (1, 2, 3, 4))
    mix = [carry_render(p, rng.choice(("answer_only", "short", "long"))) for p in questions]
    test = {k: carry_problems(n_eval, "test", 0, ("chain",), (k,)) for k in (1, 2, 3, 4)}
    result = {"parameters": n_parameters(model), "pool_size": pool_size, "seed": 0}
    result["stage_i_facts"] = train(model, tokenizer, facts, facts_steps, seed=0)
    result["after_stage_i_k1_long"] = evaluate(model, tokenizer, test[1], "long")
    print(f"  stage i: {facts_steps} steps, {result['stage_i_facts']['s_per_step']:.3f} s/step; k=1 long accuracy "
          f"{result['after_stage_i_k1_long']['accuracy']:.3f}", flush=True)
    result["stage_ii_mixture"] = train(model, tokenizer, mix, train_steps, seed=1)
    print(f"  stage ii: {train_steps} steps, {result['stage_ii_mixture']['s_per_step']:.3f} s/step", flush=True)
    start = time.perf_counter()
    result["accuracy"] = {style: {k: evaluate(model, tokenizer, test[k], style) for k in test}
                          for style in ("answer_only", "short", "long")}
    result["evaluation_seconds"] = time.perf_counter() - start
    result["training_seconds"] = result["stage_i_facts"]["seconds"] + result["stage_ii_mixture"]["seconds"]
    return result


def throughput_check(steps: int, n: int) -> dict:
    """Returns s/step and tokens/s training today's and the prototype's base mixtures, back to back, same model."""
    tokenizer = toy.build_tokenizer()
    out = {}
    for world in ("old", "new"):
        model = build_model(ModelParams(), tokenizer, seed=0)
        out[world] = train(model, tokenizer, mixture(world, "base_mixture", n, random.Random(world)), steps, seed=0)
    out["time_ratio"] = out["new"]["s_per_step"] / out["old"]["s_per_step"]
    return out


# --- (3) projection ------------------------------------------------------------------------------

# section -> (kind, mixtures): "sequence" = trains or probes whole sequences, "completion" = samples, "fixed" = no toy
# sequence. 03/05's GRPO and 05's train sample from the base (base_mixture) or from the long SFT model (long).
SECTIONS = {
    "00_world": {"base model": ("base", ()), "evaluate base": ("completion", ("base_mixture",))},
    "01_pseudo_gradient": {"train": ("sequence", ("long",)), "probe_toy": ("sequence", ("long",)),
                           "path": ("sequence", ("long",)), "landscape": ("sequence", ("answer_only",)),
                           "path_plane": ("fixed", ()), "probe_llm": ("fixed", ()), "theory": ("fixed", ())},
    "02_trajectory_length": {"train": ("sequence", ("answer_only", "short", "padded")),
                             "evaluate": ("completion", ("answer_only", "short", "padded", "long"))},
    "03_support_set_size": {"train_sft": ("sequence", ("long",)), "train_grpo": ("completion", ("base_mixture",)),
                            "train_sft_grpo": ("sequence", ("long",)),  # both in one sweep since 2026-12-03: the
                            # SFT arms' scale for the whole (they were 55% of it)
                            "evaluate": ("completion", ("long", "base_mixture"))},
    "04_reflection_tokens": {"train": ("sequence", ("reflection", "long")), "probe_c7": ("sequence", ("reflection",)),
                             "probe_c7_llm": ("fixed", ()), "probe_c8": ("sequence", ("long",)),
                             "evaluate": ("completion", ("reflection", "long"))},
    "05_sft_then_rl": {"train": ("completion", ("long", "base_mixture")), "rl_check": ("completion", ("base_mixture",)),
                       "evaluate": ("completion", ("long", "base_mixture"))},
    "06_generalisation": {"train": ("fixed", ()),
                          "evaluate": ("completion", ("answer_only", "short", "long", "reflection", "base_mixture"))},
    "07_efficient_reasoning": {"train": ("sequence", ("compressed",)),
                               "evaluate_forced_arms": ("completion", ("long",)),
                               "evaluate_sft_arms": ("completion", ("compressed", "answer_only"))},
    "99_summary": {"read": ("fixed", ())},
}
BASE_STAGE_STEPS = {"base_facts": 600, "base_mixture": 500}


def section_ratio(kind: str, mixes: tuple[str, ...], ratios: dict) -> float:
    """Returns the new/old time ratio of one section by the projection rule."""
    if kind == "fixed":
        return 1.0
    if kind == "base":
        weight = {m: BASE_STAGE_STEPS[m] * ratios[m]["old_sequence"] for m in BASE_STAGE_STEPS}
        return sum(weight[m] * ratios[m]["sequence_ratio"] for m in weight) / sum(weight.values())
    return mean(ratios[m][f"{kind}_ratio"] for m in mixes)


def notebook_projection(notebook: str, ratios: dict, profile_dir: Path | None) -> dict:
    """Returns one notebook's measured and projected cold time (s): section by section from ``profile_dir``'s
    timings, or (``profile_dir`` None) the previous run's figure scaled by the mean of its sections' ratios."""
    sections = SECTIONS[notebook]
    factors = {name: section_ratio(*spec, ratios) for name, spec in sections.items()}
    if profile_dir is None:
        scaled = [f for name, f in factors.items() if sections[name][0] != "fixed"] or [1.0]
        return {"measured_s": PREVIOUS_RUN_S[notebook], "projected_s": PREVIOUS_RUN_S[notebook] * mean(scaled),
                "ratio": mean(scaled)}
    wall = json.loads((profile_dir / notebook / "status.json").read_text())["wall_s"]
    timed = json.loads((profile_dir / notebook / "timings.json").read_text())["sections_s"]
    unknown = set(timed) - set(sections)
    assert not unknown, f"{notebook}: sections {unknown} have no projection rule"
    projected = wall - sum(timed.values()) + sum(t * factors[name] for name, t in timed.items())
    return {"measured_s": wall, "projected_s": projected,
            "sections": {n: {"measured_s": t, "ratio": factors[n]} for n, t in timed.items()}}


def projection(ratios: dict, profile_dir: Path | None) -> dict:
    """Returns every notebook's projection and the totals, from ``profile_dir``'s last run or the previous run."""
    rows = {nb: notebook_projection(nb, ratios, profile_dir) for nb in SECTIONS}
    measured, total = sum(r["measured_s"] for r in rows.values()), sum(r["projected_s"] for r in rows.values())
    return {"source": "previous run" if profile_dir is None else f"last run ({profile_dir})", "notebooks": rows,
            "measured_total_s": measured, "projected_total_s": total, "projected_total_min": total / 60,
            "budget_min": BUDGET_MIN, "exceeds_budget": total / 60 > BUDGET_MIN}


def last_run_dir(profile_dir: Path) -> Path | None:
    """Returns ``profile_dir`` if every notebook's status.json and timings.json exist there, else None."""
    complete = all((profile_dir / nb / f).exists() for nb in SECTIONS for f in ("status.json", "timings.json"))
    return profile_dir if complete else None


# --- output --------------------------------------------------------------------------------------


def print_tokens(table: dict, ratios: dict) -> None:
    print("\n(1) trajectory tokens per trajectory, mean over chain/vars/list (k = " + ", ".join(map(str, STEPS)) + ")")
    for world, styles in (("old", toy.STYLES), ("new", NEW_STYLES)):
        for style in styles:
            row = table[world][style]
            print(f"  {world} {style:<12}" + "".join(f"{row[k]:8.1f}" for k in STEPS))
    print("  new/old at the same k:")
    for style in [s for s in NEW_STYLES if s in toy.STYLES]:
        old, new = table["old"][style], table["new"][style]
        if old[STEPS[0]]:
            print(f"    {style:<12}" + "".join(f"{new[k] / old[k]:8.2f}" for k in STEPS))
    print("  list family:")
    for world, styles in table["list_family"].items():
        for style, row in styles.items():
            print(f"    {world} {style:<8}" + "".join(f"{row[k]:8.1f}" for k in STEPS))
    print("\n  notebook mixtures, mean tokens old -> new (ratio): sequence | completion | trajectory")
    for name, r in ratios.items():
        traj = f"{r['trajectory_ratio']:.2f}" if r["trajectory_ratio"] is not None else "-"
        print(f"    {name:<13} {r['old_sequence']:6.1f} -> {r['new_sequence']:6.1f} ({r['sequence_ratio']:.2f}) | "
              f"{r['old_completion']:6.1f} -> {r['new_completion']:6.1f} ({r['completion_ratio']:.2f}) | {traj}")


def print_pilot(pilot: dict, check: dict) -> None:
    print(f"\n(2) learnability pilot (seed 0 only; {pilot['parameters']:,} parameters)")
    for stage in ("stage_i_facts", "stage_ii_mixture"):
        s = pilot[stage]
        print(f"  {stage}: {s['steps']} steps, {s['seconds']:.0f} s, {s['s_per_step']:.3f} s/step, "
              f"{s['tokens_per_s']:.0f} tokens/s, loss {s['loss_first_20']:.3f} -> {s['loss_last_20']:.3f}")
    print(f"  after stage i, k=1 long: accuracy {pilot['after_stage_i_k1_long']['accuracy']:.3f}")
    print("  greedy exact-match accuracy (exact oracle trajectory) on held-out chain questions, k = 1..4:")
    for style, by_k in pilot["accuracy"].items():
        cells = (f"  {r['accuracy']:.3f} ({r['exact_trajectory']:.2f})" for r in by_k.values())
        print(f"    {style:<12}" + "".join(cells))
    for style, by_k in pilot["accuracy"].items():
        print(f"    e.g. {style}, k=1: {by_k[1]['example']}")
    print(f"  throughput check (base mixtures, {check['old']['steps']} steps): old {check['old']['s_per_step']:.3f} "
          f"s/step, new {check['new']['s_per_step']:.3f} s/step: time ratio {check['time_ratio']:.2f}")


def print_projection(proj: dict) -> None:
    print(f"\n(3) projected cold cpu time in the carry world, from the {proj['source']}")
    for notebook, r in proj["notebooks"].items():
        print(f"  {notebook:<24} {r['measured_s']:7.1f} s -> {r['projected_s']:7.1f} s")
    print(f"  total {proj['measured_total_s'] / 60:.1f} min -> {proj['projected_total_min']:.1f} min: "
          f"{'EXCEEDS' if proj['exceeds_budget'] else 'within'} the {BUDGET_MIN:.0f}-minute budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts-steps", type=int, default=600, help="stage i steps (BaseParams.facts_train: 600)")
    parser.add_argument("--train-steps", type=int, default=500, help="stage ii steps (BaseParams.train: 500)")
    parser.add_argument("--eval-questions", type=int, default=200, help="held-out questions per k and style")
    parser.add_argument("--pool-size", type=int, default=4000,
                        help="training sequences per stage (BaseParams.n_questions)")
    parser.add_argument("--token-questions", type=int, default=200,
                        help="questions per family and k for the token tables")
    parser.add_argument("--check-steps", type=int, default=30, help="steps per world in the throughput check")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--outputs-dir", default="outputs")
    parser.add_argument("--out", default="outputs/benchmarks/toy_carry_pilot.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    table, ratios = token_table(args.token_questions), mix_ratios(3 * args.token_questions)
    print_tokens(table, ratios)
    last = last_run_dir(Path(args.outputs_dir) / args.profile)
    projections = {"previous_run": projection(ratios, None)}
    if last is not None:
        projections["last_run"] = projection(ratios, last)
    for proj in projections.values():
        print_projection(proj)
    print("\n(2) training the pilot ...", flush=True)
    check = throughput_check(args.check_steps, args.pool_size // 4)
    pilot = learnability(args.facts_steps, args.train_steps, args.eval_questions, args.pool_size)
    print_pilot(pilot, check)
    result = {"args": vars(args), "extra_chars": EXTRA_CHARS, "carry_marker": CARRY, "tokens": table,
              "mixtures": ratios, "throughput_check": check, "pilot": pilot, "projections": projections,
              "threads": torch.get_num_threads()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, allow_nan=False))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
