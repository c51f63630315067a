"""Options, output folder and the per-file loop shared by the inference commands.

Choices and defaults come from the registries (:data:`heartsound.segmentation.METHODS`,
:data:`~heartsound.segmentation.DEFAULT_METHOD`, :data:`heartsound.classification.tasks.TASKS`),
never retyped, and one option has one name in every command: ``--method`` for the
segmenter (``--segmenter`` is a hidden alias), ``--tasks a,b|all`` for the
classification tasks (``--task`` is a hidden alias) and ``--out DIR`` for the output
folder (default :data:`DEFAULT_OUT`, never the input folder by default).

Every failure of a file is one ``heartsound: error: <file>: <problem>`` line on stderr
(:func:`for_each_file`); the next file still runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..classification.tasks import TASKS, check_task
from ..errors import HeartsoundError, OutputError, ParameterError
from ..report import OUTPUT_TAG
from ..segmentation import DEFAULT_METHOD, METHODS
from ..serialize import display_text

__all__ = ["add_method_argument", "add_tasks_argument", "parse_tasks", "error_line",
           "for_each_file", "DEFAULT_OUT", "add_out_argument", "check_out_dir",
           "unique_stems", "say"]

#: Output folder when ``--out`` is not given.
DEFAULT_OUT = Path("heartsound-out")

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


def add_out_argument(p: argparse.ArgumentParser, kinds: Sequence[str]) -> None:
    """``--out DIR`` (default :data:`DEFAULT_OUT`) for ``<stem>.heartsound.<kind>``."""
    names = f"<stem>.{OUTPUT_TAG}.{{{','.join(kinds)}}}"
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for {names} (default: %(default)s). A file heartsound "
                        "did not write is never replaced: that recording is reported as an "
                        "error and skipped. Recordings with the same stem get <stem>-2, "
                        "<stem>-3... in argument order")


def check_out_dir(out: str | Path) -> Path:
    """``out`` when it is, or can be made, a writable folder.

    Raises
    ------
    OutputError
        ``out`` (or a parent) is a file, or the folder cannot be written.
    """
    out = Path(out)
    shown = display_text(out)
    probe = out
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():
            raise OutputError(f"--out {shown}: a broken link")
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"--out {shown}: {display_text(probe)} is a file, not a folder")
    if probe == out:
        try:
            fd, tmp = tempfile.mkstemp(prefix=".heartsound-probe.", dir=out)
        except OSError as exc:
            raise OutputError(f"--out {shown}: folder is not writable "
                              f"({exc.strerror or exc})") from None
        os.close(fd)
        os.unlink(tmp)
    elif not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"--out {shown}: cannot create it in {display_text(probe)} "
                          "(not writable)")
    return out


def unique_stems(files: Sequence[Any]) -> list[str]:
    """One output stem per file, in order: the file's stem, or ``<stem>-2``,
    ``<stem>-3``... when an earlier file took it (compared case-insensitively, as some
    file systems do). Deterministic: the same arguments give the same names."""
    taken: set[str] = set()
    out = []
    for f in files:
        stem = Path(str(f)).stem or "recording"
        name, k = stem, 1
        while name.casefold() in taken:
            k += 1
            name = f"{stem}-{k}"
        taken.add(name.casefold())
        out.append(name)
    return out


def say(text: str = "", *, end: str = "\n") -> None:
    """Print ``text`` on stdout, undecodable file-name bytes shown as ``\\xNN``."""
    print(display_text(text, one_line=False), end=end)


def error_line(path: Any, exc: BaseException) -> str:
    """``<file>: <problem>`` on one line (the file name is not repeated when the message
    has it; control characters and undecodable bytes escaped)."""
    msg = str(exc).strip() or type(exc).__name__
    name = str(path)
    return display_text(msg if name in msg else f"{name}: {msg}")


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
