"""The shared worker pool: kept across sweeps on the CPU, discarded after a failed sweep, fresh per sweep on a GPU."""

import os

import pytest
import torch

from raml_utils import workers


def pids(processes) -> set[int]:
    return set(processes.map(_pid, range(8)))


def _pid(_) -> int:
    import time

    time.sleep(0.3)  # long enough that both processes, started together, take jobs
    return os.getpid()


def test_sweeps_share_the_kept_processes():
    with workers.pool(2) as first:
        before = pids(first)
    with workers.pool(2) as second:
        assert second is first and pids(second) == before
    assert len(before) == 2 and os.getpid() not in before


def test_a_failed_sweep_discards_the_pool():
    with pytest.raises(ValueError):
        with workers.pool(2) as failed:
            raise ValueError("a job failed")
    with workers.pool(2) as after:
        assert after is not failed
        assert len(pids(after)) == 2


def test_each_sweep_gets_fresh_processes_where_a_gpu_is_visible(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with workers.pool(2) as first:
        before = pids(first)
    with workers.pool(2) as second:
        assert second is not first and pids(second).isdisjoint(before)
    assert workers._kept.get(2) not in (first, second)


def test_workers_end_when_their_kernel_is_killed(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "kernel.py"
    script.write_text("import os, sys, time\nfrom raml_utils import workers\nif __name__ == '__main__':\n"
                      "    with workers.pool(2) as p:\n        print(*p.map(abs, [0]), flush=True)\n    time.sleep(60)\n")
    kernel = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    kernel.stdout.readline()  # the pool has answered: its workers are up
    children = [int(p) for p in subprocess.run(["pgrep", "-P", str(kernel.pid)], capture_output=True,
                                               text=True).stdout.split()]
    assert children
    kernel.send_signal(signal.SIGKILL)
    kernel.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{c}") and _alive(c) for c in children):
        time.sleep(0.2)
    assert not any(os.path.exists(f"/proc/{c}") and _alive(c) for c in children)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has exited, waiting for init to reap it
    except FileNotFoundError:
        return False


def test_sweeps_start_the_costliest_runs_first():
    from raml_utils import dispatch, experiment
    from raml_utils.params import load_profile

    P = load_profile("smoke")
    costs = {style: dispatch.expected_cost(experiment.sft_job(P, style, 1)) for style in ("answer_only", "short", "long")}
    assert costs["long"] > costs["short"] > costs["answer_only"] > 0


def _sigint_handler_name() -> str:
    import signal

    return "ignored" if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else "default"


def test_workers_leave_interrupts_to_their_kernel():
    from raml_utils.workers import pool

    with pool(2) as processes:
        assert processes.submit(_sigint_handler_name).result(timeout=120) == "ignored"


def _echo_after(i: int, delay: float) -> int:
    import time

    time.sleep(delay)
    return i


def test_a_sweep_returns_results_in_call_order_and_reports_each_as_it_ends():
    from tqdm import tqdm

    from raml_utils import dispatch

    ended = []
    calls = [(_echo_after, 0, 1.5), (_echo_after, 1, 0.0), (_echo_after, 2, 0.0)]
    results = dispatch.run_calls(calls, 2, tqdm(disable=True), on_done=lambda i, result: ended.append((i, result)))
    assert results == [0, 1, 2]
    assert sorted(ended) == [(0, 0), (1, 1), (2, 2)] and ended[-1] == (0, 0)  # the slow first call ends last
    assert dispatch.run_calls(calls[1:], 1, tqdm(disable=True)) == [1, 2]  # one worker: in this process, in order
