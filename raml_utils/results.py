"""What a notebook leaves behind: ``metrics.json`` (one schema for every notebook), ``timings.json``, figures.

Every notebook opens with ``run = results.start(profile, "NN_name")`` and closes with
``results.finish(run, claims, measurements)``: ``start`` loads the profile and names the output folder and timer,
``finish`` writes ``metrics.json`` and ``timings.json`` and prints the verdicts.

``metrics.json`` holds only what is comparable across machines: the claim verdicts with effect, CI,
seeds and question counts, the notebook's other measurements, the hash of the params that produced
them and the code commit. Wall times and thread counts go to ``timings.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

from .cache import plain_data, write_json_atomic
from .metrics import chance_score
from .params import PARAMS_DIR, Profile, load_profile
from .stats import ClaimResult, claim_result, decide, headroom_reason

OUTPUTS_DIR = Path(__file__).resolve().parent.parent / "outputs"
SCHEMA_VERSION = 3  # 2: strict JSON (no NaN), each claim entry holds its arms' means (a_mean, b_mean); 3: and the
# ladder levels it was read on, with the pilot's expected half-width


def output_dir(profile: Profile, notebook: str) -> Path:
    """Returns (and creates) the folder where a notebook writes its results: ``outputs/<profile>/<notebook>/``.

    Under ``run_all.sh`` the runner names the folder (``RAML_OUTPUT_DIR``), so ``--outputs-dir`` is honoured.
    """
    path = Path(os.environ["RAML_OUTPUT_DIR"]) if os.environ.get("RAML_OUTPUT_DIR") else OUTPUTS_DIR / profile.name / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path


def params_hash(profile: Profile) -> str:
    """Returns a short hash of every value of the profile: metrics from other params are stale."""
    return hashlib.sha256(json.dumps(plain_data(profile), sort_keys=True).encode()).hexdigest()[:16]


def code_commit() -> str:
    """Returns the git commit of the code (with '+dirty' when the work tree has changes), or 'unknown'."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "raml_utils", "notebooks", "params"],
                               cwd=root, capture_output=True, text=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_claims() -> dict:
    """Returns the pre-registered analysis plan (``params/claims.yaml``)."""
    return yaml.safe_load((PARAMS_DIR / "claims.yaml").read_text())


def bounds(profile: Profile, metric: str) -> tuple[float | None, float | None]:
    """Returns (chance, ceiling) of ``metric`` under the profile's world and evaluation, as the pre-registered
    decidability rule reads them (``claims.yaml``, ``decidability``), or (None, None) for an unbounded metric."""
    rule = load_claims()["decidability"]
    if metric not in rule["bounded_metrics"]:
        return None, None
    p = rule["chance_per_sample"][profile.world.kind]
    return chance_score(metric, p, profile.eval.n_samples, profile.eval.k), float(rule["ceiling"])


def headroom(profile: Profile, metric: str, a_mean: float, b_mean: float, direction: int, margin: float) -> str | None:
    """Returns why a contrast on ``metric`` with arm means ``a_mean``, ``b_mean`` has no headroom under the profile's
    chance and ceiling (``stats.headroom_reason``), or None (room, or an unbounded metric)."""
    return headroom_reason(a_mean, b_mean, direction, margin, *bounds(profile, metric))


def headroom_verdict(claim: ClaimResult, profile: Profile) -> tuple[str, str | None]:
    """Returns a contrast's verdict under the CI rule and the headroom part of the decidability rule, and the
    headroom reason (None where the arms have headroom, or the metric is unbounded): what a notebook can decide
    alone. A CI that excludes 0 the other way keeps "not reproduced" whatever the reason. The component checks (the
    base's signal, the GRPO checks) read other notebooks' results: the scoreboard (notebook 99) applies them on top."""
    if claim.a_mean is None or claim.b_mean is None or math.isnan(claim.lo) or math.isnan(claim.hi):
        return claim.verdict, None
    reason = headroom(profile, claim.metric, claim.a_mean, claim.b_mean, claim.direction, claim.margin)
    return (decide(claim.lo, claim.hi, claim.direction, claim.margin, [reason]) if reason else claim.verdict), reason


def pre_registered(claim: str, a, b, arms: tuple[str, str] | None = None, metric: str | None = None,
                   role: str = "primary") -> ClaimResult:
    """Returns the verdict of ``claim`` from per-(seed, question) scores of its two arms, by the frozen rule.

    ``arms``/``metric`` default to the claim's primary contrast; pass them for a pre-registered control.
    ``role="secondary"`` marks a contrast reported beside the primary one (another arm pair or world): the
    scoreboard shows it but never lets it decide the claim's verdict.
    """
    if role not in ("primary", "secondary"):
        raise ValueError(f"role={role!r} is not allowed: 'primary' or 'secondary'")
    plan = contrast_plan(claim, metric, arms)
    result = claim_result(claim, plan["metric"], tuple(plan["arms"]), a, b, direction=plan["direction"],
                          margin=plan["margin"])
    return dataclasses.replace(result, role=role)


def extra_primary(claim: str) -> list[dict]:
    """Returns the primary contrasts an amendment added to ``claim`` (``claims.yaml``, ``extra_primary``), each with
    its metric, arms, direction and margin."""
    return load_claims().get("extra_primary", {}).get(claim, [])


