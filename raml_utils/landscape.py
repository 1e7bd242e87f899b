"""The answer-loss landscape over parameters (claim C2): a random-direction plane, and the fitted path.

Two pictures, both of the answer loss *without* a trajectory, L(theta) = -mean log p(answer | prompt, suffix):

- ``loss_plane``: Li et al. (2018). Two random directions, filter- (or tensor-) normalised to the
  weights they perturb, a grid over [-1, 1]^2. Embeddings and 1-D parameters (norm gains) are left
  out, as Li et al. leave out biases and batch-norm. The directions are regenerated from a seed for
  every grid point, so the only extra copy of the parameters is the one that restores them bit-exactly.
- ``fit_path``: for each prefix t<=i of a trajectory, the displacement Delta-theta_i that makes the model
  *without* the trajectory give the answer tokens the distribution the model gives them *with* t<=i
  (KL + a norm penalty, Adam, warm-started from Delta-theta_{i-1}). The points {Delta-theta_i} are
  the weight updates the trajectory would be equivalent to, if it were one; ``path_plane`` draws them
  on their top-2 principal directions, over the answer loss on that plane.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from .probe import ProbeInput

# --- which parameters move -------------------------------------------------------------------------


def moving_parameters(model) -> dict[str, torch.nn.Parameter]:
    """Returns the parameters a landscape perturbs: every matrix except the (tied) embeddings."""
    skip = {id(model.get_input_embeddings().weight), id(model.get_output_embeddings().weight)}
    return {n: p for n, p in model.named_parameters() if p.ndim >= 2 and id(p) not in skip}


@contextmanager
def restored(params: dict[str, torch.nn.Parameter]):
    """Yields one saved copy of ``params`` (name -> tensor); puts it back bit-exactly on exit, whatever happens."""
    saved = {n: p.detach().clone() for n, p in params.items()}
    try:
        yield saved
    finally:
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(saved[n])


def _nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def direction(param: torch.Tensor, seed: int, index: int, axis: int, normalisation: str) -> torch.Tensor:
    """Returns a random direction for one weight tensor, normalised to it (regenerated identically from the seed)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + index * 2 + axis)
    d = torch.randn(param.shape, generator=gen, dtype=param.dtype).to(param.device)  # drawn on the CPU: any device
    w = param.detach()
    if normalisation == "filter":  # each output row ("filter") gets the norm of the same row of the weights
        d *= w.flatten(1).norm(dim=1).view(-1, *[1] * (w.ndim - 1)) / (d.flatten(1).norm(dim=1).view(-1, *[1] * (w.ndim - 1)) + 1e-10)
    elif normalisation == "tensor":
        d *= w.norm() / (d.norm() + 1e-10)
    else:
        raise ValueError(f"normalisation={normalisation!r}; allowed: 'filter', 'tensor'")
    return d


# --- the answer loss -------------------------------------------------------------------------------


def _batch(items: list[ProbeInput], cuts: list[int] | None):
    """Returns (ids, attention mask, answer positions, answer ids) of right-padded prompt+prefix+suffix+answer."""
    rows = []
    for item, cut in zip(items, cuts or [0] * len(items)):
        rows.append(list(item.prompt) + list(item.trajectory[:cut]) + list(item.suffix) + list(item.answer[:-1]))
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    n_a = len(items[0].answer)
    if any(len(it.answer) != n_a for it in items):
        raise ValueError("batched answer losses need answers of equal token length")
    positions = torch.zeros(len(rows), n_a, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)], mask[i, :len(r)] = torch.tensor(r), 1
        positions[i] = torch.arange(len(r) - n_a, len(r))
    answers = torch.tensor([it.answer for it in items])
    return ids, mask, positions, answers


def answer_logprobs(model, items: list[ProbeInput], cuts: list[int] | None = None, params: dict | None = None):
    """Returns log p over the vocabulary at each answer position (n, A, V), after trajectory prefix ``cuts``.

    ``params`` replaces some parameters functionally (``torch.func.functional_call``) so that gradients
    reach a displacement; default: the model's own.
    """
    ids, mask, positions, _ = (t.to(model.device) for t in _batch(items, cuts))
    if params is None:
        logits = model(input_ids=ids, attention_mask=mask).logits
    else:
        logits = torch.func.functional_call(model, params, args=(), kwargs={"input_ids": ids, "attention_mask": mask}).logits
    picked = logits.gather(1, positions[..., None].expand(-1, -1, logits.shape[-1]))  # (n, A, V)
    return torch.log_softmax(picked.float(), dim=-1)


