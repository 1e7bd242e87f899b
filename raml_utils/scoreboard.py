"""The claims scoreboard: one row per claim of the paper (C1..C10, Proposition 2.1) from the notebooks' metrics.

Every ``outputs/<profile>/<NN_name>/metrics.json`` is read and checked before any number in it is used:

- its ``params_hash`` must equal ``results.params_hash`` of the current profile, else the file is **stale**
  (produced under other params) and none of its numbers is used;
- a notebook whose last run failed (``status.json``), that left no metrics, or that is not written yet
  counts as **not run**: a missing result is never a pass.

A claim's verdict comes from its *primary* contrasts: those on the pre-registered metric of
``params/claims.yaml`` that are not one of the claim's listed controls. Each stored verdict is re-derived
from the stored CI with the plan's direction and margin (``stats.verdict``). If every primary contrast has
the same verdict, that is the claim's; if they disagree (say SFT and GRPO arms of C6), the claim is
**mixed** and the row lists each. Controls and secondary metrics are kept for the details table.
Proposition 2.1 has no entry in the frozen plan, so its row reports notebook 01's measurements without a
verdict ("not pre-registered").

A contrast the experiment could not have decided is **inconclusive**, with its reason, by the amendment of
``params/claims.yaml`` (``decidability``): no headroom (the arm the paper predicts lower at the ceiling, or the
one it predicts higher at chance), or a component its arms depend on failed its check (``component_checks``: the
base's signal, the GRPO learning and retention checks of notebook 05, an RL arm without reward spread). A claim
takes the verdict of its decidable primary contrasts and lists the inconclusive ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import stats
from .params import Profile
from .results import SCHEMA_VERSION, bounds, contrast_plan, extra_primary, load_claims, params_hash

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

CLAIM_IDS = tuple(f"C{i}" for i in range(1, 11))
PROPOSITION = "Prop 2.1"
# Profiles that check the code path, not the claims: the scoreboard and the report say their rows are not verdicts.
CHECK_PROFILES = {
    "smoke": "the smoke profile runs every notebook in seconds to test the code: its numbers and verdicts mean nothing",
    "smoke_llm": "the smoke_llm profile runs the LLM world's code path on the CPU: its numbers and verdicts mean nothing",
    "gpu_check": "the gpu_check profile checks that the GPU path works (one seed, a few questions and steps): its "
                 "rows are a first reading, not verdicts",
}
REPRODUCED, NOT_REPRODUCED, MIXED = stats.REPRODUCED, stats.NOT_REPRODUCED, stats.MIXED
INCONCLUSIVE = stats.INCONCLUSIVE
NOT_RUN = "not run"
STALE = "stale"
NOT_PRE_REGISTERED = "not pre-registered"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, MIXED, INCONCLUSIVE, NOT_RUN, STALE, NOT_PRE_REGISTERED)

# Arm-name prefixes of the contrasts each component check gates (claims.yaml, decidability).
RL_FROM_BASE = ("zero_rl", "grpo_")  # on-policy RL from the base model
RL_ARMS = ("zero_rl", "sft_then_rl", "grpo_")  # every RL arm

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

# One colour per verdict, for the report's badges and the interval figure.
VERDICT_COLOURS = {REPRODUCED: "#1a7f37", NOT_REPRODUCED: "#cf222e", MIXED: "#9a6700", INCONCLUSIVE: "#57606a",
                   NOT_RUN: "#6e7781", STALE: "#8250df", NOT_PRE_REGISTERED: "#0969da"}

# The notebook that the design (STUDY_DESIGN.md section 4) gives each claim: where a row points before any
# notebook has reported the claim. A notebook that reports a claim is found from its metrics, wherever it is.
PLANNED_NOTEBOOK = {"C1": "01", "C2": "01", "C3": "02", "C4": "05", "C5": "05", "C6": "03", "C7": "04",
                    "C8": "04", "C9": "06", "C10": "07", PROPOSITION: "01"}

# The figure that shows each claim best, by notebook. A claim not listed here gets the notebook's first
# figure named after it (``c7_*.png``), if any.
KEY_FIGURES = {"01_pseudo_gradient": {"C1": "c1_inner_loop_curves.png", "C2": "c2_path_plane.png",
                                      PROPOSITION: "prop21_errors.png"},
               "02_trajectory_length": {"C3": "pass_at_k_by_difficulty.png"},
               "03_support_set_size": {"C6": "metrics_vs_support.png"},
               "04_reflection_tokens": {"C7": "c7_toy_relative_change.png", "C8": "c8_reference_curves.png"},
               "05_sft_then_rl": {"C4": "mg_pass_at_k_by_difficulty.png", "C5": "pass_at_k_by_difficulty.png"},
               "06_generalisation": {"C9": "generalisation_heatmap.png"},
               "07_efficient_reasoning": {"C10": "accuracy_vs_generated_tokens.png"}}

# Proposition 2.1 is not in params/claims.yaml (which is frozen): its row text is the proposition as the
# design brief states it; its numbers are notebook 01's ``prop21`` measurements.
PROPOSITION_STATEMENT = ("For one attention layer + a 2-layer FFN without normalisation, appending a trajectory "
                         "token equals evaluating the original input with modified W_q, W_k, W_v")
PROPOSITION_PAPER = "a proof, no number (its steps have slips: the map P's direction, E+M^T's dimensions)"


@dataclass(frozen=True)
class NotebookRecord:
    """What one notebook left under the profile's outputs, and whether its numbers may be used."""

    name: str  # "02_trajectory_length", or the bare number ("04") of a planned notebook not written yet
    state: str  # "ok" | "stale" | "failed" | "no metrics" | "not written" | "unreadable"
    reason: str = ""  # why a state other than "ok", in words
    metrics: dict | None = None  # the parsed metrics.json (also kept when stale, but then never used)
    figures: tuple[str, ...] = ()  # PNG file names in its output folder
    executed: bool = False  # an executed copy NN_name.ipynb is there
    wall_s: float | None = None  # from status.json

    @property
    def usable(self) -> bool:
        return self.state == "ok"

    @property
    def claim_ids(self) -> tuple[str, ...]:
        """Returns the claim ids its metrics.json holds (whatever its state)."""
        return tuple(dict.fromkeys(c.get("claim") for c in (self.metrics or {}).get("claims", [])))


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