def contrast_plan(claim: str, metric: str | None = None, arms=None) -> dict:
    """Returns the plan (metric, arms, direction, margin) a contrast of ``claim`` is judged by: the claim's own, or,
    for a contrast an amendment added (``extra_primary``: same metric and arms), that one's."""
    plan = load_claims()["claims"][claim]
    for extra in extra_primary(claim):
        if extra["metric"] == metric and (arms is None or list(arms) == list(extra["arms"])):
            return {**plan, **extra}
    return {**plan, "metric": metric or plan["metric"], "arms": list(arms or plan["arms"])}


def write_metrics(out: Path, notebook: str, profile: Profile, claims: list[ClaimResult], measurements: dict,
                  labels: list[str] | None = None) -> dict:
    """Writes ``metrics.json`` (``SCHEMA_VERSION``, strict JSON) atomically and returns what it wrote.

    ``labels`` (optional, one per claim) name what tells apart contrasts of the same claim, arms and metric,
    e.g. the test split; the scoreboard shows them.
    """
    if labels is not None and len(labels) != len(claims):
        raise ValueError(f"labels has {len(labels)} entries; it needs one per claim ({len(claims)})")
    entries = [c.to_dict() for c in claims]
    for entry, label in zip(entries, labels or []):
        entry["label"] = label
    data = {
        "schema": SCHEMA_VERSION,
        "notebook": notebook,
        "profile": profile.name,
        "params_hash": params_hash(profile),
        "code_commit": code_commit(),
        "claims": entries,
        "measurements": measurements,
    }
    write_json_atomic(out / "metrics.json", data)
    return data


class Timer:
    """Collects named wall times; ``write`` puts them in ``timings.json`` with the machine facts."""

    def __init__(self):
        self.sections: dict[str, float] = {}

    @contextmanager
    def section(self, name: str):
        start = time.perf_counter()
        yield
        self.sections[name] = round(self.sections.get(name, 0.0) + time.perf_counter() - start, 2)

    def write(self, out: Path, profile: Profile) -> None:
        import torch

        write_json_atomic(out / "timings.json", {
            "sections_s": self.sections, "total_s": round(sum(self.sections.values()), 2),
            "torch_threads": torch.get_num_threads(), "workers": profile.workers,
            "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
        })


@dataclasses.dataclass
class Run:
    """One notebook's run: its name, the loaded profile, where it writes, and the wall-time sections it records."""

    notebook: str
    profile: Profile
    out_dir: Path
    timer: Timer


def start(profile: str | Path, notebook: str) -> Run:
    """Opens ``notebook``'s run under ``profile`` (the papermill parameter: a profile name or a yaml path) and prints
    the header: the profile, its world, seeds and params hash, and the output folder.

    Naming in every notebook: ``profile`` stays the parameter (a string); the loaded ``Profile`` is ``run.profile``,
    bound to ``cfg`` (``cfg = run.profile``), and one of its sections to ``<section>_cfg`` (e.g. ``grpo_cfg``).
    """
    loaded = load_profile(profile)
    run = Run(notebook, loaded, output_dir(loaded, notebook), Timer())
    print(f"{notebook}: profile {loaded.name} ({loaded.world.kind} world), seeds {loaded.seeds}, params hash "
          f"{params_hash(loaded)}; outputs in {run.out_dir}")
    return run


def verdict_line(claim: ClaimResult, label: str | None = None, profile: Profile | None = None) -> str:
    """Returns one line for a claim's contrast: arms, metric, effect with its 95% CI, verdict, counts, ladder; with
    ``profile``, the verdict with the headroom rule (``headroom_verdict``) and, where it differs, the CI rule's."""
    what = claim.claim + (f" [{label}]" if label else "") + (" (secondary)" if claim.role == "secondary" else "")
    where = f"; {claim.ladder}" if claim.ladder else ""
    verdict, reason = headroom_verdict(claim, profile) if profile is not None else (claim.verdict, None)
    why = f" ({reason}; the CI rule alone: {claim.verdict})" if verdict != claim.verdict else ""
    return (f"{what}: {claim.arms[0]} - {claim.arms[1]} {claim.metric} = {claim.effect:+.4f}, 95% CI "
            f"[{claim.lo:+.4f}, {claim.hi:+.4f}] -> {verdict}{why} ({claim.n_seeds} seeds x {claim.n_questions} "
            f"questions{where})")


def finish(run: Run, claims: list[ClaimResult], measurements: dict, labels: list[str] | None = None) -> None:
    """Closes ``run``: writes ``metrics.json`` (``write_metrics``: ``claims``, ``measurements``, ``labels``) and
    ``timings.json`` (``Timer.write``), then prints one verdict line per claim (with the headroom rule; the scoreboard
    adds the component checks) and the wall time per section."""
    write_metrics(run.out_dir, run.notebook, run.profile, claims, measurements, labels)
    run.timer.write(run.out_dir, run.profile)
    for claim, label in zip(claims, labels or [None] * len(claims)):
        print(verdict_line(claim, label, run.profile))
    if not claims:
        print(f"{run.notebook} tests no claim: metrics.json holds its measurements only")
    print(f"wall time by section (s): {run.timer.sections}")
