"""Run batch jobs as tasks on a Dask distributed cluster (the optional ``cluster`` extra).

:class:`DaskExecutor` has the contract of the local executors of :mod:`heartsound.batch`
(:func:`heartsound.batch_pool.run_isolated`): given picklable jobs and a module-level
function, it calls ``done(k, fn(jobs[k]), None)`` in this process as each job finishes, in
completion order (:meth:`DaskExecutor.results` yields the same ``(k, result, error)``
triples), or ``done(k, None, message)`` when the job could not be run. The function runs in
the cluster's worker processes; it must not raise (``analyze_job`` does not), so a task
fails only when its workers died:

* a worker that dies (killed, out of memory, a crash in a native library) loses only the
  task it held: the scheduler gives it to another worker (Dask's
  ``distributed.scheduler.allowed-failures``); a task whose workers died more often than
  that fails with :class:`distributed.KilledWorker` and is reported through ``done`` as
  failed (and through ``died``); the other tasks go on;
* ``retries`` is passed to :meth:`distributed.Client.submit` as well (an exception raised
  by ``fn`` is retried that often);
* ``"local:N"`` starts a :class:`distributed.LocalCluster` of N worker processes (one
  thread each, on 127.0.0.1, no dashboard) whose scheduler allows ``retries`` deaths per
  task, like local batch, and keeps one task per worker (``worker-saturation`` 1.0), so a
  worker that dies costs the file it was on and no other;
* losing the scheduler itself stops the run with :class:`ClusterError` (the files not done
  stay ``pending``; run again to resume).

Every task of a run is submitted at once (the scheduler queues them; an adaptive cluster
sees the whole backlog) and each result is released as soon as it has been handed over.
A task runs a group of files (:func:`files_per_task`: about 4 tasks per worker thread, at
most 16 files), which divides Dask's cost per task among them; a group whose workers
kept dying is split into one task per file, so only the file that kills workers fails.
"""

from __future__ import annotations

import logging
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dask
from distributed import Client, KilledWorker, LocalCluster, as_completed

from .errors import HeartsoundError, ParameterError

__all__ = ["DaskExecutor", "ClusterError", "parse_scheduler", "local_cluster",
           "killed_message", "files_per_task", "run_group", "dask_setup"]


class ClusterError(HeartsoundError):
    """The Dask scheduler cannot be reached, or was lost during the run."""


def parse_scheduler(address: str) -> int | None:
    """Number of workers of ``"local:N"`` (N >= 1), None for a scheduler address
    (``tcp://host:8786``, ``host:8786``...).

    Raises
    ------
    ParameterError
        ``local:`` followed by anything but a positive integer, or an empty address.
    """
    if not address.strip():
        raise ParameterError("batch: --scheduler is empty; give tcp://HOST:PORT or local:N")
    if not address.startswith("local:"):
        return None
    n = address.removeprefix("local:")
    if not n.isdigit() or int(n) < 1:
        raise ParameterError(f"batch: --scheduler {address!r}: local:N needs N >= 1 worker "
                             "processes, e.g. local:4")
    return int(n)


def local_cluster(n_workers: int, *, retries: int = 1) -> LocalCluster:
    """A :class:`distributed.LocalCluster` of ``n_workers`` processes with one thread each
    on 127.0.0.1 (no dashboard), whose scheduler lets a task's workers die ``retries``
    times before the task fails and gives each worker one task at a time."""
    cfg = {"distributed.scheduler.allowed-failures": int(retries),
           "distributed.scheduler.worker-saturation": 1.0}
    with dask.config.set(cfg):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address=None,
                            silence_logs=logging.ERROR, preload=[__name__])


