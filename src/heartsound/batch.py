"""Analyse every recording under a folder, resumably, with an optional process pool.

:func:`run_batch` finds every audio file under the input folder (recursively: ``.wav``,
``.flac``, ``.ogg``, ``.aiff``, ``.aif``), runs :func:`heartsound.pipeline.analyze` on each
and writes the per-file outputs of :func:`heartsound.report.write_outputs` into the output
folder, mirroring the input tree. ``summary.csv`` at the top of the output folder has one
row per input file (``status`` ``ok`` or ``error`` with the message).

Resuming: a file whose outputs are all present (its ``<stem>.heartsound.json``, written last, parses
and was made with the same segmentation method and tasks) is not analysed again; its CSV row is rebuilt from that JSON, so the CSV of a resumed run
is the same as that of an uninterrupted one. Failed files are retried on the next run.
The CSV is rewritten atomically during the run and at the end.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .classification.tasks import LABELS, TASKS, check_task
from .errors import HeartsoundError, ParameterError
from .report import output_kinds, output_name
from .segmentation import DEFAULT_METHOD
from .serialize import write_atomic

__all__ = ["AUDIO_EXTENSIONS", "BatchResult", "find_audio", "run_batch", "summary_row",
           "csv_columns", "SUMMARY_NAME"]

#: Audio file name endings picked up (case-insensitive).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")
#: Name of the summary CSV in the output folder.
SUMMARY_NAME = "summary.csv"
_CSV_EVERY_S = 30.0


@dataclass
class BatchResult:
    """What :func:`run_batch` did.

    Attributes
    ----------
    n_files, n_ok, n_skipped, n_error : int
        Files found; analysed successfully (including ``n_skipped`` already done); failed.
    errors : list of (str, str)
        ``(path relative to the input folder, message)`` of each failure.
    csv_path : Path
    audio_s : float
        Seconds of audio analysed in this run (skipped files not counted).
    """

    n_files: int = 0
    n_ok: int = 0
    n_skipped: int = 0
    n_error: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    csv_path: Path = Path(SUMMARY_NAME)
    audio_s: float = 0.0


def find_audio(root: str | Path, *, exclude: str | Path | None = None) -> list[Path]:
    """Audio files under ``root`` (recursive, sorted), skipping hidden files and anything
    under ``exclude`` (the output folder, when it sits inside the input folder)."""
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"batch: {root} is not a folder")
    ex = Path(exclude).resolve() if exclude is not None else None
    out = []
    for p in root.rglob("*"):
        if p.name.startswith(".") or p.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        if ex is not None and ex in p.resolve().parents:
            continue
        if p.is_file():
            out.append(p)
    return sorted(out)


def _targets(root: Path, files: Sequence[Path], out: Path) -> list[tuple[Path, str]]:
    """Output folder and stem of each file; stems shared by two files of one folder
    (``a.wav``, ``a.flac``) get the extension appended (``a_flac``)."""
    seen: dict[tuple[Path, str], int] = {}
    rel = [f.relative_to(root) for f in files]
    for r in rel:
        seen[(r.parent, r.stem)] = seen.get((r.parent, r.stem), 0) + 1
    res = []
    for r in rel:
        stem = r.stem if seen[(r.parent, r.stem)] == 1 else f"{r.stem}_{r.suffix[1:].lower()}"
        res.append((out / r.parent, stem))
    return res


def csv_columns(tasks: Sequence[str]) -> list[str]:
    """Columns of ``summary.csv`` for ``tasks``."""
    cols = ["path", "status", "error", "duration_s", "sr", "usable", "quality_score",
            "quality_reasons", "heart_rate_bpm", "n_cycles", "segmentation_method"]
    for t in tasks:
        cols += [f"{t}_label", f"{t}_uncertain"] + [f"{t}_p_{lab}" for lab in LABELS[t]]
    return cols


def summary_row(d: dict[str, Any], path: str) -> dict[str, Any]:
    """One CSV row from ``Analysis.to_dict()`` (values as serialised there)."""
    q = d["quality"]
    row: dict[str, Any] = {
        "path": path, "status": "ok", "error": "", "duration_s": d["duration_s"],
        "sr": d["sr"], "usable": q["usable"], "quality_score": q["score"],
        "quality_reasons": "; ".join(q["reasons"]), "heart_rate_bpm": d["heart_rate_bpm"],
        "n_cycles": d["n_cycles"], "segmentation_method": d["segmentation"].get("method"),
    }
    for t, c in d["classification"].items():
        row[f"{t}_label"] = c.get("label") if c.get("available", True) else "unavailable"
        row[f"{t}_uncertain"] = bool(c.get("uncertain", False))
        for lab, p in c.get("probabilities", {}).items():
            row[f"{t}_p_{lab}"] = p
    return row


def _done(out_dir: Path, stem: str, plots: bool, html: bool, method: str,
          tasks: Sequence[str]) -> dict[str, Any] | None:
    """The JSON of a complete earlier run with the same segmentation method and (at least)
    the same tasks, or None."""
    need = [out_dir / output_name(stem, k) for k in output_kinds(png=plots, html=html)]
    j = out_dir / output_name(stem, "json")
    if not all(p.is_file() for p in need):
        return None
    try:
        d = json.loads(j.read_text())
    except (OSError, ValueError):
        return None
    try:
        same = (d["segmentation"].get("requested_method") == method
                and set(tasks) <= set(d["classification"]) and "quality" in d)
    except (AttributeError, KeyError, TypeError):
        return None
    return d if same else None


_LIMITS: Any = None
#: One file's work: (path, output folder, stem, method, tasks, plots, html).
Job = tuple[str, str, str, str, tuple[str, ...], bool, bool]


def _init_worker() -> None:
    """Process-pool initializer: one compute thread per worker.

    ONNX Runtime sessions of the classifiers and the neural segmenter are created with
    ``intra_op_num_threads=1`` (their default ``threads=1``); here OpenMP and the BLAS
    thread pools already loaded into the worker are limited to one thread as well.
    """
    global _LIMITS
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    _LIMITS = threadpool_limits(limits=1)


def _analyze_one(job: Job) -> tuple[dict[str, Any] | None, str | None]:
    """Analyse one file and write its outputs; returns ``(to_dict, None)`` or
    ``(None, error message)``. Never raises (except KeyboardInterrupt)."""
    path, out_dir, stem, method, tasks, plots, html = job
    from .pipeline import analyze
    from .report import write_outputs

    try:
        a = analyze(path, method=method, tasks=tasks)
        d = a.to_dict()
        write_outputs(a, out_dir, stem, png=plots, html=html, data=d)
        return d, None
    except HeartsoundError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a bad file must not stop the batch
        return None, f"{type(exc).__name__}: {exc}"


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    write_atomic(path, buf.getvalue())


def _run_jobs(jobs_args: list[Job], n_workers: int,
              done: Callable[[int, dict[str, Any] | None, str | None], None]) -> None:
    """Run :func:`_analyze_one` on each job, in this process or a pool of ``n_workers``
    processes, calling ``done(k, to_dict or None, error or None)`` as each finishes."""
    if n_workers == 1 or len(jobs_args) <= 1:
        for k, job in enumerate(jobs_args):
            done(k, *_analyze_one(job))
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ex = ProcessPoolExecutor(max_workers=n_workers, initializer=_init_worker)
    try:
        futs = {ex.submit(_analyze_one, job): k for k, job in enumerate(jobs_args)}
        for fut in as_completed(futs):
            try:
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by OOM
                outcome = (None, f"worker failed: {type(exc).__name__}: {exc}")
            done(futs[fut], *outcome)
    finally:  # on Ctrl-C: drop the queued files, let running ones finish
        ex.shutdown(wait=True, cancel_futures=True)


def run_batch(input_dir: str | Path, out_dir: str | Path, *, jobs: int = 1,
              method: str = DEFAULT_METHOD, tasks: Sequence[str] = TASKS,
              plots: bool = True, html: bool = False, force: bool = False,
              progress: bool = True) -> BatchResult:
    """Analyse every audio file under ``input_dir`` into ``out_dir``.

    Parameters
    ----------
    input_dir, out_dir : str or Path
    jobs : int
        Worker processes; 1 runs in this process. Each worker uses one ONNX Runtime thread.
    method : str
        Segmentation method (see :func:`heartsound.analyze`).
    tasks : sequence of str
        Classification tasks.
    plots, html : bool
        Write ``<stem>.png`` / ``<stem>.html`` as well as ``.json`` and ``.tsv``.
    force : bool
        Re-analyse files whose outputs already exist.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    BatchResult
    """
    from tqdm import tqdm

    if jobs < 1:
        raise ParameterError(f"batch: --jobs must be at least 1, got {jobs}")
    tasks = tuple(check_task(t) for t in tasks)
    root, out = Path(input_dir), Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"batch: --out {out} exists and is not a folder")
    files = find_audio(root, exclude=out)
    targets = _targets(root, files, out)
    rel = [str(f.relative_to(root)) for f in files]
    columns = csv_columns(tasks)
    rows: list[dict[str, Any] | None] = [None] * len(files)
    res = BatchResult(n_files=len(files), csv_path=out / SUMMARY_NAME)
    out.mkdir(parents=True, exist_ok=True)

    todo = []
    for i, (od, stem) in enumerate(targets):
        d = None if force else _done(od, stem, plots, html, method, tasks)
        if d is not None:
            rows[i] = summary_row(d, rel[i])
            res.n_skipped += 1
            res.n_ok += 1
        else:
            todo.append(i)

    def flush() -> None:
        _write_csv(res.csv_path, columns, [r for r in rows if r is not None])

    bar = tqdm(total=len(todo), unit="file", disable=not progress, file=sys.stderr,
               desc="analyse")
    last = time.monotonic()

    def record(k: int, d: dict[str, Any] | None, err: str | None) -> None:
        nonlocal last
        i = todo[k]
        if d is not None:
            rows[i] = summary_row(d, rel[i])
            res.n_ok += 1
            res.audio_s += float(d["duration_s"])
        else:
            rows[i] = {"path": rel[i], "status": "error", "error": err}
            res.n_error += 1
            res.errors.append((rel[i], str(err)))
        bar.update(1)
        if time.monotonic() - last > _CSV_EVERY_S:
            flush()
            last = time.monotonic()

    try:
        _run_jobs([(str(files[i]), str(targets[i][0]), targets[i][1], method, tasks, plots,
                    html) for i in todo], jobs, record)
    finally:
        bar.close()
        flush()
    return res
