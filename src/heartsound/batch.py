"""Analyse every recording under a folder: resumable, one batch per output folder, and
no file can stop the others.

:func:`run_batch` finds every file under the input folder (recursively; audio is every
format the installed libsndfile reads, see :func:`heartsound.batch_files.audio_extensions`),
runs :func:`heartsound.pipeline.analyze` on each audio file in worker processes
(:func:`heartsound.batch_pool.run_isolated`: a worker that dies costs at most the file it
was on, which is tried once more and then recorded) and writes the per-file outputs
into the output folder, mirroring the input tree, as ``analyze`` does
(:func:`heartsound.report.write_named`): ``<stem>.heartsound.{tsv,png,html,json}``, all
rendered before the first is written, the JSON last, and never over a file heartsound did
not write (such a file is recorded as that recording's error, and is left as it was).

``summary.csv`` at the top of the output folder has one row per file found, in path
order, from the start of the run: ``status`` is ``ok``, ``error`` (with the message),
``pending`` (not analysed yet, e.g. the run was interrupted) or ``skipped`` (not an audio
format). It is rewritten atomically after every file, so it is never behind the per-file
JSON nor half-written. ``path`` is the file's path relative to the input folder, byte for
byte: a name that is not valid UTF-8 keeps its bytes in the CSV (read it with
``errors="surrogateescape"``). ``quality_notes`` holds the notes made while reading the
recording (channels mixed down, truncated...). An existing ``summary.csv`` that a batch
did not write (its header is not the batch's) stops the run before anything is written.

Resuming: each ``<stem>.heartsound.json`` records, under ``batch.key``, the heartsound version, the
sha256 of every model file and the segmentation method and tasks it was made with. A file
is not analysed again only when its outputs are all present and its key matches this run
(its tasks may be a superset), no classifier was unavailable and the segmenter did not
fall back; its CSV row is then rebuilt from that JSON, so the CSV of a resumed run is the
same as that of an uninterrupted one. Failed files are always retried. Outputs of an
earlier batch named ``<stem>.json`` (before the ``.heartsound.`` names) are not looked at:
such a file is analysed again into the new names and the old files are left in place.

One batch at a time per output folder (:class:`heartsound.batch_files.OutputLock`): a
second one raises :class:`~heartsound.batch_files.BatchLockedError` before touching it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._version import __version__
from .batch_files import (BatchLockedError, OutputLock, display, find_inputs,
                          output_targets)
from .batch_pool import death_message, run_isolated
from .bundle import MODELS_PACKAGE, REGISTRY, sha256_of
from .calibration.applying import as_calibrations
from .classification.tasks import LABELS, TASKS, check_task
from .errors import HeartsoundError, OutputError, ParameterError
from .report import (OUTPUT_KINDS, check_replaceable, is_heartsound_output, output_kinds,
                     output_name, render_outputs, write_named)
from .segmentation import DEFAULT_METHOD
from .serialize import write_atomic

__all__ = ["BatchResult", "BatchLockedError", "run_batch", "summary_row", "csv_columns",
           "run_key", "SUMMARY_NAME", "STATUSES"]

#: Name of the summary CSV in the output folder.
SUMMARY_NAME = "summary.csv"
#: Values of the ``status`` column of the summary.
STATUSES = ("ok", "error", "pending", "skipped")


@dataclass
class BatchResult:
    """What :func:`run_batch` did.

    Attributes
    ----------
    n_files : int
        Audio files found.
    n_ok, n_resumed, n_error : int
        Analysed successfully (including ``n_resumed`` done by an earlier run); failed.
    errors : list of (str, str)
        ``(path relative to the input folder, message)`` of each failure.
    not_audio : list of str
        Other files found (relative paths), listed in the summary as ``skipped``.
    worker_deaths : list of (str, str)
        ``(path, how)`` each time a worker died while analysing ``path`` (a file is
        tried twice before it is recorded as failed).
    csv_path : Path
    audio_s : float
        Seconds of audio analysed in this run (resumed files not counted).
    """

    n_files: int = 0
    n_ok: int = 0
    n_resumed: int = 0
    n_error: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    not_audio: list[str] = field(default_factory=list)
    worker_deaths: list[tuple[str, str]] = field(default_factory=list)
    csv_path: Path = Path(SUMMARY_NAME)
    audio_s: float = 0.0


def csv_columns(tasks: Sequence[str]) -> list[str]:
    """Columns of ``summary.csv`` for ``tasks``."""
    cols = ["path", "status", "error", "duration_s", "sr", "usable", "quality_score",
            "quality_reasons", "quality_notes", "heart_rate_bpm", "n_cycles", "segmentation_method"]
    for t in tasks:
        cols += [f"{t}_label", f"{t}_uncertain"] + [f"{t}_p_{lab}" for lab in LABELS[t]]
    return cols


def summary_row(d: dict[str, Any], path: str) -> dict[str, Any]:
    """One CSV row from ``Analysis.to_dict()`` (values as serialised there)."""
    q = d["quality"]
    row: dict[str, Any] = {
        "path": path, "status": "ok", "error": "", "duration_s": d["duration_s"],
        "sr": d["sr"], "usable": q["usable"], "quality_score": q["score"],
        "quality_reasons": "; ".join(q["reasons"]),
        "quality_notes": "; ".join((q.get("notes") or {}).values()),
        "heart_rate_bpm": d["heart_rate_bpm"],
        "n_cycles": d["n_cycles"], "segmentation_method": d["segmentation"].get("method"),
    }
    for t, c in d["classification"].items():
        row[f"{t}_label"] = c.get("label") if c.get("available", True) else "unavailable"
        row[f"{t}_uncertain"] = bool(c.get("uncertain", False))
        for lab, p in c.get("probabilities", {}).items():
            row[f"{t}_p_{lab}"] = p
    return row


def run_key(method: str, tasks: Sequence[str]) -> dict[str, Any]:
    """What a result depends on: heartsound version, the sha256 of every shipped model
    file as it is on disk now (``None`` if missing), segmentation method and tasks."""
    from importlib.resources import files

    models: dict[str, str | None] = {}
    for name, spec in sorted(REGISTRY.items()):
        try:
            models[name] = sha256_of(files(MODELS_PACKAGE).joinpath(spec.file).read_bytes())
        except OSError:
            models[name] = None
    return {"heartsound_version": __version__, "models": models, "method": method,
            "tasks": list(tasks)}


def calibration_key(files: Sequence[str | Path]) -> dict[str, Any]:
    """``{"calibration": {"files": [absolute paths], "sha256": [...]}}`` of checked
    calibration files (:func:`heartsound.calibration.as_calibrations`), or ``{}``."""
    if not files:
        return {}
    cals = as_calibrations([Path(f) for f in files])
    return {"calibration": {"files": [os.path.abspath(c.source) for c in cals.values()],
                            "sha256": [c.sha256 for c in cals.values()]}}


def _reusable(d: Any, key: dict[str, Any]) -> bool:
    """Whether an earlier result ``d`` (parsed JSON) may stand for this run's."""
    try:
        old = d["batch"]["key"]
        seg, cls = d["segmentation"], d["classification"]
        return (all(old[k] == key[k] for k in ("heartsound_version", "models", "method"))
                and old.get("calibration") == key.get("calibration")
                and set(key["tasks"]) <= set(old["tasks"]) <= set(cls)
                and seg.get("method") == seg.get("requested_method") == key["method"]
                and all(c.get("available", True) for c in cls.values())
                and "quality" in d)
    except (KeyError, TypeError, AttributeError):
        return False


