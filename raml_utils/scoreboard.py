"""The claims scoreboard: one row per claim of the paper (C1..C10, Proposition 2.1) from the notebooks' metrics.

A row puts the paper's statement and number next to our measurement (each primary contrast with its 95% CI),
its seed count, the verdict and where to look (notebook, key figure). The rules behind a row live in three
modules, in the order they apply:

- ``notebook_records``: which metrics may be used at all (a **stale** file ran under other params; a notebook
  that failed, left no metrics or is not written is **not run**: a missing result is never a pass);
- ``decidability``: whether the experiment could have decided a contrast (no headroom, or a failed component
  check, makes it **inconclusive** with the reason);
- ``verdicts``: each stored contrast re-judged by the frozen plan, and the claim by its primary contrasts
  (**mixed** where they disagree).

Proposition 2.1 has no entry in the frozen plan, so its row reports notebook 01's measurements without a
verdict ("not pre-registered"). The scoreboard renders as plain records, terminal text and Markdown.
"""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .decidability import Check, component_checks
from .notebook_records import NOTEBOOKS_DIR, PLANNED_NOTEBOOK, PROPOSITION, NotebookRecord, read_notebooks
from .params import Profile
from .results import load_claims, params_hash
from .verdicts import (INCONCLUSIVE, MIXED, NOT_PRE_REGISTERED, NOT_REPRODUCED, NOT_RUN, REPRODUCED, STALE,
                       VERDICT_HELP, VERDICTS, Contrast, claim_contrasts, claim_verdict)

CLAIM_IDS = tuple(f"C{i}" for i in range(1, 11))

# Profiles that check the code path, not the claims: the scoreboard and the report say their rows are not verdicts.
CHECK_PROFILES = {
    "smoke": "the smoke profile runs every notebook in seconds to test the code: its numbers and verdicts mean nothing",
    "smoke_llm": "the smoke_llm profile runs the LLM world's code path on the CPU: its numbers and verdicts mean nothing",
    "gpu_check": "the gpu_check profile checks that the GPU path works (one seed, a few questions and steps): its "
                 "rows are a first reading, not verdicts",
}

# One colour per verdict, for the report's badges and the interval figure.
VERDICT_COLOURS = {REPRODUCED: "#1a7f37", NOT_REPRODUCED: "#cf222e", MIXED: "#9a6700", INCONCLUSIVE: "#57606a",
                   NOT_RUN: "#6e7781", STALE: "#8250df", NOT_PRE_REGISTERED: "#0969da"}

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
class Scoreboard:
    """The scoreboard of one profile: rows in claim order, the notebooks read, and the params hash."""

    profile: str
    params_hash: str
    rows: tuple[Row, ...]
    notebooks: tuple[NotebookRecord, ...]
    checks: tuple[Check, ...] = ()  # the component checks the verdicts were gated on

    def record(self, name: str) -> NotebookRecord | None:
        """Returns the record of notebook ``name``, or None if the scoreboard read none by that name."""
        return next((r for r in self.notebooks if r.name == name), None)

    @property
    def code_commits(self) -> tuple[str, ...]:
        """Returns the distinct code commits of the usable metrics, in notebook order."""
        return tuple(dict.fromkeys(r.metrics.get("code_commit", "unknown") for r in self.notebooks if r.usable))


# --- the rows ----------------------------------------------------------------------------------------------


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


def claim_row(claim: str, plan: dict, records: list[NotebookRecord], profile: Profile,
              checks: list[Check] = ()) -> Row:
    """Returns the scoreboard row of one pre-registered claim (the rules: ``verdicts`` and ``decidability``)."""
    contrasts = claim_contrasts(records, claim, plan, profile, list(checks))
    primary = [c for c in contrasts if c.primary]
    if not contrasts:
        return _unused_row(claim, plan["statement"], plan["paper"], records)
    notebooks = list(dict.fromkeys(c.notebook for c in contrasts))
    if not primary:
        return Row(claim, plan["statement"], plan["paper"], "", "–", NOT_RUN, tuple(notebooks),
                   _figure(records, claim, notebooks),
                   f"no contrast on the pre-registered metric {plan['metric']} (only: "
                   + "; ".join(c.text() for c in contrasts) + ")", tuple(contrasts))
    verdict, notes = claim_verdict(contrasts)
    seeds, seed_note = _seed_text(primary, profile)
    notes += [seed_note] if seed_note else []
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
