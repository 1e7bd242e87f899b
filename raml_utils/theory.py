"""Proposition 2.1 checked numerically: is appending a trajectory token the same as changing W_q, W_k, W_v?

The setting of the proposition: one single-head attention layer and a 2-layer FFN (ReLU), residual
connections, no normalisation, no positional encoding; the answer is read at the last (query) position
of the context X (n x d). Appending a token t to the context changes the attention output there from
o = sum_j w_j v_j to o+ = (1 - lam) o + lam v_t, with lam the attention mass t receives. Everything after
attention is position-wise, so a construction is exact for the block iff it reproduces o+.

Three constructions are measured (all in float64), each against the block that really reads t:

- ``value``: W'_q = W_q, W'_k = W_k, W'_v = (1 - lam) W_v + X^+ 1 (lam t W_v). The missing mass lam has to
  enter through the values, as the constant lam v_t added at every context position, which X P = 1 lam v_t
  produces exactly iff 1 lies in X's column space: generically iff n <= d. The update depends on X and on
  the query (lam does), i.e. it is Delta-M(I, q, t), not a fixed weight change. Beyond n = d it is the
  least-squares P, approximate.
- ``softmax_only``: any change confined to W_q, W_k (inside the softmax) keeps the output a convex
  combination of the context's own values; its error is at least the distance from o+ to their affine
  hull, which we compute. Equality inside the softmax cannot hold: the weights over X sum to 1, the true
  ones to 1 - lam.
- ``linear``: for linear attention (no softmax) the token adds (q W_q)(t W_k)^T (t W_v), which
  W'_v = W_v + (X^T W_k^T... ) reproduces for every query when X^T X is invertible (n >= d); applied to
  the softmax block it is the approximation the linear-attention view of in-context learning makes.

``effective_update_alignment`` then asks whether the update a token induces points downhill: the cosine
between Delta W_v (the ``value`` construction) and -grad_{W_v} of the answer loss without the token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

DTYPE = torch.float64


@dataclass
class Block:
    """One attention layer + 2-layer FFN, no normalisation, with a linear read-out of answer logits."""

    wq: torch.Tensor  # (d, d)
    wk: torch.Tensor
    wv: torch.Tensor
    w1: torch.Tensor  # (d, h)
    w2: torch.Tensor  # (h, d)
    readout: torch.Tensor  # (d, C)

    @property
    def d(self) -> int:
        return self.wq.shape[0]


def random_block(d: int, classes: int, gen: torch.Generator, hidden: int | None = None) -> Block:
    """Returns a block with Gaussian weights scaled 1/sqrt(fan-in)."""
    h = hidden or 4 * d
    r = lambda *s: torch.randn(*s, generator=gen, dtype=DTYPE) / np.sqrt(s[0])  # noqa: E731
    return Block(r(d, d), r(d, d), r(d, d), r(d, h), r(h, d), r(d, classes))


def attention(block: Block, context: torch.Tensor, wq=None, wk=None, wv=None) -> torch.Tensor:
    """Returns the softmax attention output (d,) at the last row of ``context`` (n, d)."""
    wq, wk, wv = (block.wq if wq is None else wq), (block.wk if wk is None else wk), (block.wv if wv is None else wv)
    q = context[-1] @ wq  # (d,)
    weights = torch.softmax((context @ wk) @ q / np.sqrt(block.d), dim=0)  # (n,)
    return weights @ (context @ wv)


def logits(block: Block, query: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    """Returns the answer logits of the block given the query row and its attention output (residual + FFN)."""
    h = query + attn
    return (h + torch.relu(h @ block.w1) @ block.w2) @ block.readout


def with_token(context: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """Returns the context with ``token`` inserted just before the query (the last row)."""
    return torch.cat([context[:-1], token[None], context[-1:]])


def token_mass(block: Block, context: torch.Tensor, token: torch.Tensor) -> float:
    """Returns lam: the attention weight the query gives ``token`` once it is in the context."""
    full = with_token(context, token)
    q = full[-1] @ block.wq
    return float(torch.softmax((full @ block.wk) @ q / np.sqrt(block.d), dim=0)[-2])


def value_construction(block: Block, context: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """Returns W'_v that makes attention over ``context`` alone equal attention over context + token (n <= d)."""
    lam = token_mass(block, context, token)
    target = torch.ones(context.shape[0], 1, dtype=DTYPE) * (lam * (token @ block.wv))[None]  # (n, d): lam v_t per row
    return (1 - lam) * block.wv + torch.linalg.pinv(context) @ target


