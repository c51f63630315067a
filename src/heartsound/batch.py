"""Analyse every recording under a folder: resumable, one batch per output folder, and
no file can stop the others.

:func:`run_batch` finds every file under the input folder (recursively; audio is every
format the installed libsndfile reads, see :func:`heartsound.batch_files.audio_extensions`),
runs :func:`analyze_job` (:func:`heartsound.pipeline.analyze`, then the outputs) on each
audio file through an :data:`Executor`: worker processes on this machine
(:func:`heartsound.batch_pool.run_isolated`: a worker that dies costs at most the file it
was on, which is tried once more and then recorded), or tasks on a Dask cluster
(``scheduler=``, :class:`heartsound.batch_cluster.DaskExecutor`, the same rules: see
docs/cluster.md). The worker writes the per-file outputs
into the output folder, mirroring the input tree, as ``analyze`` does
(:func:`heartsound.report.write_named`): ``<stem>.heartsound.{tsv,png,html,json}``, all
rendered before the first is written, the JSON last, and never over a file heartsound did
not write (such a file is recorded as that recording's error, and is left as it was).

``summary.csv`` at the top of the output folder has one row per file found, in path
order, from the start of the run: ``status`` is ``ok``, ``error`` (with the message),
``pending`` (not analysed yet, e.g. the run was interrupted) or ``skipped`` (not an audio
format). It is rewritten atomically after every file, so it is never behind the per-file
JSON nor half-written (on a cluster a rewrite may wait a moment, so that rewriting a CSV
of many thousands of rows takes at most 5 % of the client's time; it is never later than
that, and always final at the end). ``summary.parquet`` beside it holds the same rows
with typed columns (:func:`heartsound.batch_files.parquet_schema`), written atomically
with the CSV's final state at the end of a run (an interrupted one too); without pyarrow
it is skipped with one note (:attr:`BatchResult.notes`). ``path`` is the file's path
relative to the input folder, byte for byte: a name that is not valid UTF-8 keeps its
bytes in the CSV (read it with ``errors="surrogateescape"``; in the parquet, whose strings
are UTF-8, such bytes are written ``\\xNN``). ``quality_notes`` holds the notes made
while reading the recording (channels mixed down, truncated...). An existing
``summary.csv`` (or ``summary.parquet``) that a batch did not write stops the run before
anything is written.

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

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._version import __version__
from .batch_files import (PARQUET_NAME, SUMMARY_NAME, BatchLockedError, OutputLock, Summary,
                          check_summary, csv_columns, display, find_inputs, output_targets,
                          summary_row)
from .batch_pool import RETRIES, death_message, run_isolated
from .bundle import MODELS_PACKAGE, REGISTRY, sha256_of
from .calibration.applying import as_calibrations
from .classification.tasks import TASKS, check_task
from .errors import HeartsoundError, ModelError, ParameterError
from .report import (OUTPUT_KINDS, check_replaceable, is_heartsound_output, output_kinds,
                     output_name, render_outputs, write_named)
from .segmentation import DEFAULT_METHOD

__all__ = ["BatchResult", "BatchLockedError", "run_batch", "summary_row", "csv_columns",
           "run_key", "analyze_job", "Executor", "SUMMARY_NAME", "PARQUET_NAME", "STATUSES"]

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
    parquet_path : Path or None
        ``summary.parquet`` beside the CSV; None when pyarrow is missing (see ``notes``).
    audio_s : float
        Seconds of audio analysed in this run (resumed files not counted).
    notes : list of str
        Things the user should be told once (e.g. the parquet was skipped).
    """

    n_files: int = 0
    n_ok: int = 0
    n_resumed: int = 0
    n_error: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    not_audio: list[str] = field(default_factory=list)
    worker_deaths: list[tuple[str, str]] = field(default_factory=list)
    csv_path: Path = Path(SUMMARY_NAME)
    parquet_path: Path | None = None
    audio_s: float = 0.0
    notes: list[str] = field(default_factory=list)


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


@functools.lru_cache(maxsize=8)
def _own_key(method: str, tasks: tuple[str, ...]) -> str:
    """:func:`run_key` of this process (once per process), as comparable text."""
    return json.dumps(run_key(method, tasks), sort_keys=True)


