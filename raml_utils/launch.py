"""Runs one cached training job (SFT or GRPO) in every process of an ``accelerate launch``: the several-GPU path.

    accelerate launch --config_file configs/accelerate_multi_gpu.yaml --num_processes N \
        -m raml_utils.launch JOB.pkl CACHE_DIR

TRL's trainers read the distributed environment that ``accelerate launch`` sets up, so the job's code is the
one ``training.run_job`` / ``grpo.run_grpo_job`` runs in a single process; each process's batch is the job's
batch divided by the number of processes (``sft.per_device_batch``; GRPO: whole groups per process), so a step
sees the same sequences. It is not bit for bit the single-process update: each process normalises its loss by its
own tokens before the gradients are averaged. Every process trains; the artifact store's atomic rename keeps the
first finished copy. ``launch_job`` is what notebooks call
(through ``experiment.train``) when ``profile.gpus`` is above 1.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = REPO_ROOT / "configs" / "accelerate_multi_gpu.yaml"


def launch_job(job, cache_dir: str, processes: int, cpu: bool = False) -> None:
    """Trains ``job`` (and, first, its missing parents, in this process) with ``processes`` accelerate processes.

    ``cpu=True`` launches CPU processes (gloo), which is how the test suite checks this path without a GPU.
    """
    from .cache import Store
    from .grpo import run_any

    job_parent = getattr(job, "init", None)
    if job_parent is not None:
        run_any(job_parent, Store(cache_dir))  # parents first: a several-process run trains only the job itself
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.pkl"
        path.write_bytes(pickle.dumps(job))
        command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
        command += ["--cpu"] if cpu else ["--config_file", str(CONFIG)]
        command += ["-m", "raml_utils.launch", str(path), str(cache_dir)]
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        from .devices import oom_advice

        raise RuntimeError(f"accelerate launch of {type(job).__name__} failed (exit {done.returncode}):\n"
                           f"{done.stderr[-4000:]}\n{oom_advice(done.stderr)}")


def main(job_path: str, cache_dir: str) -> None:
    from .cache import Store
    from .grpo import run_any

    run_any(pickle.loads(Path(job_path).read_bytes()), Store(cache_dir))


if __name__ == "__main__":
    main(*sys.argv[1:3])