@torch.no_grad()
def answer_loss(model, items: list[ProbeInput]) -> float:
    """Returns the mean answer NLL over ``items`` with no trajectory (prompt, suffix, answer)."""
    _, _, _, answers = _batch(items, None)
    logp = answer_logprobs(model, items)
    return float(-logp.gather(-1, answers.to(logp.device)[..., None]).mean())


# --- Li et al.'s random plane ----------------------------------------------------------------------


@dataclass
class Plane:
    """A loss surface on a 2-D slice of parameter space."""

    alphas: np.ndarray  # (G,) coordinates along the first direction
    betas: np.ndarray  # (G,) along the second
    loss: np.ndarray  # (G, G): loss[i, j] at (alphas[j], betas[i])
    extra_bytes: int  # peak memory the slice held beyond the model: one saved copy + one tensor's directions
    param_bytes: int  # bytes of the parameters that move


@torch.no_grad()
def loss_plane(model, items: list[ProbeInput], grid: int, seed: int, normalisation: str) -> Plane:
    """Returns the answer loss (no trajectory) on theta + a d1 + b d2 over a ``grid`` x ``grid`` grid of [-1, 1]^2."""
    params = moving_parameters(model)
    axis = np.linspace(-1, 1, grid)
    loss = np.zeros((grid, grid))
    with restored(params) as theta:
        for i, b in enumerate(axis):
            for j, a in enumerate(axis):
                for index, (n, p) in enumerate(params.items()):
                    d1 = direction(theta[n], seed, index, 0, normalisation)
                    d2 = direction(theta[n], seed, index, 1, normalisation)
                    torch.add(theta[n], d1, alpha=float(a), out=p.data).add_(d2, alpha=float(b))
                loss[i, j] = answer_loss(model, items)
        extra = _nbytes(theta.values()) + 2 * max(_nbytes([t]) for t in theta.values())  # copy + d1, d2 of one tensor
    return Plane(axis, axis, loss, extra, _nbytes(theta.values()))


# --- the trajectory as a path of fitted displacements ---------------------------------------------


@dataclass
class Path:
    """Fitted displacements Delta-theta_i, one per trajectory prefix, and what they do."""

    cuts: list[int]  # trajectory tokens of each prefix (0 = no trajectory)
    displacements: np.ndarray  # (m, D) flattened Delta-theta_i over the moving parameters
    answer_loss: np.ndarray  # (m,) answer NLL without trajectory at theta + Delta-theta_i
    target_lhat: np.ndarray  # (m,) L-hat of the model *with* prefix i: what the fit imitates
    fit_kl: np.ndarray  # (m,) KL(with prefix || at displacement) left after the fit
    names: list[str]  # moving parameters, in the order they are flattened
    shapes: list[tuple]


def fit_path(model, item: ProbeInput, cuts: list[int], steps: int, lr: float, norm_penalty: float) -> Path:
    """Returns the displacement path of one trajectory: Delta-theta_i for each prefix length in ``cuts``.

    Each fit minimises KL(p(answer | prompt, t<=i) || p_{theta + Delta}(answer | prompt)) summed over the
    answer positions (teacher-forced on the true answer) + ``norm_penalty`` * ||Delta||^2, with ``steps``
    Adam steps, starting from the previous prefix's displacement (the first from zero); the empty prefix
    is Delta = 0 by definition.
    """
    params = moving_parameters(model)
    names = list(params)
    theta = {n: p.detach() for n, p in params.items()}
    delta = {n: torch.zeros_like(p, requires_grad=True) for n, p in theta.items()}
    opt = torch.optim.Adam(delta.values(), lr=lr)
    answers = torch.tensor([item.answer], device=model.device)
    points, losses, targets, kls = [], [], [], []
    for cut in cuts:
        with torch.no_grad():
            target = answer_logprobs(model, [item], [cut])  # (1, A, V)
        targets.append(float(-target.gather(-1, answers[..., None]).mean()))
        # No prefix: the model already is itself (Delta = 0). Adam would turn round-off gradients into lr-sized steps.
        for _ in range(steps if cut > 0 else 0):
            opt.zero_grad()
            logp = answer_logprobs(model, [item], params={n: theta[n] + delta[n] for n in names})
            kl = (target.exp() * (target - logp)).sum(-1).sum()
            (kl + norm_penalty * sum((d ** 2).sum() for d in delta.values())).backward()
            opt.step()
        with torch.no_grad():
            logp = answer_logprobs(model, [item], params={n: theta[n] + delta[n] for n in names})
            kls.append(float((target.exp() * (target - logp)).sum(-1).sum()))
            losses.append(float(-logp.gather(-1, answers[..., None]).mean()))
            points.append(torch.cat([delta[n].detach().flatten() for n in names]).cpu().numpy().copy())
    return Path(list(cuts), np.stack(points), np.array(losses), np.array(targets), np.array(kls), names,
                [tuple(theta[n].shape) for n in names])