def analyze_job(job: Job) -> tuple[dict[str, Any] | None, str | None]:
    """Analyse one file and write its outputs with :func:`heartsound.report.write_named`
    (``<stem>.heartsound.<kind>``, never over a file heartsound did not write, the JSON
    stamped with the run key under ``batch`` and written last); ``(to_dict, None)`` or
    ``(None, error message)``. Never raises (except KeyboardInterrupt). A worker whose
    heartsound version or model files differ from the run key (a cluster node with
    another installation) analyses nothing: the file is recorded as failed."""
    path, out_dir, stem, key, plots, html = job
    from .pipeline import analyze

    try:
        base = {k: v for k, v in key.items() if k != "calibration"}  # checked by analyze
        if json.dumps(base, sort_keys=True) != _own_key(key["method"], tuple(key["tasks"])):
            own = json.loads(_own_key(key["method"], tuple(key["tasks"])))
            models = "the same" if own["models"] == key.get("models") else "other"
            raise ModelError(f"{display(path)}: not analysed: this worker has heartsound "
                             f"{own['heartsound_version']} with {models} model files than "
                             f"the batch's heartsound {key.get('heartsound_version')}; "
                             "install the same heartsound on every worker")
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


#: ``done(k, result, error)``: called in the batch's process once per job, as each ends;
#: ``result`` is ``fn(jobs[k])``, or None with ``error`` when the job could not be run.
Done = Callable[[int, Any, "str | None"], None]
#: ``died(k, how)``: a worker died while it held job ``k``.
Died = Callable[[int, str], None]
#: An executor: ``executor(jobs, fn, done, died)`` runs the module-level ``fn`` on every
#: job (isolated from this process: a job that kills its worker is retried, then reported
#: through ``done`` with an error) and calls ``done`` in completion order. Implementations:
#: in this process (``jobs=0``), :func:`heartsound.batch_pool.run_isolated` (``jobs=N``),
#: :class:`heartsound.batch_cluster.DaskExecutor` (``scheduler=``).
Executor = Callable[[Sequence[Job], Callable[[Job], Any], Done, Died], None]
#: Opens an executor (a Dask client connects only when there is work to do).
Opener = Callable[[], contextlib.AbstractContextManager[Executor]]


def _serial(jobs: Sequence[Job], fn: Callable[[Job], Any], done: Done, died: Died) -> None:
    for k, job in enumerate(jobs):
        done(k, fn(job), None)


@contextlib.contextmanager
def _local_executor(n: int) -> Iterator[Executor]:
    def pool(jobs: Sequence[Job], fn: Callable[[Job], Any], done: Done, died: Died) -> None:
        run_isolated(jobs, fn, n, done, died=lambda k, code: died(k, death_message(code, 1)))

    yield _serial if n == 0 else pool


def _cluster_module(scheduler: str) -> Any:
    """:mod:`heartsound.batch_cluster` (imports Dask), after checking ``scheduler``."""
    try:
        from . import batch_cluster  # optional: only a run with --scheduler needs Dask
    except ImportError as exc:
        raise ParameterError(f"batch: --scheduler needs Dask ({exc}); install it with "
                             "pip install \"heartsound[cluster]\"") from None
    batch_cluster.parse_scheduler(scheduler)
    return batch_cluster


