"""``heartsound batch DIR --out DIR``: analyse every recording under a folder, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import HeartsoundError
from ._common import parse_tasks
from .analyze import _common

__all__ = ["add_arguments", "main", "EXIT_CODES"]

#: Exit codes of ``heartsound batch`` (also in ``--help`` and the README).
EXIT_CODES = {
    0: "every audio file was analysed (files of other formats are listed as skipped)",
    1: "some files failed; each is listed in summary.csv with its error",
    2: "nothing was analysed: bad options, the input is not a folder or holds no audio, "
       "--out is the input folder or not writable, or another batch holds --out",
    130: "interrupted (Ctrl-C); run the same command again to resume",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``heartsound batch``."""
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = (
        "Every format the installed libsndfile reads is analysed (WAV, FLAC, OGG/Opus, "
        "AIFF, MP3...);\nother files are listed in summary.csv as skipped. summary.csv "
        "has one row per file and is\nrewritten after every file; running the same command "
        "again resumes (results made by another\nheartsound version, other models, "
        "method or tasks, and failed files, are redone). A worker\nprocess that dies "
        "costs only the file it was on (tried twice, then recorded).\n\nexit codes:\n"
        + "\n".join(f"  {k:<4} {v}" for k, v in EXIT_CODES.items()))
    p.add_argument("input", type=Path, metavar="DIR",
                   help="folder searched recursively for audio files")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output folder (mirrors the input tree: <stem>.heartsound.{json,tsv,"
                        "png,html}, never over a file heartsound did not write; "
                        "summary.csv at its top); may be inside DIR but not DIR itself")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="worker processes (default 1; each uses one compute thread); 0 "
                        "runs in this process, without the protection of a worker")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the files as tasks on a Dask cluster: tcp://HOST:PORT of its "
                        "scheduler, or local:N for N local worker processes (needs "
                        "heartsound[cluster]; DIR and --out at the same path on every "
                        "worker; --jobs is then ignored; see docs/cluster.md)")
    p.add_argument("--files-per-task", type=int, metavar="N",
                   help="with --scheduler: files per Dask task (default: about 4 tasks per "
                        "worker thread, at most 16)")
    p.add_argument("--no-plots", action="store_true", help="do not draw <stem>.heartsound.png")
    p.add_argument("--html", action="store_true", help="also write <stem>.heartsound.html reports")
    p.add_argument("--force", action="store_true",
                   help="re-analyse files whose outputs already exist")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _common(p)


def main(args: argparse.Namespace) -> int:
    """Run :func:`heartsound.batch.run_batch`; print where the summary is.

    Returns an exit code of :data:`EXIT_CODES`.
    """
    from ..batch import run_batch
    from ..batch_files import display

    try:
        res = run_batch(args.input, args.out, jobs=args.jobs, method=args.method,
                        tasks=parse_tasks(args), plots=not args.no_plots, html=args.html,
                        force=args.force, progress=not args.no_progress,
                        scheduler=args.scheduler, files_per_task=args.files_per_task,
                        calibration=args.calibration)
    except HeartsoundError:
        raise  # one line and exit 2 from heartsound.cli.main
    except OSError as exc:  # e.g. the disk filled up while writing summary.csv
        print(f"heartsound: error: batch: {display(exc.filename or args.out)}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    skipped = f", {len(res.not_audio)} other files skipped" if res.not_audio else ""
    print(f"{res.n_files} audio files: {res.n_ok} ok ({res.n_resumed} already done), "
          f"{res.n_error} failed{skipped}; summary: {display(res.csv_path)}")
    for note in res.notes:
        print(f"heartsound: warning: batch: {note}", file=sys.stderr)
    for path, how in res.worker_deaths:
        print(f"heartsound: warning: {display(path)}: {how}", file=sys.stderr)
    for path, msg in res.errors[:10]:
        msg = display(msg)
        line = msg if display(path) in msg else f"{display(path)}: {msg}"
        print(f"heartsound: error: {line}", file=sys.stderr)
    if len(res.errors) > 10:
        print(f"heartsound: ... and {len(res.errors) - 10} more errors (see "
              f"{display(res.csv_path)})", file=sys.stderr)
    return 0 if res.n_error == 0 else 1