@dataclass
class PathProjection:
    """The path on the plane of its top-2 principal directions, and the answer loss on that plane."""

    coords: np.ndarray  # (m, 2) path points in the plane (origin: the path's mean)
    explained: np.ndarray  # (2,) share of the path's variance along each direction
    null_explained: float  # top-2 share for a path with the same step lengths but mutually orthogonal steps
    plane: Plane  # answer loss on theta + mean + x u1 + y u2


def _orthogonal_steps_explained(step_norms: np.ndarray) -> float:
    """Returns the top-2 explained variance of a path whose steps have these norms and are mutually orthogonal.

    Independent random steps in a space of ~1e6 dimensions are orthogonal to within ~1e-3, so this is
    what a path without structure would show: the baseline the real share must be read against.
    """
    m = len(step_norms) + 1
    points = np.zeros((m, m - 1))
    for i, norm in enumerate(step_norms):
        points[i + 1:, i] = norm
    centred = points - points.mean(0)
    s = np.linalg.svd(centred, compute_uv=False) ** 2
    return float(s[:2].sum() / s.sum()) if s.sum() > 0 else float("nan")


@torch.no_grad()
def path_plane(model, path: Path, items: list[ProbeInput], grid: int, margin: float = 0.25) -> PathProjection:
    """Returns the path projected on its top-2 principal directions, over the answer loss on that plane."""
    mean = path.displacements.mean(0)
    centred = path.displacements - mean  # (m, D)
    # The principal directions from the m x m Gram matrix (m points, D ~ 1e6-1e8 parameters): the SVD's right
    # singular vectors without a LAPACK pass over an m x D matrix (23 s for D = 1e8), summed in float64 by blocks.
    gram = sum(block.T @ block for block in (centred[:, i:i + 2**22].astype(np.float64).T
                                             for i in range(0, centred.shape[1], 2**22)))
    var, u = np.linalg.eigh(gram)  # ascending
    var, u = np.clip(var[::-1], 0, None), u[:, ::-1]
    explained = var[:2] / var.sum() if var.sum() > 0 else np.full(2, np.nan)
    basis = (u[:, :2].T.astype(np.float32) @ centred) / np.sqrt(np.maximum(var[:2], 1e-300))[:, None]  # (2, D)
    coords = centred @ basis.T  # (m, 2)
    span = np.abs(coords).max(0) * (1 + margin) + 1e-8
    xs, ys = np.linspace(-span[0], span[0], grid), np.linspace(-span[1], span[1], grid)
    params = moving_parameters(model)
    sizes = [int(np.prod(sh)) for sh in path.shapes]
    chunks = lambda v: dict(zip(path.names, torch.from_numpy(v.astype(np.float32)).to(model.device).split(sizes)))  # noqa: E731
    centre, u1, u2 = chunks(mean), chunks(basis[0]), chunks(basis[1])
    loss = np.zeros((grid, grid))
    with restored(params) as theta:
        for i, y in enumerate(ys):
            for j, x in enumerate(xs):
                for n, p in params.items():
                    shape = theta[n].shape
                    p.copy_(theta[n] + centre[n].view(shape) + float(x) * u1[n].view(shape) + float(y) * u2[n].view(shape))
                loss[i, j] = answer_loss(model, items)
    steps = np.linalg.norm(np.diff(path.displacements, axis=0), axis=1)
    extra = _nbytes(theta.values())
    return PathProjection(coords, explained, _orthogonal_steps_explained(steps),
                          Plane(xs, ys, loss, extra, extra))
