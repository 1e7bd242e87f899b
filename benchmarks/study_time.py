"""Where the study's time goes: wall time per notebook and its timed sections, from the last run's outputs.

    .venv/bin/python benchmarks/study_time.py [--profile cpu] [--outputs-dir outputs] [--top 12]

Reads ``outputs/<profile>/<notebook>/status.json`` (the runner's wall time, kernel start included) and
``timings.json`` (the notebook's own ``results.Timer`` sections). Whether a run was cold or warm is not
known here: run it after ``run_all.sh`` on an empty cache for the cold figure, and again for the warm one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def study_times(profile_dir: Path) -> tuple[list[dict], list[tuple[str, float]]]:
    """Returns one row per notebook (name, status, wall_s, sections_s) and all sections, slowest first."""
    rows, sections = [], []
    for status_path in sorted(profile_dir.glob("*/status.json")):
        status = json.loads(status_path.read_text())
        timings_path = status_path.parent / "timings.json"
        timed = json.loads(timings_path.read_text())["sections_s"] if timings_path.exists() else {}
        rows.append({"notebook": status["notebook"], "status": status["status"], "wall_s": status["wall_s"],
                     "finished": status.get("finished"), "sections_s": round(sum(timed.values()), 1)})
        sections += [(f"{status['notebook']}: {name}", seconds) for name, seconds in timed.items()]
    return rows, sorted(sections, key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--outputs-dir", default="outputs")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    rows, sections = study_times(Path(args.outputs_dir) / args.profile)
    if not rows:
        raise SystemExit(f"no executed notebooks under {Path(args.outputs_dir) / args.profile}: run ./run_all.sh first")
    print(f"{'notebook':<28} {'status':<8} {'wall s':>8} {'timed s':>8}  finished")
    for r in rows:
        print(f"{r['notebook']:<28} {r['status']:<8} {r['wall_s']:>8.1f} {r['sections_s']:>8.1f}  {r['finished']}")
    total = sum(r["wall_s"] for r in rows)
    print(f"{'total':<28} {'':<8} {total:>8.1f}  ({total / 60:.1f} min)")
    print(f"\nslowest sections (top {args.top}):")
    for name, seconds in sections[: args.top]:
        print(f"  {seconds:8.1f} s  {name}")


if __name__ == "__main__":
    main()
