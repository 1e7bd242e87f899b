"""What each study notebook left under ``outputs/<profile>/``, and whether the scoreboard may use its numbers.

Every ``outputs/<profile>/<NN_name>/metrics.json`` is read and checked before any number in it is used:

- its ``params_hash`` must equal ``results.params_hash`` of the current profile, else the file is **stale**
  (produced under other params) and none of its numbers is used;
- a notebook whose last run failed (``status.json``), that left no metrics, or that is not written yet
  counts as **not run**: a missing result is never a pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .params import Profile
from .results import SCHEMA_VERSION, params_hash

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

PROPOSITION = "Prop 2.1"  # the claim id of the paper's Proposition 2.1 (not in params/claims.yaml)

# The notebook that the design (STUDY_DESIGN.md section 4) gives each claim: where a row points before any
# notebook has reported the claim. A notebook that reports a claim is found from its metrics, wherever it is.
PLANNED_NOTEBOOK = {"C1": "01", "C2": "01", "C3": "02", "C4": "05", "C5": "05", "C6": "03", "C7": "04",
                    "C8": "04", "C9": "06", "C10": "07", PROPOSITION: "01"}

REQUIRED_CLAIM_KEYS = ("claim", "metric", "arms", "effect", "lo", "hi", "verdict")


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
        """Returns whether its numbers may enter the scoreboard (read, current params, last run not failed)."""
        return self.state == "ok"

    @property
    def claim_ids(self) -> tuple[str, ...]:
        """Returns the claim ids its metrics.json holds (whatever its state)."""
        return tuple(dict.fromkeys(c.get("claim") for c in (self.metrics or {}).get("claims", [])))


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text())


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
