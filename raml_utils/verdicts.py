"""A claim's verdict: each stored contrast re-judged by the frozen plan, and the claim judged by its primary ones.

A claim's verdict comes from its *primary* contrasts: those on the pre-registered metric of
``params/claims.yaml`` that are not one of the claim's listed controls (and those its amendments add,
``results.extra_primary``). Each stored verdict is re-derived from the stored CI with the plan's direction and
margin (``stats.verdict``) and the decidability rule (``decidability``), so a notebook cannot pass a claim by a
rule of its own. A claim takes the verdict of its decidable primary contrasts and lists the inconclusive ones; if
they disagree (say SFT and GRPO arms of C6), the claim is **mixed**. Controls and secondary metrics are kept for
the details table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from . import stats
from .decidability import Check, gated_verdict, undecidable_reasons
from .notebook_records import NotebookRecord
from .params import Profile
from .results import contrast_plan, extra_primary

REPRODUCED, NOT_REPRODUCED, MIXED = stats.REPRODUCED, stats.NOT_REPRODUCED, stats.MIXED
INCONCLUSIVE = stats.INCONCLUSIVE
NOT_RUN = "not run"
STALE = "stale"
NOT_PRE_REGISTERED = "not pre-registered"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, MIXED, INCONCLUSIVE, NOT_RUN, STALE, NOT_PRE_REGISTERED)

# How to read each verdict; shown under every rendering of the scoreboard.
VERDICT_HELP = {
    REPRODUCED: "the 95% CI of the primary contrast excludes 0 in the paper's direction",
    NOT_REPRODUCED: "the CI lies within the pre-registered margin ±δ, or excludes 0 in the opposite direction",
    MIXED: "the CI is too wide to tell, or the claim's primary contrasts disagree",
    INCONCLUSIVE: "the experiment could not have decided: no headroom (the arm predicted lower at the ceiling, or the "
                  "one predicted higher at chance), or a component it depends on failed its pre-registered check "
                  "(the reason is given)",
    NOT_RUN: "no usable result: the notebook is not written, not run under this profile, or its last run failed",
    STALE: "the metrics were produced under other params than the current profile's; rerun the notebook",
    NOT_PRE_REGISTERED: "measured, but the frozen plan (params/claims.yaml) has no rule for it",
}


@dataclass(frozen=True)
class Contrast:
    """One claim entry of a usable metrics.json, with the verdict re-derived by the frozen rule."""

    notebook: str
    claim: str
    metric: str
    arms: tuple[str, str]
    effect: float
    lo: float
    hi: float
    n_seeds: int | None
    n_questions: int | None
    stored_verdict: str
    verdict: str  # by the plan's direction and margin, and the decidability rule
    primary: bool  # on the pre-registered metric, not a listed control, not marked "secondary" by its notebook
    label: str = ""  # what tells it apart from other entries with the same arms and metric (e.g. the test split)
    reasons: tuple[str, ...] = ()  # why it may be undecidable (no headroom, a failed component check)
    a_mean: float | None = None
    b_mean: float | None = None
    ladder: str = ""  # the levels it was read on (e.g. "rungs k = 3, 4"), "" where no ladder applies
    expected_half_width: float | None = None  # the ladder pilot's expected 95% CI half-width
    direction: int = 1  # the paper's direction and margin for this contrast (the claim's, or its amendment's)
    margin: float = 0.0

    def text(self) -> str:
        """Returns e.g. 'long − short pass_at_k = -0.150 [-0.274, -0.029] on rungs k = 3, 4 (pilot: ±0.080)' (the
        label in brackets after the metric)."""
        label = f" ({self.label})" if self.label else ""
        where = f" on {self.ladder}" if self.ladder else ""
        expected = f" (pilot: ±{self.expected_half_width:.3f})" if self.expected_half_width is not None else ""
        return (f"{self.arms[0]} − {self.arms[1]} {self.metric}{label} = {self.effect:+.3f} "
                f"[{self.lo:+.3f}, {self.hi:+.3f}]{where}{expected}")


def claim_contrasts(records: list[NotebookRecord], claim: str, plan: dict, profile: Profile,
                    checks: list[Check]) -> list[Contrast]:
    """Returns every entry of ``claim`` in the usable metrics, primary ones first, verdicts by the plan's rule and
    the decidability rule."""
    controls = [list(pair) for pair in plan.get("controls", [])]
    added = [(extra["metric"], list(extra["arms"])) for extra in extra_primary(claim)]
    out = []
    for record in records:
        if not record.usable:
            continue
        for c in record.metrics["claims"]:
            if c["claim"] != claim:
                continue
            rule_of = contrast_plan(claim, c["metric"], c["arms"])  # the claim's direction and margin, or its amendment's
            effect, lo, hi = (float("nan") if c[k] is None else float(c[k]) for k in ("effect", "lo", "hi"))
            headroom, failed = undecidable_reasons(c, record.name, rule_of, profile, checks)
            verdict, reasons = gated_verdict(lo, hi, rule_of, headroom, failed)
            on_plan = c["metric"] == plan["metric"] and list(c["arms"]) not in controls
            out.append(Contrast(record.name, claim, c["metric"], tuple(c["arms"]), effect, lo, hi, c.get("n_seeds"),
                                c.get("n_questions"), c["verdict"], verdict,
                                primary=(c.get("role", "primary") == "primary"
                                         and (on_plan or (c["metric"], list(c["arms"])) in added)),
                                label=str(c.get("label") or ""), reasons=reasons,
                                a_mean=c.get("a_mean"), b_mean=c.get("b_mean"), ladder=c.get("ladder") or "",
                                expected_half_width=c.get("expected_half_width"), direction=rule_of["direction"],
                                margin=rule_of["margin"]))
    # Entries that share arms and metric but carry no label would read alike: number them, with their size.
    same = {}
    for c in out:
        same.setdefault((c.notebook, c.arms, c.metric, c.label), []).append(c)
    for group in same.values():
        if len(group) > 1:
            for i, c in enumerate(group, 1):
                out[out.index(c)] = replace(c, label=(f"{c.label}, " if c.label else "")
                                            + f"entry {i} of {len(group)}, {c.n_questions} questions")
    return sorted(out, key=lambda c: not c.primary)


def _name(c: Contrast) -> str:
    return f"{c.arms[0]} − {c.arms[1]}" + (f" ({c.label})" if c.label else "")


def claim_verdict(contrasts: list[Contrast]) -> tuple[str, list[str]]:
    """Returns (the claim's verdict, the notes that explain it) from its contrasts, at least one of them primary.

    The decidable primary contrasts decide: one verdict among them is the claim's, several make it mixed, and
    none (every one inconclusive) makes it inconclusive. The notes name disagreeing contrasts, give each
    inconclusive one's reasons, and say where the frozen rule overrode a notebook's stored verdict.
    """
    primary = [c for c in contrasts if c.primary]
    decidable = [c for c in primary if c.verdict != INCONCLUSIVE]
    verdicts = list(dict.fromkeys(c.verdict for c in decidable))
    notes = []
    if len(verdicts) > 1:
        notes.append("primary contrasts disagree (" + ", ".join(f"{_name(c)}: {c.verdict}" for c in decidable) + ")")
    for c in primary:
        if c.verdict == INCONCLUSIVE:
            notes.append(f"{_name(c)} inconclusive: " + "; ".join(c.reasons))
    for c in contrasts:
        if c.verdict != c.stored_verdict and c.verdict != INCONCLUSIVE:
            notes.append(f"{c.notebook} stored '{c.stored_verdict}' for {c.arms[0]} − {c.arms[1]}; the frozen rule "
                         f"(direction {c.direction:+d}, margin {c.margin}) gives '{c.verdict}', used here")
    verdict = INCONCLUSIVE if not verdicts else verdicts[0] if len(verdicts) == 1 else MIXED
    return verdict, notes
