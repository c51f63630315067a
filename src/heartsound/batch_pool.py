"""Worker processes that survive: a dead worker costs at most the file it was on.

:func:`run_isolated` runs a function on each job in ``n_workers`` long-lived worker
processes and gives each worker one job at a time, so the parent always knows which job
each worker holds. When a worker dies (killed by the OOM killer, a segfault in a native
library, ``os._exit``), its job is given again once to a fresh worker; if that one dies
too, the job is recorded as failed with the file and the signal or exit code, and the run
goes on with a new worker. The other jobs are never affected (unlike
:class:`concurrent.futures.ProcessPoolExecutor`, where one dead worker breaks the whole
pool with ``BrokenProcessPool``).

Workers are started with the ``spawn`` method (no state inherited from the parent's
threads), use one compute thread each, and ignore SIGINT: on Ctrl-C the parent stops them.
Only the standard library is imported here.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = ["run_isolated", "death_message", "worker_pids", "RETRIES"]

#: How many times a job whose worker died is given to a new worker.
RETRIES = 1
#: ``done(k, result, error)`` is called once per job, in the parent.
Done = Callable[[int, Any, "str | None"], None]


def death_message(exitcode: int | None, tries: int) -> str:
    """``worker process killed by SIGKILL (out of memory?) while analysing this file, on
    each of 2 tries``, or ``... exited with code 3 ...`` (``exitcode`` as
    :attr:`multiprocessing.Process.exitcode`)."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        how = f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    else:
        how = f"exited with code {exitcode}"
    each = f", on each of {tries} tries" if tries > 1 else ""
    return f"worker process {how} while analysing this file{each}"


def worker_pids(parent: int | None = None) -> list[int]:
    """Process ids of the workers of the batch running in process ``parent`` (default:
    this one), read from ``/proc`` (Linux; empty elsewhere): for monitoring, and for the
    fault tests that kill one.
    """
    parent = os.getpid() if parent is None else parent
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    out = []
    for d in entries:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as fh:
                cmd = fh.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"spawn_main" in cmd:
            out.append(int(d))
    return sorted(out)


def _limit_threads() -> None:
    """One compute thread: OpenMP/BLAS pools (ONNX Runtime sessions of heartsound are
    created with one intra-op thread already)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(limits=1)


def _worker(conn: Connection, target: str) -> None:
    """Worker main loop: receive ``(k, job)``, send ``(k, fn(job))``; ``None`` ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_threads()
    module, _, name = target.partition(":")
    fn = importlib.import_module(module)
    for part in name.split("."):
        fn = getattr(fn, part)
    while True:
        try:
            msg = conn.recv()
        except EOFError:  # the parent is gone
            return
        if msg is None:
            return
        k, job = msg
        conn.send((k, fn(job)))


class _Slot:
    """One worker process and the job it holds (``k`` or None)."""

    def __init__(self, ctx: Any, target: str) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, target), daemon=True)
        self.proc.start()
        child.close()
        self.k: int | None = None

    def give(self, k: int, job: Any) -> bool:
        """Send job ``k``; False when the worker is already gone."""
        if not self.proc.is_alive():
            return False
        try:
            self.conn.send((k, job))
        except OSError:
            return False
        self.k = k
        return True

    def collect(self) -> tuple[int, Any] | None:
        """``(k, result)`` if a result arrived, None if the worker died."""
        try:
            if self.conn.poll():
                k, result = self.conn.recv()
                self.k = None
                return k, result
        except (EOFError, OSError):
            pass
        return None

    def end(self, *, kill: bool = False) -> int | None:
        """Stop the worker (ask it, or kill it); its exit code."""
        if not kill:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.proc.join(timeout=0.5 if kill else 10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()
        return self.proc.exitcode


def _target(fn: Callable[[Any], Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def run_isolated(jobs: Sequence[Any], fn: Callable[[Any], Any], n_workers: int,
                 done: Done, *, retries: int = RETRIES,
                 died: Callable[[int, int | None], None] | None = None) -> None:
    """Run ``fn(job)`` for each job in worker processes; ``done(k, fn(jobs[k]), None)``
    as each finishes, or ``done(k, None, message)`` when its worker died ``retries + 1``
    times.

    Parameters
    ----------
    jobs : sequence
        Picklable arguments of ``fn``.
    fn : callable
        A module-level function (imported by name in each worker); it should not raise.
    n_workers : int
        Worker processes (at most ``len(jobs)`` at a time).
    done : callable
        ``done(k, result, error)``, called in this process once per job.
    retries : int
        Times a job whose worker died is run again in a new worker.
    died : callable, optional
        ``died(k, exitcode)``, called each time a worker dies holding job ``k``
        (exit code negative: the signal number).
    """
    ctx = mp.get_context("spawn")
    target = _target(fn)
    queue = deque(range(len(jobs)))
    deaths = [0] * len(jobs)
    slots: list[_Slot] = []
    pending = len(jobs)
    try:
        while pending:
            while len(slots) < min(n_workers, pending):
                slots.append(_Slot(ctx, target))
            for s in list(slots):  # give every idle worker a job
                if s.k is None and queue:
                    k = queue.popleft()
                    if not s.give(k, jobs[k]):  # died while idle: not the job's fault
                        queue.appendleft(k)
                        s.end(kill=True)
                        slots.remove(s)
            busy = [s for s in slots if s.k is not None]
            if not busy:
                continue
            ready = set(wait([s.conn for s in busy] + [s.proc.sentinel for s in busy]))
            for s in busy:
                if s.conn not in ready and s.proc.sentinel not in ready:
                    continue
                got = s.collect()
                if got is not None:
                    pending -= 1
                    done(got[0], got[1], None)
                    continue
                k, code = s.k, s.end(kill=True)
                slots.remove(s)
                deaths[k] += 1
                if died is not None:
                    died(k, code)
                if deaths[k] > retries:
                    pending -= 1
                    done(k, None, death_message(code, deaths[k]))
                else:
                    queue.appendleft(k)
    finally:
        for s in slots:
            s.end(kill=s.k is not None)
