"""The bounded analysis pool: a fixed number of worker threads and a bounded queue.

A request takes a slot (:meth:`AnalysisPool.slot`) before its upload is even read; when
``workers + queue`` slots are taken it is refused at once with :class:`Busy` (HTTP 503
with ``Retry-After``), so many uploads cannot exhaust memory or disk. A slot is given back
when its work has finished, even when the client went away meanwhile.

Each worker computes with one thread (OpenMP/BLAS; heartsound's ONNX Runtime sessions
have one intra-op thread).
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from ..errors import HeartsoundError, ParameterError

__all__ = ["AnalysisPool", "Busy", "Slot", "limit_threads"]


class Busy(HeartsoundError):
    """Every worker is busy and the queue is full. ``retry_after_s``: a hint."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = int(retry_after_s)
        super().__init__(f"server busy: every analysis slot is taken; retry in about "
                         f"{self.retry_after_s} s")


def limit_threads() -> None:
    """One compute thread for OpenMP and BLAS in this process (call before work starts)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        return
    threadpool_limits(limits=1)


class Slot:
    """One reserved place in the pool; :meth:`run` runs one call on a worker."""

    def __init__(self, pool: AnalysisPool) -> None:
        self._pool = pool
        self._handed = False

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on a worker thread; the slot is freed when it ends."""
        fut: Future[Any] = self._pool._submit(fn, *args, **kwargs)
        if not self._handed:
            self._handed = True
            fut.add_done_callback(lambda _f: self._pool._release())
        return await asyncio.wrap_future(fut)


class AnalysisPool:
    """``workers`` threads behind a queue of at most ``queue`` waiting calls.

    Parameters
    ----------
    workers : int
        Worker threads (>= 1).
    queue : int
        Calls that may wait for a worker (>= 0); more are refused with :class:`Busy`.
    """

    def __init__(self, workers: int = 2, queue: int = 64) -> None:
        if int(workers) < 1 or int(queue) < 0:
            raise ParameterError(f"workers must be >= 1 and queue >= 0, got {workers}, "
                                 f"{queue}")
        self.workers, self.queue = int(workers), int(queue)
        self._ex = ThreadPoolExecutor(self.workers, thread_name_prefix="heartsound-web",
                                      initializer=limit_threads)
        self._lock = threading.Lock()
        self._taken = 0
        self._mean_s = 1.0  # running mean duration of a call, for Retry-After

    @property
    def taken(self) -> int:
        """Slots in use (running or waiting)."""
        return self._taken

    def _release(self) -> None:
        with self._lock:
            self._taken -= 1

    def _submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        def timed() -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._mean_s = 0.8 * self._mean_s + 0.2 * (time.perf_counter() - t0)
        return self._ex.submit(timed)

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Reserve a slot or raise :class:`Busy`; a slot whose :meth:`Slot.run` never ran
        is freed on exit."""
        with self._lock:
            if self._taken >= self.workers + self.queue:
                wait = math.ceil(self._mean_s * (self._taken + 1) / self.workers)
                raise Busy(max(1, wait))
            self._taken += 1
        s = Slot(self)
        try:
            yield s
        finally:
            if not s._handed:
                self._release()

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Reserve a slot and run ``fn`` in it."""
        with self.slot() as s:
            return await s.run(fn, *args, **kwargs)

    def shutdown(self) -> None:
        """Stop taking work; running calls finish."""
        self._ex.shutdown(wait=False, cancel_futures=True)