def linear_construction(block: Block, context: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """Returns W'_v that reproduces the token's effect for linear attention, for every query (needs n >= d)."""
    gram = context.T @ context  # (d, d)
    return block.wv + torch.linalg.pinv(gram) @ torch.outer(token, token) @ block.wv


def affine_hull_distance(values: torch.Tensor, point: torch.Tensor) -> float:
    """Returns the distance from ``point`` to the affine hull of the rows of ``values`` (n, d)."""
    base = values[0]
    span = (values[1:] - base).T  # (d, n - 1)
    if span.shape[1] == 0:
        return float((point - base).norm())
    coef = torch.linalg.pinv(span) @ (point - base)  # lstsq's LAPACK driver varied in the 15th digit between runs
    return float((span @ coef + base - point).norm())


def construction_errors(block: Block, context: torch.Tensor, token: torch.Tensor) -> dict:
    """Returns the logit error of each construction, absolute and relative to the token's own effect."""
    query = context[-1]
    reference = logits(block, query, attention(block, with_token(context, token)))  # the block reading t
    without = logits(block, query, attention(block, context))
    effect = float((reference - without).norm())
    out = {"token_effect": effect, "token_mass": token_mass(block, context, token)}
    for name, wv in (("value", value_construction(block, context, token)),
                     ("linear", linear_construction(block, context, token))):
        err = float((logits(block, query, attention(block, context, wv=wv)) - reference).norm())
        out[f"{name}_error"], out[f"{name}_rel_error"] = err, err / max(effect, 1e-300)
    o_plus = attention(block, with_token(context, token))
    out["softmax_only_attn_bound"] = affine_hull_distance(context @ block.wv, o_plus)
    out["softmax_only_attn_rel_bound"] = out["softmax_only_attn_bound"] / max(
        float((o_plus - attention(block, context)).norm()), 1e-300)
    return out


def answer_loss(block: Block, context: torch.Tensor, label: int, wv: torch.Tensor | None = None) -> torch.Tensor:
    """Returns -log p(label) at the query without any appended token (differentiable in ``wv``)."""
    z = logits(block, context[-1], attention(block, context, wv=wv))
    return -torch.log_softmax(z, dim=0)[label]


def effective_update_alignment(block: Block, context: torch.Tensor, token: torch.Tensor, label: int) -> dict:
    """Returns the cosine between Delta W_v (value construction) and -grad_{W_v} L, and the loss changes.

    ``loss_change`` is L(with token) - L(without) (equal to L(W + Delta W) - L(W), the construction being
    exact where it is); ``first_order`` is <grad L, Delta W>, the change a gradient step would predict.
    """
    wv = block.wv.clone().requires_grad_(True)
    loss = answer_loss(block, context, label, wv)
    (grad,) = torch.autograd.grad(loss, wv)
    delta = value_construction(block, context, token) - block.wv
    cos = float((delta * -grad).sum() / (delta.norm() * grad.norm() + 1e-300))
    z_plus = logits(block, context[-1], attention(block, with_token(context, token)))
    loss_plus = -torch.log_softmax(z_plus, dim=0)[label]
    return {"cosine": cos, "loss_change": float(loss_plus.detach() - loss.detach()),
            "first_order": float((grad * delta).sum())}


# --- trained instances ---------------------------------------------------------------------------


@dataclass
class HintTask:
    """A task where the answer is knowable only from the appended token: context = noise + a fixed query."""

    prototypes: torch.Tensor  # (C, d): the hint token of class c is prototypes[c] + noise
    query: torch.Tensor  # (d,) the query row, the same for every instance
    noise: float = 0.5

    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Returns (context (n, d) ending with the query, hint token (d,), label)."""
        d = self.query.shape[0]
        label = int(torch.randint(len(self.prototypes), (1,), generator=gen))
        context = torch.cat([torch.randn(n - 1, d, generator=gen, dtype=DTYPE), self.query[None]])
        token = self.prototypes[label] + self.noise * torch.randn(d, generator=gen, dtype=DTYPE)
        return context, token, label


def _batched_logits(block: Block, full: torch.Tensor) -> torch.Tensor:
    """Returns the answer logits (B, C) of a batch of contexts (B, m, d), read at each last row."""
    q = full[:, -1] @ block.wq  # (B, d)
    weights = torch.softmax(torch.einsum("bnd,bd->bn", full @ block.wk, q) / np.sqrt(block.d), dim=1)  # (B, m)
    h = full[:, -1] + torch.einsum("bn,bnd->bd", weights, full @ block.wv)  # (B, d)
    return (h + torch.relu(h @ block.w1) @ block.w2) @ block.readout


def train_block(d: int, n: int, classes: int, steps: int, seed: int, batch: int = 64) -> tuple[Block, HintTask]:
    """Returns a block trained (Adam) to answer a ``HintTask`` from contexts of ``n`` rows + the hint token."""
    gen = torch.Generator().manual_seed(seed)
    task = HintTask(torch.randn(classes, d, generator=gen, dtype=DTYPE), torch.randn(d, generator=gen, dtype=DTYPE))
    block = random_block(d, classes, gen)
    tensors = [block.wq, block.wk, block.wv, block.w1, block.w2, block.readout]
    for t in tensors:
        t.requires_grad_(True)
    opt = torch.optim.Adam(tensors, lr=1e-2)
    for _ in range(steps):
        labels = torch.randint(classes, (batch,), generator=gen)
        noise = torch.randn(batch, n - 1, d, generator=gen, dtype=DTYPE)
        hints = task.prototypes[labels] + task.noise * torch.randn(batch, d, generator=gen, dtype=DTYPE)
        full = torch.cat([noise, hints[:, None], task.query.expand(batch, 1, d)], dim=1)  # (B, n + 1, d)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(_batched_logits(block, full), labels).backward()
        opt.step()
    for t in tensors:
        t.requires_grad_(False)
    return block, task


def check_proposition(d: int, contexts: tuple[int, ...], instances: int, train_steps: int, seed: int,
                      classes: int = 4):
    """Returns one row per (setting, n, instance): construction errors and the update's alignment with -grad.

    ``random``: a fresh random block, context, token and label per instance. ``trained``: one block per n
    trained on a ``HintTask`` and evaluated on ``instances`` fresh (context, hint, label) draws.
    """
    rows = []
    for n in contexts:
        gen = torch.Generator().manual_seed(seed * 7919 + n)
        for i in range(instances):
            block = random_block(d, classes, gen)
            context = torch.randn(n, d, generator=gen, dtype=DTYPE)
            token = torch.randn(d, generator=gen, dtype=DTYPE)
            label = int(torch.randint(classes, (1,), generator=gen))
            rows.append({"setting": "random", "n": n, "instance": i, **construction_errors(block, context, token),
                         **effective_update_alignment(block, context, token, label)})
        block, task = train_block(d, n, classes, train_steps, seed * 7919 + n + 1)
        for i in range(instances):
            context, token, label = task.sample(n, gen)
            rows.append({"setting": "trained", "n": n, "instance": i, **construction_errors(block, context, token),
                         **effective_update_alignment(block, context, token, label)})
    return pd.DataFrame(rows)
