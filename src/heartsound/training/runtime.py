"""What every trainer needs at run time: PyTorch (imported on first use, one thread) and
a process pool for folds and cross-fitting members."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ..errors import ParameterError

__all__ = ["import_torch", "map_jobs"]


def import_torch() -> Any:
    """Import PyTorch with one intra-op thread (training results do not depend on the
    machine's core count, and parallel jobs do not oversubscribe it).

    Raises
    ------
    ParameterError
        PyTorch is not installed (it is the ``train`` extra).
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ParameterError("training needs PyTorch: pip install 'heartsound[train]'"
                             ) from exc
    torch.set_num_threads(1)
    return torch


def map_jobs(fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], jobs: int) -> list[Any]:
    """``[fn(*a) for a in args]``, in up to ``jobs`` worker processes when ``jobs`` > 1.

    Results keep the order of ``args``. Workers are spawned, not forked, so each starts
    its own single-threaded torch; ``fn`` must be a module-level function.
    """
    if jobs <= 1 or len(args) <= 1:
        return [fn(*a) for a in args]
    with ProcessPoolExecutor(min(jobs, len(args)),
                             mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(ex.map(fn, *zip(*args)))