@dataclass(frozen=True)
class Row:
    """One line of the scoreboard."""

    claim: str
    statement: str
    paper: str
    measurement: str  # our numbers: each primary contrast with its 95% CI, "; "-separated ("" if none)
    seeds: str  # seed count(s) behind the measurement, e.g. "3", "2–3", "–"
    verdict: str  # one of VERDICTS
    notebooks: tuple[str, ...]  # notebook(s) the row comes from (or is planned in)
    figure: str | None  # "<notebook>/<file>.png", relative to the profile's outputs folder
    note: str = ""
    contrasts: tuple[Contrast, ...] = field(default=(), repr=False)  # every entry of this claim, primary first


@dataclass(frozen=True)
class Check:
    """One component's pre-registered check, and the contrasts it gates when it fails."""

    name: str  # "base_signal", "grpo_learning", "grpo_retention", "arm_signal"
    passed: bool
    reason: str  # what was measured, in words (why it failed)
    arms: tuple[str, ...]  # arm-name prefixes of the contrasts it gates
    notebook: str | None = None  # only that notebook's contrasts (an arm's own signal); None: every notebook

    def gates(self, notebook: str, arms: tuple[str, str]) -> bool:
        return (self.notebook in (None, notebook)) and any(a.startswith(p) for a in arms for p in self.arms)


@dataclass(frozen=True)
class Scoreboard:
    """The scoreboard of one profile: rows in claim order, the notebooks read, and the params hash."""

    profile: str
    params_hash: str
    rows: tuple[Row, ...]
    notebooks: tuple[NotebookRecord, ...]
    checks: tuple[Check, ...] = ()  # the component checks the verdicts were gated on

    def record(self, name: str) -> NotebookRecord | None:
        return next((r for r in self.notebooks if r.name == name), None)

    @property
    def code_commits(self) -> tuple[str, ...]:
        """Returns the distinct code commits of the usable metrics, in notebook order."""
        return tuple(dict.fromkeys(r.metrics.get("code_commit", "unknown") for r in self.notebooks if r.usable))


