"""Runs the study's notebooks in order under one profile; the Python side of ``./run_all.sh``.

Each ``notebooks/NN_name.ipynb`` is executed by papermill with the parameter ``profile`` injected.
Its executed copy, kernel log and ``status.json`` land in ``outputs/<profile>/<NN_name>/``.
A failing notebook is recorded and the others still run. After the notebooks, the claims scoreboard
(every notebook's metrics under the profile) is printed and the HTML report ``outputs/<profile>/report/``
is written; a report that cannot be built fails the run.

Exit statuses: 0 all ok, 1 some notebook failed or the report could not be built, 2 bad arguments (a study profile
that ``raml_utils.params`` rejects among them: said on the first line, before any notebook or output folder),
3 another run holds the lock.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import re
import sys
import time
import traceback
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from . import report, scoreboard
from .params import ParamError, load_profile

REPO_ROOT = Path(__file__).resolve().parent.parent
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3

# Defaults for the kernel, which inherits this process's environment: no network, stable hashing.
# JUPYTER_PREFER_ENV_PATH makes the venv's `python3` kernelspec win over one in ~/.local/share/jupyter.
KERNEL_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
              "PYTHONHASHSEED": "0", "JUPYTER_PREFER_ENV_PATH": "1"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in IPython tracebacks


class UsageError(Exception):
    """A bad command-line value; the message names it and what is allowed."""


def find_notebooks(notebooks_dir: Path) -> list[Path]:
    """Returns the study notebooks ``NN_name.ipynb`` in run order."""
    return sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))


def select(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    """Returns the notebooks whose number is in ``only`` (all if None); ``2`` and ``02_x`` mean ``02``."""
    if not only:
        return notebooks
    wanted = {arg.split("_")[0].zfill(2) for arg in only}
    available = sorted({nb.name[:2] for nb in notebooks})
    if unknown := sorted(wanted - set(available)):
        raise UsageError(f"--only {' '.join(unknown)}: no such notebook; available: {', '.join(available) or 'none'}")
    return [nb for nb in notebooks if nb.name[:2] in wanted]


def resolve_profile(arg: str | None, params_dir: Path) -> tuple[str, str, str]:
    """Returns (label, value passed to the notebooks, why) of ``--profile``: a name in params_dir or a yaml path."""
    why = "--profile"
    if arg is None:
        import torch  # only here: importing it takes seconds, and --profile makes it unnecessary

        arg, why = ("gpu", "CUDA available") if torch.cuda.is_available() else ("cpu", "no CUDA GPU visible")
    # A name or a path, by the same rule as raml_utils.params.profile_path.
    path = Path(arg) if Path(arg).suffix in (".yaml", ".yml") else params_dir / f"{arg}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in params_dir.glob("*.yaml") if p.stem != "claims")  # claims: not a profile
        raise UsageError(f"profile {arg!r}: no file {path}; available profiles: {', '.join(available) or 'none'}")
    # Notebooks look a bare name up in the repo's params/, so any other file goes to them as an absolute path.
    in_repo_params = path.parent.resolve() == (REPO_ROOT / "params").resolve()
    return path.stem, path.stem if in_repo_params else str(path.resolve()), why


def check_study_profile(profile_value: str, notebooks_dir: Path) -> None:
    """Raises UsageError (the parameter error: key, value, what is allowed) when the study's own notebooks would get
    a profile that ``raml_utils.params`` rejects: every key, type, range, cross-field rule and question count is
    checked before any notebook starts or any output folder exists. Other notebook folders (a user's own, the
    tests') take any yaml."""
    if notebooks_dir.resolve() != (REPO_ROOT / "notebooks").resolve():
        return
    try:
        load_profile(profile_value)
    except ParamError as e:
        raise UsageError(str(e)) from None


def world_warning(profile_value: str) -> str | None:
    """Returns a warning when a profile runs the LLM world without a GPU (it is sized for one), else None."""
    try:
        world = load_profile(profile_value).world
    except ParamError:
        return None  # not a study profile: the notebooks will say what is wrong with it
    import torch

    if world.kind == "llm" and not torch.cuda.is_available():
        return ("note: this profile runs the LLM world and no CUDA GPU is visible: SmolLM2 runs on the CPU in float32, "
                "many times slower than the sizes of the gpu profile assume")
    return None


def acquire_lock(profile_dir: Path, wait: bool):
    """Takes the per-profile run lock and returns its open file, which holds it; exits 3 if held and not ``wait``.

    The OS drops a flock when its process dies, so a crashed run never leaves a stale lock behind.
    """
    profile_dir.mkdir(parents=True, exist_ok=True)
    lock = open(profile_dir / ".run.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        if not wait:
            print(f"another run_all.sh is running on {profile_dir} (pid {holder}); "
                  "wait for it or use another profile (or pass --wait)", file=sys.stderr)
            sys.exit(EXIT_LOCKED)
        print(f"waiting for the run on {profile_dir} (pid {holder}) to finish ...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


@contextmanager
def kernel_log(path: Path):
    """Sends all output of a notebook run to ``path`` and yields papermill's logger, which writes there.

    With ``log_output`` papermill logs every cell's stdout/stderr to the "papermill" logger; a file
    handler makes that the kernel log (without one, its warnings would reach the terminal through
    logging's last-resort handler). The kernel also inherits this process's fds 1 and 2 and writes its
    start-up warnings and dying words there, so those point at the log too. Everything appends,
    so the writers do not overwrite each other.
    """
    path.write_text("")
    log = logging.getLogger("papermill")
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    target = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        for fd in saved:
            os.dup2(target, fd)
        yield log
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(target)
        log.removeHandler(handler)
        handler.close()


def run_notebook(notebook: Path, out_dir: Path, profile_value: str) -> dict:
    """Executes one notebook into ``out_dir`` and returns (and writes) its status.json record."""
    import papermill  # imported lazily so that --list and argument errors answer at once

    out_dir.mkdir(parents=True, exist_ok=True)
    status = {"notebook": notebook.stem, "profile": profile_value, "status": "ok", "error": None,
              "started": datetime.now().astimezone().isoformat(timespec="seconds")}
    os.environ["RAML_OUTPUT_DIR"] = str(out_dir)  # the kernel inherits it: where the notebook saves artifacts
    start = time.perf_counter()
    with kernel_log(out_dir / "run.log") as log:
        try:
            papermill.execute_notebook(
                notebook, out_dir / notebook.name, parameters={"profile": profile_value},
                # "python3" with argv "python" makes jupyter_client start sys.executable: this venv's python.
                kernel_name="python3", cwd=REPO_ROOT, log_output=True, progress_bar=False)
        except papermill.PapermillExecutionError as e:
            status.update(status="failed", error=f"{e.ename}: {e.evalue} (cell {e.exec_count})")
            log.error("FAILED\n%s", ANSI.sub("", "\n".join(e.traceback)))
        except Exception as e:  # a dead kernel, a bad notebook file, ...: still record it and go on
            status.update(status="failed", error=f"{type(e).__name__}: {e}")
            log.error("FAILED\n%s", traceback.format_exc())
    status["wall_s"] = round(time.perf_counter() - start, 1)
    status["finished"] = datetime.now().astimezone().isoformat(timespec="seconds")
    (out_dir / "status.json").write_text(json.dumps(status, indent=2) + "\n")
    return status


def print_summary(results: list[dict]) -> None:
    """Prints one line per notebook: name, status, wall time."""
    width = max(len("notebook"), *(len(r["notebook"]) for r in results))
    print(f"\n{'notebook':<{width}}  status  wall (s)")
    for r in results:
        print(f"{r['notebook']:<{width}}  {r['status']:<6}  {r['wall_s']:>8.1f}")


def write_report(profile_dir: Path, profile_value: str, notebooks_dir: Path) -> tuple[str, bool]:
    """Builds ``profile_dir/report/`` and returns (the text to print: the scoreboard table, or why none, ok?).

    A profile that raml_utils cannot load (not a study profile) gets no scoreboard; that is said, not an error.
    """
    try:
        profile = load_profile(profile_value)
    except ParamError as e:
        return f"no claims scoreboard or report: the profile is not a study profile ({e})", True

    try:
        board, index = report.build_report(profile_dir, profile, notebooks_dir)
    except Exception:
        return f"the report in {profile_dir / report.REPORT_DIRNAME} could not be built:\n{traceback.format_exc()}", False
    return f"{scoreboard.to_text(board)}\n\nreport: {index}", True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parses the command line; the directories default to those of this repo, wherever it is run from."""
    p = argparse.ArgumentParser(
        prog="run_all.sh", description="Run the notebooks NN_name.ipynb in order under one profile; each one's "
        "executed copy, run.log and status.json go to OUTPUTS_DIR/<profile>/<NN_name>/; then the claims scoreboard "
        "is printed and the HTML report written to OUTPUTS_DIR/<profile>/report/.",
        epilog="exit status: 0 all ok, 1 a notebook failed or the report could not be built, 2 bad arguments, "
        "3 another run holds the lock")
    p.add_argument("--profile", help="params/NAME.yaml or a yaml path (default: gpu if CUDA is available, else cpu)")
    p.add_argument("--only", nargs="+", metavar="NN", help="run only these notebook numbers, e.g. --only 00 02")
    p.add_argument("--list", action="store_true", help="list the notebooks (honours --only) and exit")
    p.add_argument("--wait", action="store_true", help="wait for a concurrent run on the same profile to finish")
    p.add_argument("--no-report", action="store_true",
                   help="skip the scoreboard and the HTML report (scripts/gpu_check.sh writes its own summary)")
    p.add_argument("--notebooks-dir", type=Path, default=REPO_ROOT / "notebooks", help="default: <repo>/notebooks")
    p.add_argument("--outputs-dir", type=Path, default=REPO_ROOT / "outputs", help="default: <repo>/outputs")
    p.add_argument("--params-dir", type=Path, default=REPO_ROOT / "params", help="default: <repo>/params")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs the selected notebooks and returns the exit status."""
    args = parse_args(argv)
    try:
        if not args.list:
            label, value, why = resolve_profile(args.profile, args.params_dir)
            check_study_profile(value, args.notebooks_dir)  # a bad profile is the first line printed
            print(f"profile: {label} ({why}" + (f": {value})" if value != label else ")"), flush=True)
            if warning := world_warning(value):
                print(warning, flush=True)
        notebooks = select(find_notebooks(args.notebooks_dir), args.only)
    except UsageError as e:
        print(f"run_all.sh: {e}", file=sys.stderr)
        return EXIT_USAGE
    if not notebooks:
        print(f"no notebooks: {args.notebooks_dir} has no NN_name.ipynb files")
        return EXIT_OK
    if args.list:
        for nb in notebooks:
            print(f"{nb.name[:2]}  {nb.stem[3:]}")
        return EXIT_OK

    for key, default in KERNEL_ENV.items():
        os.environ.setdefault(key, default)
    profile_dir = args.outputs_dir.resolve() / label
    results = []
    with acquire_lock(profile_dir, args.wait):
        for i, nb in enumerate(notebooks, 1):
            print(f"[{i}/{len(notebooks)}] {nb.stem} ... ", end="", flush=True)
            r = run_notebook(nb, profile_dir / nb.stem, value)
            print(f"{r['status']} ({r['wall_s']:.1f} s)" + (f": {r['error']}" if r["error"] else ""), flush=True)
            results.append(r)
        if args.no_report:
            report_text, report_ok = "no scoreboard or report (--no-report)", True
        else:
            print("\nwriting the claims scoreboard and the report ...", flush=True)
            report_text, report_ok = write_report(profile_dir, value, args.notebooks_dir)
    print_summary(results)
    failed = [r["notebook"] for r in results if r["status"] != "ok"]
    if failed:
        print(f"\n{len(failed)} failed; logs: " + ", ".join(str(profile_dir / n / "run.log") for n in failed))
    print(f"\n{report_text}", file=sys.stdout if report_ok else sys.stderr)
    return EXIT_FAILED if failed or not report_ok else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
