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
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dask
from distributed import Client, KilledWorker, LocalCluster, as_completed

from .errors import HeartsoundError, ParameterError

__all__ = ["DaskExecutor", "ClusterError", "parse_scheduler", "local_cluster",
           "killed_message"]


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
                            silence_logs=logging.ERROR)


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
    """

    def __init__(self, scheduler: str, *, retries: int = 1, timeout: float = 30.0) -> None:
        self.scheduler, self.retries, self.timeout = scheduler, int(retries), timeout
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

    def results(self, jobs: Sequence[Any], fn: Callable[[Any], Any]
                ) -> Iterator[tuple[int, Any, str | None]]:
        """Submit ``fn(job)`` for every job; yield ``(k, result, None)`` or
        ``(k, None, message)`` as each task ends (in completion order). Tasks not yet
        ended are cancelled when the iteration stops early (Ctrl-C)."""
        if self.client is None:
            raise RuntimeError("DaskExecutor used outside its with block")
        run = uuid.uuid4().hex[:12]
        futures = self.client.map(fn, list(jobs), key=[f"heartsound-{run}-{k}"
                                                       for k in range(len(jobs))],
                                  pure=False, retries=self.retries)
        index = {f.key: k for k, f in enumerate(futures)}
        left = set(futures)
        try:
            for f in as_completed(futures, loop=self.client.loop):
                left.discard(f)
                k = index[f.key]
                if f.status == "finished":
                    yield k, f.result(), None
                elif f.status == "error":
                    exc = f.exception()
                    yield k, None, (killed_message(exc) if isinstance(exc, KilledWorker)
                                    else f"{type(exc).__name__}: {exc}")
                else:  # cancelled: the scheduler is gone
                    raise ClusterError(f"batch: lost the Dask scheduler at {self.scheduler}"
                                       " (task cancelled); run the same command again "
                                       "to resume")
                f.release()
        finally:
            if left:
                self.client.cancel(list(left))

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