def _earlier(out_dir: Path, stem: str, kinds: Sequence[str],
             key: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON of a complete, reusable earlier result (every output of ``kinds`` present
    as ``<stem>.heartsound.<kind>`` and written by heartsound), or None."""
    if not all(is_heartsound_output(out_dir / output_name(stem, k)) for k in kinds):
        return None
    try:
        d = json.loads((out_dir / output_name(stem, "json")).read_bytes())
    except (OSError, ValueError):
        return None
    return d if _reusable(d, key) else None


#: One file's work: (path, output folder, stem, run key, plots, html).
Job = tuple[str, str, str, dict[str, Any], bool, bool]


def analyze_job(job: Job) -> tuple[dict[str, Any] | None, str | None]:
    """Analyse one file and write its outputs with :func:`heartsound.report.write_named`
    (``<stem>.heartsound.<kind>``, never over a file heartsound did not write, the JSON
    stamped with the run key under ``batch`` and written last); ``(to_dict, None)`` or
    ``(None, error message)``. Never raises (except KeyboardInterrupt)."""
    path, out_dir, stem, key, plots, html = job
    from .pipeline import analyze

    try:
        kinds = output_kinds(png=plots, html=html)
        check_replaceable(out_dir, stem, kinds)  # before the analysis, not after it
        a = analyze(path, method=key["method"], tasks=key["tasks"],
                    calibration=(key.get("calibration") or {}).get("files"))
        d = a.to_dict()
        d["batch"] = {"key": key}
        blobs = render_outputs(a, kinds=kinds, data=d)
        write_named(out_dir, stem, {k: blobs[k] for k in OUTPUT_KINDS if k in blobs})
        return d, None
    except HeartsoundError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a bad file must not stop the batch
        return None, f"{type(exc).__name__}: {exc}"


class _Summary:
    """The rows of ``summary.csv``, one per file, rewritten atomically on each change."""

    def __init__(self, path: Path, columns: list[str], rel: Sequence[str]) -> None:
        self.path, self.columns = path, columns
        self.lines = [self._line({"path": r, "status": "pending"}) for r in rel]

    def _line(self, row: dict[str, Any]) -> str:
        buf = io.StringIO()
        csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore",
                       lineterminator="\n").writerow(
            {k: ("" if v is None else v) for k, v in row.items()})
        return buf.getvalue()

    def set(self, i: int, row: dict[str, Any]) -> None:
        self.lines[i] = self._line(row)

    def flush(self) -> None:
        text = ",".join(self.columns) + "\n" + "".join(self.lines)
        write_atomic(self.path, text.encode("utf-8", "surrogateescape"))


def _check_summary(path: Path) -> None:
    """Refuse to replace a ``summary.csv`` that a batch did not write."""
    if not (path.exists() or path.is_symlink()):
        return
    mark = (",".join(csv_columns(())[:3]) + ",").encode()  # "path,status,error,"
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(mark))
    except OSError:
        head = b""
    if not path.is_file() or head != mark:
        raise OutputError(f"batch: {display(path)} exists and was not written by "
                          "heartsound batch; not replaced (move it away or choose "
                          "another --out)")


def _check_paths(root: Path, out: Path) -> None:
    if not root.is_dir():
        raise ParameterError(f"batch: {display(root)} is not a folder")
    if out.exists() and not out.is_dir():
        raise ParameterError(f"batch: --out {display(out)} exists and is not a folder")
    if os.path.realpath(out) == os.path.realpath(root):
        raise ParameterError(
            f"batch: --out {display(out)} is the input folder; outputs and summary.csv "
            f"would be mixed with the recordings; give another folder, e.g. "
            f"--out {display(out / 'heartsound-out')}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"batch: cannot create --out {display(out)} "
                             f"({exc.strerror or exc})") from None


def run_batch(input_dir: str | Path, out_dir: str | Path, *, jobs: int = 1,
              method: str = DEFAULT_METHOD, tasks: Sequence[str] = TASKS,
              plots: bool = True, html: bool = False, force: bool = False,
              progress: bool = True, calibration: Sequence[str | Path] = ()
              ) -> BatchResult:
    """Analyse every audio file under ``input_dir`` into ``out_dir``.

    Parameters
    ----------
    input_dir, out_dir : str or Path
        ``out_dir`` may lie inside ``input_dir`` (it is not read as input) but may not be
        ``input_dir`` itself.
    jobs : int
        Worker processes, each with one compute thread. 0 analyses in this process (no
        isolation: a crash of a native library ends the run; for debugging).
    method : str
        Segmentation method (see :func:`heartsound.analyze`).
    tasks : sequence of str
        Classification tasks.
    plots, html : bool
        Write ``<stem>.heartsound.png`` / ``.html`` as well as ``.json`` and ``.tsv``.
    force : bool
        Re-analyse files whose outputs already exist.
    progress : bool
        Show a tqdm progress bar on stderr.
    calibration : sequence of str or Path
        Site calibration files (:func:`heartsound.analyze`); part of the run key.

    Returns
    -------
    BatchResult

    Raises
    ------
    ParameterError
        Bad options, an input that is not a folder, ``out_dir`` equal to ``input_dir`` or
        not writable, or no audio file found.
    BatchLockedError
        Another batch is writing into ``out_dir``.
    OutputError
        ``out_dir/summary.csv`` exists and was not written by a batch.
    """
    if jobs < 0:
        raise ParameterError(f"batch: --jobs must be 0 or more, got {jobs}")
    tasks = tuple(check_task(t) for t in tasks)
    root, out = Path(input_dir), Path(out_dir)
    _check_paths(root, out)
    key = {**run_key(method, tasks), **calibration_key(calibration or ())}
    with OutputLock(out):
        return _run_locked(root, out, jobs=jobs, key=key, plots=plots,
                           html=html, force=force, progress=progress)


def _run_locked(root: Path, out: Path, *, jobs: int, key: dict[str, Any], plots: bool,
                html: bool, force: bool, progress: bool) -> BatchResult:
    """:func:`run_batch` once the output folder is locked."""
    from tqdm import tqdm

    audio, other = find_inputs(root, exclude=out)
    if not audio:
        raise ParameterError(f"batch: no audio files under {display(root)} "
                             f"({len(other)} other files)")
    _check_summary(out / SUMMARY_NAME)
    files = sorted(audio + other)
    targets = dict(zip(audio, output_targets(root, audio, out)))
    rel = [str(f.relative_to(root)) for f in files]
    res = BatchResult(n_files=len(audio), csv_path=out / SUMMARY_NAME)
    summary = _Summary(res.csv_path, csv_columns(key["tasks"]), rel)
    kinds = output_kinds(png=plots, html=html)
    todo: list[int] = []
    for i, f in enumerate(files):
        if f not in targets:
            res.not_audio.append(rel[i])
            summary.set(i, {"path": rel[i], "status": "skipped",
                            "error": "not an audio format libsndfile reads"})
            continue
        d = None if force else _earlier(*targets[f], kinds, key)
        if d is None:
            todo.append(i)
            continue
        summary.set(i, summary_row(d, rel[i]))
        res.n_resumed += 1
        res.n_ok += 1
    summary.flush()
    bar = tqdm(total=len(todo), unit="file", disable=not progress, file=sys.stderr,
               desc="analyse")

    def record(k: int, d: dict[str, Any] | None, err: str | None) -> None:
        i = todo[k]
        if d is not None:
            summary.set(i, summary_row(d, rel[i]))
            res.n_ok += 1
            res.audio_s += float(d["duration_s"])
        else:
            summary.set(i, {"path": rel[i], "status": "error", "error": err})
            res.n_error += 1
            res.errors.append((rel[i], str(err)))
        summary.flush()
        bar.update(1)

    job_list = [(str(files[i]), str(targets[files[i]][0]), targets[files[i]][1], key, plots,
                 html) for i in todo]
    try:
        if jobs == 0:
            for k, job in enumerate(job_list):
                record(k, *analyze_job(job))
        else:
            run_isolated(job_list, analyze_job, jobs,
                         lambda k, out, err: record(k, *(out if err is None else (None, err))),
                         died=lambda k, code: res.worker_deaths.append(
                             (rel[todo[k]], death_message(code, 1))))
    finally:
        bar.close()
    return res