# --- reading ---------------------------------------------------------------------------------------------


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text())


REQUIRED_CLAIM_KEYS = ("claim", "metric", "arms", "effect", "lo", "hi", "verdict")


def read_notebook(folder: Path, current_hash: str) -> NotebookRecord:
    """Returns the record of one notebook's output folder, its state checked as the module docstring says."""
    name = folder.name
    figures = tuple(sorted(p.name for p in folder.glob("*.png")))
    executed = (folder / f"{name}.ipynb").is_file()
    status = {}
    if (folder / "status.json").is_file():
        try:
            status = _load_json(folder / "status.json")
        except (OSError, ValueError) as e:
            return NotebookRecord(name, "unreadable", f"status.json: {e}", None, figures, executed)
    base = dict(name=name, figures=figures, executed=executed, wall_s=status.get("wall_s"))
    if status.get("status") == "failed":
        return NotebookRecord(state="failed", reason=f"its last run failed: {status.get('error')}", **base)
    if not (folder / "metrics.json").is_file():
        return NotebookRecord(state="no metrics", reason="no metrics.json: not run under this profile", **base)
    try:
        metrics = _load_json(folder / "metrics.json")
    except (OSError, ValueError) as e:
        return NotebookRecord(state="unreadable", reason=f"metrics.json: {e}", **base)
    if metrics.get("schema") != SCHEMA_VERSION:
        return NotebookRecord(state="stale", reason=f"metrics.json has schema {metrics.get('schema')!r}, "
                              f"this code reads schema {SCHEMA_VERSION}", metrics=metrics, **base)
    if metrics.get("params_hash") != current_hash:
        return NotebookRecord(state="stale", reason=f"ran under params {metrics.get('params_hash')}, not the current "
                              f"profile's {current_hash}: rerun it", metrics=metrics, **base)
    for c in metrics.get("claims", []):
        if missing := [k for k in REQUIRED_CLAIM_KEYS if k not in c]:
            return NotebookRecord(state="unreadable", reason=f"a claim entry lacks {missing}", metrics=metrics, **base)
    return NotebookRecord(state="ok", metrics=metrics, **base)


