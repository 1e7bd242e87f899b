"""The study's parallel worker processes: one spawned pool, kept while the kernel lives, for every sweep.

A notebook runs several sweeps (SFT arms, GRPO arms, evaluations), each over ``profile.workers`` processes.
Starting a process and importing torch, transformers and TRL in it takes seconds, so the sweeps share one pool
instead of starting their own (notebook 03 on ``cpu``: its GRPO and evaluation sweeps each waited for two new
processes). Sharing changes no result: every job fixes its own thread count and seeds, so a run is bit-identical
whichever process runs it and whatever ran there before, as it already was within one sweep.

Where a CUDA GPU is visible each sweep still gets fresh processes: a worker keeps the GPU memory its runs cached,
and the next sweep's vLLM sizes itself by what is free.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import torch

_kept: dict[int, ProcessPoolExecutor] = {}


@atexit.register
def _shut_down_kept() -> None:
    """Ends the kept workers while the interpreter is whole (left to its final clean-up, a pool prints an error)."""
    while _kept:
        _kept.popitem()[1].shutdown(wait=True, cancel_futures=True)


def _spawn(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_exit_with, initargs=(os.getpid(),))


def _exit_with(parent: int) -> None:
    """Ends this worker when ``parent`` does: a kept pool outlives its sweeps, and a killed kernel (which runs no
    exit handler) would otherwise leave its idle workers behind. An interrupt is the kernel's to handle (it ends the
    pool); in an idle worker it only printed two tracebacks into every notebook's run.log at shutdown."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


@contextmanager
def pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """Yields a pool of ``workers`` spawned processes: the kept one (made on first use), or a fresh one on a GPU.

    A sweep that fails or is interrupted discards the kept pool (its queued jobs cancelled), so the next sweep
    starts from new processes rather than behind the unfinished work.
    """
    if torch.cuda.is_available():
        with _spawn(workers) as fresh:
            yield fresh
        return
    if workers not in _kept:
        _kept[workers] = _spawn(workers)
    try:
        yield _kept[workers]
    except BaseException:
        _kept.pop(workers).shutdown(wait=False, cancel_futures=True)
        raise