def run_batch(input_dir: str | Path, out_dir: str | Path, *, jobs: int = 1,
              method: str = DEFAULT_METHOD, tasks: Sequence[str] = TASKS,
              plots: bool = True, html: bool = False, force: bool = False,
              progress: bool = True, scheduler: str | None = None,
              files_per_task: int | None = None,
              calibration: Sequence[str | Path] = ()) -> BatchResult:
    """Analyse every audio file under ``input_dir`` into ``out_dir``.

    Parameters
    ----------
    input_dir, out_dir : str or Path
        ``out_dir`` may lie inside ``input_dir`` (it is not read as input) but may not be
        ``input_dir`` itself.
    jobs : int
        Worker processes, each with one compute thread. 0 analyses in this process (no
        isolation: a crash of a native library ends the run; for debugging). Ignored
        with ``scheduler``.
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
    scheduler : str, optional
        Run the files as tasks on a Dask cluster: ``tcp://host:port`` of its scheduler,
        or ``local:N`` for a local cluster of N worker processes (needs the ``cluster``
        extra; see :mod:`heartsound.batch_cluster` and docs/cluster.md). Input and
        output folders must be at the same path on every worker.
    files_per_task : int, optional
        With ``scheduler``: files analysed one after the other in one Dask task (default:
        about 4 tasks per worker thread, at most 16 files; see
        :func:`heartsound.batch_cluster.files_per_task`).
    calibration : sequence of str or Path
        Site calibration files (:func:`heartsound.analyze`); part of the run key.

    Returns
    -------
    BatchResult

    Raises
    ------
    ParameterError
        Bad options, an input that is not a folder, ``out_dir`` equal to ``input_dir`` or
        not writable, no audio file found, or ``scheduler`` without Dask installed.
    BatchLockedError
        Another batch is writing into ``out_dir``.
    OutputError
        ``out_dir/summary.csv`` (or ``summary.parquet``) exists and was not written by a
        batch.
    heartsound.batch_cluster.ClusterError
        The scheduler cannot be reached or was lost (run again to resume).
    """
    if jobs < 0:
        raise ParameterError(f"batch: --jobs must be 0 or more, got {jobs}")
    if files_per_task is not None and files_per_task < 1:
        raise ParameterError(f"batch: --files-per-task must be 1 or more, got {files_per_task}")
    tasks = tuple(check_task(t) for t in tasks)
    if scheduler is not None:
        cluster = _cluster_module(scheduler)
        executor: Opener = (lambda: cluster.DaskExecutor(
            scheduler, retries=RETRIES, files_per_task=files_per_task))
    else:
        executor = lambda: _local_executor(jobs)
    root, out = Path(input_dir), Path(out_dir)
    _check_paths(root, out)
    key = {**run_key(method, tasks), **calibration_key(calibration or ())}
    with OutputLock(out):
        return _run_locked(root, out, executor=executor, key=key,
                           plots=plots, html=html, force=force, progress=progress,
                           max_share=0.0 if scheduler is None else 0.05)


def _plan(files: Sequence[Path], targets: dict[Path, tuple[Path, str]], rel: Sequence[str],
          kinds: Sequence[str], key: dict[str, Any], force: bool, summary: Summary,
          res: BatchResult) -> list[int]:
    """Rows of the files to analyse; the others' rows set (skipped, or resumed from their
    earlier JSON)."""
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
    return todo


def _run_locked(root: Path, out: Path, *, executor: Opener,
                key: dict[str, Any], plots: bool, html: bool, force: bool, progress: bool,
                max_share: float) -> BatchResult:
    """:func:`run_batch` once the output folder is locked."""
    from tqdm import tqdm

    audio, other = find_inputs(root, exclude=out)
    if not audio:
        raise ParameterError(f"batch: no audio files under {display(root)} "
                             f"({len(other)} other files)")
    check_summary(out / SUMMARY_NAME)
    files = sorted(audio + other)
    targets = dict(zip(audio, output_targets(root, audio, out)))
    rel = [str(f.relative_to(root)) for f in files]
    res = BatchResult(n_files=len(audio), csv_path=out / SUMMARY_NAME)
    summary = Summary(res.csv_path, key["tasks"], rel, max_share=max_share)
    todo = _plan(files, targets, rel, output_kinds(png=plots, html=html), key, force,
                 summary, res)
    summary.flush()
    bar = tqdm(total=len(todo), unit="file", disable=not progress, file=sys.stderr,
               desc="analyse")

    def record(k: int, got: tuple[dict[str, Any] | None, str | None] | None,
               err: str | None) -> None:
        i = todo[k]
        d, err = got if err is None and got is not None else (None, err)
        if d is not None:
            summary.set(i, summary_row(d, rel[i]))
            res.n_ok += 1
            res.audio_s += float(d["duration_s"])
        else:
            summary.set(i, {"path": rel[i], "status": "error", "error": err})
            res.n_error += 1
            res.errors.append((rel[i], str(err)))
        summary.flush(force=False)
        bar.update(1)

    job_list = [(str(files[i]), str(targets[files[i]][0]), targets[files[i]][1], key, plots,
                 html) for i in todo]
    try:
        if job_list:
            with executor() as run:
                run(job_list, analyze_job, record,
                    lambda k, how: res.worker_deaths.append((rel[todo[k]], how)))
    finally:
        bar.close()
        note = summary.close()  # the CSV's final state, then summary.parquet
        res.notes += [note] if note else []
        res.parquet_path = None if note else out / PARQUET_NAME
    return res
