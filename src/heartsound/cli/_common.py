"""Options and the per-file loop shared by the inference commands.

Choices and defaults come from the registries (:data:`heartsound.segmentation.METHODS`,
:data:`~heartsound.segmentation.DEFAULT_METHOD`, :data:`heartsound.classification.tasks.TASKS`),
never retyped, and one option has one name in every command: ``--method`` for the
segmenter (``--segmenter`` is a hidden alias) and ``--tasks a,b|all`` for the
classification tasks (``--task`` is a hidden alias).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from typing import Any

from ..classification.tasks import TASKS, check_task
from ..errors import HeartsoundError, ParameterError
from ..segmentation import DEFAULT_METHOD, METHODS

__all__ = ["add_method_argument", "add_tasks_argument", "parse_tasks", "error_line",
           "for_each_file"]

#: ``--tasks all`` means every task of the registry.
ALL = "all"


def add_method_argument(p: argparse.ArgumentParser, *, fallback: bool = True) -> None:
    """``--method NAME`` (alias ``--segmenter``), one of the segmentation registry."""
    note = f" ({DEFAULT_METHOD} falls back to another method when its model is " \
           "unavailable)" if fallback else ""
    p.add_argument("--method", choices=sorted(METHODS), default=DEFAULT_METHOD,
                   help=f"segmentation method (default: %(default)s){note}")
    p.add_argument("--segmenter", dest="method", choices=sorted(METHODS),
                   help=argparse.SUPPRESS)


def add_tasks_argument(p: argparse.ArgumentParser, *, default: Iterable[str] = TASKS) -> None:
    """``--tasks a,b`` or ``--tasks all`` (alias ``--task``)."""
    p.add_argument("--tasks", default=",".join(default), metavar="LIST",
                   help=f"comma-separated classification tasks of {', '.join(TASKS)}, or "
                        f"'{ALL}' (default: %(default)s)")
    p.add_argument("--task", dest="tasks", help=argparse.SUPPRESS)


def parse_tasks(args: argparse.Namespace) -> tuple[str, ...]:
    """The tasks of ``--tasks`` (validated; ``all`` expands to every task)."""
    names = [t.strip() for t in str(args.tasks).split(",") if t.strip()]
    if not names:
        raise ParameterError("--tasks: give at least one task")
    if ALL in names:
        return tuple(TASKS)
    return tuple(check_task(t) for t in names)


def error_line(path: Any, exc: BaseException) -> str:
    """``<file>: <problem>`` (the file name is not repeated when the message has it)."""
    msg = str(exc).strip() or type(exc).__name__
    name = str(path)
    return msg if name in msg else f"{name}: {msg}"


def for_each_file(files: Iterable[Any], run: Callable[[Any], None]) -> int:
    """Call ``run(file)`` for each file; a failing file is reported on stderr as one
    ``heartsound: error: <file>: <problem>`` line and the next one runs.

    A :class:`~heartsound.errors.ParameterError` (a bad option, the same for every file)
    is raised.

    Returns
    -------
    int
        0 when every file succeeded, 2 otherwise.
    """
    status = 0
    for f in files:
        try:
            run(f)
        except ParameterError:
            raise
        except (HeartsoundError, OSError) as exc:
            print(f"heartsound: error: {error_line(f, exc)}", file=sys.stderr)
            status = 2
        except Exception as exc:  # noqa: BLE001 - one file must not stop the others
            print(f"heartsound: error: {error_line(f, exc)} (unexpected "
                  f"{type(exc).__name__}; please report it)", file=sys.stderr)
            status = 2
        sys.stdout.flush()
    return status
