"""``heartsound batch DIR --out DIR``: analyse every recording under a folder, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import error_line, parse_tasks
from .analyze import _common

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``heartsound batch``."""
    p.add_argument("input", type=Path, metavar="DIR",
                   help="folder searched recursively for .wav/.flac/.ogg/.aiff/.aif files")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output folder (mirrors the input tree); summary.csv at its top")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="worker processes (default 1; each uses one ONNX Runtime thread)")
    p.add_argument("--no-plots", action="store_true", help="do not draw <stem>.png")
    p.add_argument("--html", action="store_true", help="also write <stem>.html reports")
    p.add_argument("--force", action="store_true",
                   help="re-analyse files whose outputs already exist")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _common(p)


def main(args: argparse.Namespace) -> int:
    """Run :func:`heartsound.batch.run_batch`; print where the summary is.

    Returns 0 when every file was analysed, 1 when some failed (they are listed in the
    summary CSV with their error).
    """
    from ..batch import run_batch

    res = run_batch(args.input, args.out, jobs=args.jobs, method=args.method,
                    tasks=parse_tasks(args), plots=not args.no_plots, html=args.html,
                    force=args.force, progress=not args.no_progress)
    print(f"{res.n_files} files: {res.n_ok} ok ({res.n_skipped} already done), "
          f"{res.n_error} failed; summary: {res.csv_path}")
    for path, msg in res.errors[:10]:
        print(f"heartsound: error: {error_line(path, Exception(msg))}", file=sys.stderr)
    if len(res.errors) > 10:
        print(f"heartsound: ... and {len(res.errors) - 10} more errors (see "
              f"{res.csv_path})", file=sys.stderr)
    return 0 if res.n_error == 0 else 1