def read_notebooks(profile_dir: Path, profile: Profile, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[NotebookRecord]:
    """Returns one record per study notebook: each output folder ``NN_name`` and each notebook not run yet."""
    current = params_hash(profile)
    folders = {p.name: p for p in Path(profile_dir).glob("[0-9][0-9]_*") if p.is_dir()}
    written = {p.stem for p in Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb")}
    records = {name: read_notebook(folder, current) for name, folder in folders.items()}
    for name in written - set(folders):
        records[name] = NotebookRecord(name, "no metrics", "no output folder: not run under this profile")
    for number in sorted(set(PLANNED_NOTEBOOK.values())):
        if not any(name[:2] == number for name in records):
            records[number] = NotebookRecord(number, "not written", f"notebook {number} is not written yet")
    return [records[name] for name in sorted(records)]


# --- the rows ----------------------------------------------------------------------------------------------


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
            checks.append(Check("grpo_retention", bool(retention["passed"]), f"RL retention check {verb}: {why} "
                                f"({source.name})", ("sft_then_rl",)))
    for r in records:
        if r.usable:
            for arm, signal in r.metrics.get("measurements", {}).get("rl_arm_signal", {}).items():
                if not signal["signal"]:
                    checks.append(Check("arm_signal", False, f"no signal: {arm}'s groups show reward spread in "
                                        f"{signal['spread_share']:.0%} of its first steps ({r.name})", (arm,), r.name))
    return checks


def _reasons(c: dict, notebook: str, plan: dict, profile: Profile, checks: list[Check]) -> tuple[list[str], list[str]]:
    """Returns (headroom reasons, failed-check reasons) of one stored claim entry."""
    headroom = []
    chance, ceiling = bounds(profile, c["metric"])
    if c.get("a_mean") is not None and c.get("b_mean") is not None:  # write_metrics always stores them
        reason = stats.headroom_reason(c["a_mean"], c["b_mean"], plan["direction"], plan["margin"], chance, ceiling)
        headroom += [reason] if reason else []
    failed = [ch.reason for ch in checks if not ch.passed and ch.gates(notebook, tuple(c["arms"]))]
    return headroom, list(dict.fromkeys(failed))


def _contrasts(records: list[NotebookRecord], claim: str, plan: dict, profile: Profile,
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
            headroom, failed = _reasons(c, record.name, rule_of, profile, checks)
            if any(math.isnan(x) for x in (lo, hi)):
                rule = MIXED
            elif failed:
                rule = stats.decide(lo, hi, rule_of["direction"], rule_of["margin"], failed, opposite_stays=False)
            else:
                rule = stats.decide(lo, hi, rule_of["direction"], rule_of["margin"], headroom)
            on_plan = c["metric"] == plan["metric"] and list(c["arms"]) not in controls
            out.append(Contrast(record.name, claim, c["metric"], tuple(c["arms"]), effect, lo, hi, c.get("n_seeds"),
                                c.get("n_questions"), c["verdict"], rule,
                                primary=(c.get("role", "primary") == "primary"
                                         and (on_plan or (c["metric"], list(c["arms"])) in added)),
                                label=str(c.get("label") or ""),
                                reasons=tuple(failed + headroom) if rule == INCONCLUSIVE else (),
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


def _figure(records: list[NotebookRecord], claim: str, notebooks: list[str]) -> str | None:
    """Returns '<notebook>/<png>' of the claim's key figure among ``notebooks``, or None if there is none."""
    for name in notebooks:
        record = next(r for r in records if r.name == name)
        wanted = KEY_FIGURES.get(name, {}).get(claim)
        named = [f for f in record.figures if f.startswith(f"{claim.lower().replace(' ', '')}_")]
        for candidate in ([wanted] if wanted else []) + named:
            if candidate in record.figures:
                return f"{name}/{candidate}"
    return None


def _seed_text(contrasts: list[Contrast], profile: Profile) -> tuple[str, str]:
    """Returns (seed count text, note): from the metrics, or the profile's seeds (said in the note) if absent."""
    counts = sorted({c.n_seeds for c in contrasts if c.n_seeds is not None})
    if not counts:
        return f"{len(profile.seeds)}", "seed count not in metrics.json: the profile's seeds"
    return (f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"), ""


def _unused_row(claim: str, statement: str, paper: str, records: list[NotebookRecord]) -> Row:
    """Returns the row of a claim no usable metrics report: stale if some stale file holds it, else not run."""
    planned = PLANNED_NOTEBOOK[claim]
    holding = [r for r in records if not r.usable and claim in r.claim_ids]
    planned_records = [r for r in records if r.name[:2] == planned and r not in holding]
    stale = [r for r in holding + planned_records if r.state == "stale"]
    if stale:
        return Row(claim, statement, paper, "", "–", STALE, tuple(r.name for r in stale), None,
                   "; ".join(f"{r.name}: {r.reason}" for r in stale))
    blamed = holding or planned_records
    note = "; ".join(f"{r.name}: {r.reason}" for r in blamed) if blamed else f"no notebook {planned} reports it"
    if not holding and planned_records and all(r.usable for r in planned_records):
        note = f"{', '.join(r.name for r in planned_records)} ran but reports no {claim}"
    return Row(claim, statement, paper, "", "–", NOT_RUN, tuple(r.name for r in blamed) or (planned,), None, note)


def _name(c: Contrast) -> str:
    return f"{c.arms[0]} − {c.arms[1]}" + (f" ({c.label})" if c.label else "")


def claim_row(claim: str, plan: dict, records: list[NotebookRecord], profile: Profile,
              checks: list[Check] = ()) -> Row:
    """Returns the scoreboard row of one pre-registered claim (see the module docstring for the rules)."""
    contrasts = _contrasts(records, claim, plan, profile, list(checks))
    primary = [c for c in contrasts if c.primary]
    if not contrasts:
        return _unused_row(claim, plan["statement"], plan["paper"], records)
    notebooks = list(dict.fromkeys(c.notebook for c in contrasts))
    if not primary:
        return Row(claim, plan["statement"], plan["paper"], "", "–", NOT_RUN, tuple(notebooks),
                   _figure(records, claim, notebooks),
                   f"no contrast on the pre-registered metric {plan['metric']} (only: "
                   + "; ".join(c.text() for c in contrasts) + ")", tuple(contrasts))
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
    seeds, seed_note = _seed_text(primary, profile)
    notes += [seed_note] if seed_note else []
    verdict = INCONCLUSIVE if not verdicts else verdicts[0] if len(verdicts) == 1 else MIXED
    return Row(claim, plan["statement"], plan["paper"], "; ".join(c.text() for c in primary), seeds, verdict,
               tuple(notebooks), _figure(records, claim, notebooks), "; ".join(notes), tuple(contrasts))


def proposition_row(records: list[NotebookRecord], profile: Profile) -> Row:
    """Returns the Proposition 2.1 row: notebook 01's numerical check, reported without a verdict."""
    source = next((r for r in records if r.usable and "prop21" in r.metrics.get("measurements", {})), None)
    if source is None:
        return _unused_row(PROPOSITION, PROPOSITION_STATEMENT, PROPOSITION_PAPER, records)
    d = profile.pseudo_gradient.theory_dim
    parts = []
    table = source.metrics["measurements"]["prop21"]
    for setting in dict.fromkeys(r["setting"] for r in table):
        rows = [r for r in table if r["setting"] == setting]
        within = [r["value_rel_error_max"] for r in rows if r["n"] <= d]
        beyond = [r["value_rel_error_median"] for r in rows if r["n"] > d]
        text = f"{setting} blocks: W_v construction"
        if within:
            text += f" max rel. error {max(within):.1e} for n ≤ d = {d}"
        if beyond:
            spread = f"{min(beyond):.2g}" + (f"–{max(beyond):.2g}" if len(beyond) > 1 else "")
            text += f"{',' if within else ''} median {spread} for n > d"
        parts.append(text)
    return Row(PROPOSITION, PROPOSITION_STATEMENT, PROPOSITION_PAPER, "; ".join(parts), "–", NOT_PRE_REGISTERED,
               (source.name,), _figure(records, PROPOSITION, [source.name]),
               "not in params/claims.yaml (frozen): no verdict rule; the row's text is the design brief's statement, "
               f"its numbers {source.name}'s prop21 measurements ({profile.pseudo_gradient.theory_instances} "
               "instances per setting and context length)")


def collect(profile_dir: Path, profile: Profile, notebooks_dir: Path = NOTEBOOKS_DIR) -> Scoreboard:
    """Returns the scoreboard of ``profile`` from the metrics under ``profile_dir`` (outputs/<profile>/)."""
    records = read_notebooks(profile_dir, profile, notebooks_dir)
    plan = load_claims()["claims"]
    checks = component_checks(records, profile)
    rows = [claim_row(c, plan[c], records, profile, checks) for c in CLAIM_IDS]
    rows.insert(2, proposition_row(records, profile))  # after C1, C2: notebook 01's third result
    return Scoreboard(profile.name, params_hash(profile), tuple(rows), tuple(records), tuple(checks))


# --- renderings -----------------------------------------------------------------------------------------


def to_records(board: Scoreboard) -> list[dict]:
    """Returns the rows as plain dicts (no contrasts), e.g. for metrics.json or a DataFrame."""
    return [{k: v for k, v in asdict(r).items() if k != "contrasts"} for r in board.rows]


def contrast_records(board: Scoreboard) -> list[dict]:
    """Returns every usable claim entry (primary contrasts, controls, secondary metrics) as plain dicts."""
    return [{**asdict(c), "arms": " − ".join(c.arms), "role": "primary" if c.primary else "control/secondary"}
            for r in board.rows for c in r.contrasts]


def interval_records(board: Scoreboard) -> list[dict]:
    """Returns one dict per primary contrast (one per row without any) for ``plots.claim_intervals``."""
    plan = load_claims()["claims"]
    out = []
    for r in board.rows:
        primary = [c for c in r.contrasts if c.primary]
        if not primary:
            out.append({"label": r.claim, "verdict": r.verdict,
                        "detail": "no verdict rule, see the table" if r.verdict == NOT_PRE_REGISTERED else ""})
        for c in primary:
            label = r.claim if len(primary) == 1 else f"{r.claim}  {c.arms[0]} − {c.arms[1]}"
            label += f"\n({c.label})" if c.label and len(primary) > 1 else ""
            out.append({"label": label, "verdict": c.verdict, "metric": c.metric, "effect": c.effect, "lo": c.lo,
                        "hi": c.hi, "margin": c.margin, "direction": c.direction})
    return out


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def to_text(board: Scoreboard, width: int = 110) -> str:
    """Returns the scoreboard as a plain-text table for the terminal (measurement column wrapped to fit)."""
    heads = ("claim", "verdict", "seeds", "our measurement (a − b, 95% CI)", "from")
    claim_w = max(len(heads[0]), *(len(r.claim) for r in board.rows))
    verdict_w = max(len(heads[1]), *(len(r.verdict) for r in board.rows))
    seeds_w = max(len(heads[2]), *(len(r.seeds) for r in board.rows))
    from_w = max(len(heads[4]), *(len(", ".join(n[:2] for n in r.notebooks)) for r in board.rows))
    measure_w = max(30, width - claim_w - verdict_w - seeds_w - from_w - 8)
    fmt = f"{{:<{claim_w}}}  {{:<{verdict_w}}}  {{:>{seeds_w}}}  {{:<{measure_w}}}  {{}}"
    lines = [f"claims scoreboard, profile {board.profile} (params {board.params_hash})",
             *(_wrap(f"NOTE: {CHECK_PROFILES[board.profile]}", width) if board.profile in CHECK_PROFILES else []),
             fmt.format(*heads),
             fmt.format(*("-" * w for w in (claim_w, verdict_w, seeds_w, measure_w, from_w)))]
    for r in board.rows:
        measure = r.measurement or (f"({r.note})" if r.verdict in (NOT_RUN, STALE) else "")
        chunks = _wrap(measure, measure_w)
        lines.append(fmt.format(r.claim, r.verdict, r.seeds, chunks[0], ", ".join(n[:2] for n in r.notebooks)))
        lines += [fmt.format("", "", "", chunk, "") for chunk in chunks[1:]]
    counts = {v: sum(r.verdict == v for r in board.rows) for v in VERDICTS}
    lines.append("totals: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n))
    return "\n".join(line.rstrip() for line in lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(board: Scoreboard, notebook_link: str = "notebooks/{name}.ipynb") -> str:
    """Returns the scoreboard as a Markdown table with a verdict legend; notebooks link via ``notebook_link``."""
    def link(name: str) -> str:
        return f"[`{name}`]({notebook_link.format(name=name)})" if len(name) > 2 else f"`{name}` (not written)"

    lines = ["| claim | the paper | our measurement (a − b, 95% CI) | seeds | verdict | notebook, figure |",
             "|---|---|---|---|---|---|"]
    for r in board.rows:
        measure = r.measurement or "–"
        if r.note:
            measure += f" <br><sub>{_md(r.note)}</sub>"
        where = ", ".join(link(n) for n in r.notebooks) + (f", `{r.figure.split('/')[-1]}`" if r.figure else "")
        lines.append(f"| **{r.claim}** | {_md(r.statement)}. <br><sub>{_md(r.paper)}</sub> | {_md(measure)} | "
                     f"{r.seeds} | **{r.verdict}** | {where} |")
    lines += ["", "How to read a verdict:", ""]
    lines += [f"- **{v}**: {text}." for v, text in VERDICT_HELP.items()]
    return "\n".join(lines)