def dask_setup(worker: Any) -> None:
    """Run by Dask in each worker process of :func:`local_cluster` as it starts (this
    module is their preload): Ctrl-C in a terminal reaches every process of the group;
    the client stops the workers, which must not each print a KeyboardInterrupt."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def files_per_task(n_jobs: int, n_threads: int, *, most: int = 16) -> int:
    """Jobs per task: about 4 tasks per worker thread (a balanced end of the run), at
    most ``most`` (a task of a few seconds; a worker that dies loses little), at least 1.
    Grouping divides the scheduler's and client's cost per task (a few milliseconds of
    CPU) among the files of the task."""
    return max(1, min(most, n_jobs // max(1, 4 * n_threads)))


def run_group(fn: Callable[[Any], Any], jobs: Sequence[Any]) -> list[Any]:
    """A task: ``fn`` on each job, one after the other (in the worker)."""
    return [fn(job) for job in jobs]


def killed_message(exc: KilledWorker) -> str:
    """What is recorded for a file whose workers kept dying."""
    return (f"worker process died while analysing this file, on each of "
            f"{exc.allowed_failures + 1} tries (Dask KilledWorker; the signal or exit "
            f"code is in the worker logs)")


class DaskExecutor:
    """Jobs as tasks on a Dask cluster; a context manager (connects, then closes the client
    and a cluster it started).

    Parameters
    ----------
    scheduler : str
        ``tcp://host:port`` of a running scheduler, or ``local:N`` (see
        :func:`local_cluster`).
    retries : int
        Deaths of a task's worker allowed before it fails (set on a cluster this starts;
        a running scheduler's own ``allowed-failures`` rules there), and retries of a
        task that raised.
    timeout : float
        Seconds to wait for the scheduler to answer.
    files_per_task : int, optional
        Jobs run one after the other in one task; default: :func:`files_per_task`.
    """

    def __init__(self, scheduler: str, *, retries: int = 1, timeout: float = 30.0,
                 files_per_task: int | None = None) -> None:
        self.scheduler, self.retries, self.timeout = scheduler, int(retries), timeout
        self.files_per_task = files_per_task
        self.n_local = parse_scheduler(scheduler)
        self.cluster: LocalCluster | None = None
        self.client: Client | None = None

    def __enter__(self) -> DaskExecutor:
        try:
            if self.n_local is not None:
                self.cluster = local_cluster(self.n_local, retries=self.retries)
            address = self.cluster if self.cluster is not None else self.scheduler
            self.client = Client(address, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            self.__exit__()
            raise ClusterError(f"batch: cannot reach the Dask scheduler at "
                               f"{self.scheduler} ({exc})") from None
        return self

    def __exit__(self, *exc: object) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                part.close()
        self.client = self.cluster = None

    def _submit(self, fn: Callable[[Any], Any], jobs: Sequence[Any], group: list[int],
                name: str) -> Any:
        assert self.client is not None
        return self.client.submit(run_group, fn, [jobs[k] for k in group], key=name,
                                  pure=False, retries=self.retries)

    def results(self, jobs: Sequence[Any], fn: Callable[[Any], Any]
                ) -> Iterator[tuple[int, Any, str | None]]:
        """Submit ``fn(job)`` for every job (in groups of :attr:`files_per_task`, see
        :func:`files_per_task`); yield ``(k, result, None)`` or ``(k, None, message)`` as
        each task ends (in completion order). A group whose workers kept dying is run
        again one job per task, so that only the job that kills them fails. Tasks not yet
        ended are cancelled when the iteration stops early (Ctrl-C)."""
        if self.client is None:
            raise RuntimeError("DaskExecutor used outside its with block")
        size = self.files_per_task or files_per_task(
            len(jobs), sum(self.client.nthreads().values()))
        run = uuid.uuid4().hex[:12]
        groups = {f"heartsound-{run}-{i}": list(range(i, min(i + size, len(jobs))))
                  for i in range(0, len(jobs), size)}
        left = {self._submit(fn, jobs, g, name) for name, g in groups.items()}
        ac = as_completed(left, with_results=True, raise_errors=False, loop=self.client.loop)
        try:
            for f, value in ac:
                left.discard(f)
                group = groups[f.key]
                if f.status == "cancelled":  # the scheduler is gone
                    raise ClusterError(f"batch: lost the Dask scheduler at {self.scheduler}"
                                       " (task cancelled); run the same command again "
                                       "to resume")
                exc = None if f.status == "finished" else (
                    value if isinstance(value, BaseException) else f.exception())
                f.release()
                if isinstance(exc, KilledWorker) and len(group) > 1:
                    for k in group:  # isolate the job that kills its workers
                        groups[f"{f.key}-{k}"] = [k]
                        single = self._submit(fn, jobs, [k], f"{f.key}-{k}")
                        left.add(single)
                        ac.add(single)
                    continue
                msg = None if exc is None else (
                    killed_message(exc) if isinstance(exc, KilledWorker)
                    else f"{type(exc).__name__}: {exc}")
                for i, k in enumerate(group):
                    yield k, (None if msg else value[i]), msg
        finally:
            if left:
                try:
                    self.client.cancel(list(left))
                except Exception:  # noqa: BLE001 - the scheduler may be gone already
                    pass

    def __call__(self, jobs: Sequence[Any], fn: Callable[[Any], Any],
                 done: Callable[[int, Any, str | None], None],
                 died: Callable[[int, str], None]) -> None:
        """The executor contract of :mod:`heartsound.batch` over :meth:`results`;
        ``died(k, how)`` for a job whose workers kept dying (Dask does not tell the
        client about a death it recovered from)."""
        for k, result, err in self.results(jobs, fn):
            if err is not None and err.startswith("worker process died"):
                died(k, err)
            done(k, result, err)
