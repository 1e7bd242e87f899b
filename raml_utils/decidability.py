"""Could the experiment have decided a contrast? The decidability rule of ``params/claims.yaml`` (its amendment).

A contrast the experiment could not have decided is **inconclusive**, with its reason:

- no headroom: the arm the paper predicts lower is at the metric's ceiling, or the one it predicts higher at
  chance (``results.headroom``); a CI that excludes 0 the other way still reads "not reproduced";
- a component its arms depend on failed its pre-registered check (``component_checks``): the base's signal
  (notebook 00), the GRPO learning and retention checks of notebook 05, an RL arm without reward spread. A
  failed check makes every contrast it gates inconclusive, whatever its CI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import results, stats
from .notebook_records import NotebookRecord
from .params import Profile

# Arm-name prefixes of the contrasts each component check gates (claims.yaml, decidability).
RL_FROM_BASE = ("zero_rl", "grpo_")  # on-policy RL from the base model
RL_ARMS = ("zero_rl", "sft_then_rl", "grpo_")  # every RL arm


@dataclass(frozen=True)
class Check:
    """One component's pre-registered check, and the contrasts it gates when it fails."""

    name: str  # "base_signal", "grpo_learning", "grpo_retention", "arm_signal"
    passed: bool
    reason: str  # what was measured, in words (why it failed)
    arms: tuple[str, ...]  # arm-name prefixes of the contrasts it gates
    notebook: str | None = None  # only that notebook's contrasts (an arm's own signal); None: every notebook

    def gates(self, notebook: str, arms: tuple[str, str]) -> bool:
        """Returns whether a contrast of ``arms`` in ``notebook`` depends on this component."""
        return (self.notebook in (None, notebook)) and any(a.startswith(p) for a in arms for p in self.arms)


def _measurement(records: list[NotebookRecord], key: str) -> tuple[NotebookRecord | None, dict | None]:
    """Returns the first usable record holding ``measurements[key]``, and that value."""
    for r in records:
        if r.usable and key in r.metrics.get("measurements", {}):
            return r, r.metrics["measurements"][key]
    return None, None


def _base_signal(records: list[NotebookRecord], profile: Profile) -> Check | None:
    """Returns the base's signal check from notebook 00 (None while 00 has no usable result: nothing is gated)."""
    world = next((r for r in records if r.usable and r.name.startswith("00_")), None)
    m = (world.metrics or {}).get("measurements", {}) if world else {}
    if profile.world.kind == "llm":
        if "trainable_cells" not in m:
            return None
        lo, hi = m["signal_band"]
        rates = ", ".join(f"{c['family']} k={c['k']}: {c['pass_at_n_any_format']:.2f} ({c['questions']} questions)"
                          for c in m["signal"]
                          if c["family"] in profile.world.train_families and c["k"] in profile.world.train_levels)
        return Check("base_signal", bool(m["trainable_cells"]),
                     f"the base's pass@n (a right answer in any format among n samples) on the fine-tuning questions "
                     f"({rates}) lies outside {lo:.0%}-{hi:.0%} everywhere (notebook 00): GRPO from the base sees "
                     "groups with one reward", RL_FROM_BASE)
    if "trajectory_rate_in_target" not in m:
        return None
    t = m["trajectory_rate_target"]
    return Check("base_signal", bool(m["trajectory_rate_in_target"]),
                 f"the base's correct-trajectory rate at mid difficulty is {m['mid_correct_trajectory_rate']:.3f}, "
                 f"outside the pre-registered {t['min']}-{t['max']} (notebook 00)", RL_FROM_BASE)


def component_checks(records: list[NotebookRecord], profile: Profile) -> list[Check]:
    """Returns every component check the usable metrics report (claims.yaml, decidability). The GRPO learning check
    is required: while no usable notebook reports it, every RL arm is gated as "not checked"."""
    checks = [c for c in [_base_signal(records, profile)] if c is not None]
    source, rl = _measurement(records, "rl_check")
    if rl is None:
        checks.append(Check("grpo_learning", False, "the GRPO learning check has no usable result (notebook 05 not "
                            "run under this profile, or failed)", RL_ARMS))
    else:
        learning = rl["learning"]
        failed = sorted({name for run in learning["runs"] for name, ok in run["criteria"].items() if not ok})
        why = (f"only {learning['questions']} check questions in the band" if not learning["enough_questions"]
               else f"failed on {', '.join(failed)}")
        checks.append(Check("grpo_learning", bool(learning["passed"]),
                            f"RL check failed: GRPO at lr {learning['learning_rate']:g} {why} ({source.name})", RL_ARMS))
        if (retention := rl.get("retention")) is not None:
            why = retention["reason"] or f"it lost {retention['mean_loss']:+.3f} sample accuracy (allowed 0.03)"
            verb = "could not decide" if retention.get("applicable") is False else "failed"
            rate = f" at lr {retention['learning_rate']:g}" if retention.get("learning_rate") is not None else ""
            checks.append(Check("grpo_retention", bool(retention["passed"]), f"RL retention check{rate} {verb}: {why} "
                                f"({source.name})", ("sft_then_rl",)))
    for r in records:
        if r.usable:
            for arm, signal in r.metrics.get("measurements", {}).get("rl_arm_signal", {}).items():
                if not signal["signal"]:
                    checks.append(Check("arm_signal", False, f"no signal: {arm}'s groups show reward spread in "
                                        f"{signal['spread_share']:.0%} of its first steps ({r.name})", (arm,), r.name))
    return checks


def undecidable_reasons(entry: dict, notebook: str, rule: dict, profile: Profile,
                        checks: list[Check]) -> tuple[list[str], list[str]]:
    """Returns (headroom reasons, failed-check reasons) of one stored claim entry of ``notebook``, judged by ``rule``
    (the plan's direction and margin for it)."""
    no_room = []
    if entry.get("a_mean") is not None and entry.get("b_mean") is not None:  # write_metrics always stores them
        reason = results.headroom(profile, entry["metric"], entry["a_mean"], entry["b_mean"], rule["direction"],
                                  rule["margin"])
        no_room += [reason] if reason else []
    failed = [ch.reason for ch in checks if not ch.passed and ch.gates(notebook, tuple(entry["arms"]))]
    return no_room, list(dict.fromkeys(failed))


def gated_verdict(lo: float, hi: float, rule: dict, headroom: list[str],
                  failed: list[str]) -> tuple[str, tuple[str, ...]]:
    """Returns (verdict, reasons) of a contrast with 95% CI [lo, hi]: the frozen rule's verdict by ``rule`` (direction
    and margin), made inconclusive by a failed check whatever the CI, or by no headroom unless the CI excludes 0 the
    other way. The reasons are kept only for an inconclusive verdict; a CI that was not computed (NaN) is mixed."""
    if any(math.isnan(x) for x in (lo, hi)):
        verdict = stats.MIXED
    elif failed:
        verdict = stats.decide(lo, hi, rule["direction"], rule["margin"], failed, opposite_stays=False)
    else:
        verdict = stats.decide(lo, hi, rule["direction"], rule["margin"], headroom)
    return verdict, tuple(failed + headroom) if verdict == stats.INCONCLUSIVE else ()
