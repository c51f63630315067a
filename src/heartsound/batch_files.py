"""What a batch reads and where it writes: input discovery, output names, the folder lock,
the summary.

* :func:`audio_extensions`: the file name endings of every format the installed
  libsndfile reads (:func:`soundfile.available_formats`), MP3 included when it is there.
* :func:`find_inputs`: every file under the input folder, split into audio files and the
  other files (reported as skipped). Hidden files and folders, and every folder a batch
  writes into (it holds :data:`LOCK_NAME`), are left out, so an output folder inside the
  input folder is never read back as input.
* :func:`output_targets`: the output folder and stem of each input, mirroring the tree.
* :class:`OutputLock`: one batch at a time per output folder.
* :class:`Summary`: ``summary.csv`` (one row per file, rewritten atomically) and, when
  pyarrow is installed, ``summary.parquet`` beside it with typed columns
  (:func:`parquet_schema`), written atomically each time the CSV's final state is.

File names are whatever the operating system allows: paths stay :class:`~pathlib.Path`
objects (undecodable bytes as surrogate escapes, :pep:`383`) and :func:`display` gives
a printable form.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .classification.tasks import LABELS
from .errors import HeartsoundError, OutputError, ParameterError
from .serialize import display_text as display  # printable file names
from .serialize import unavailable_text, write_atomic

__all__ = ["audio_extensions", "find_inputs", "output_targets", "OutputLock",
           "BatchLockedError", "LOCK_NAME", "display", "csv_columns", "summary_row",
           "parquet_schema", "Summary", "check_summary", "SUMMARY_NAME", "PARQUET_NAME",
           "PARQUET_SKIPPED"]

#: Lock file of a batch in its output folder; a folder holding it is never read as input.
LOCK_NAME = ".heartsound-batch.lock"
#: Name of the summary CSV in the output folder.
SUMMARY_NAME = "summary.csv"
#: Name of the typed copy of the summary (pyarrow), beside the CSV.
PARQUET_NAME = "summary.parquet"
#: Said once per run when pyarrow is missing.
PARQUET_SKIPPED = ("summary.parquet not written: pyarrow is not installed "
                   "(pip install \"heartsound[cluster]\"); summary.csv is complete")

# libsndfile major format -> file name endings. MAT4/MAT5 are left out: a ``.mat`` file
# is almost always MATLAB data, not audio. RAW has no header, hence no ending.
_ENDINGS = {
    "AIFF": (".aiff", ".aif", ".aifc"), "AU": (".au", ".snd"), "AVR": (".avr",),
    "CAF": (".caf",), "FLAC": (".flac",), "HTK": (".htk",), "SVX": (".iff", ".svx"),
    "MPC2K": (".mpc2k",), "MP3": (".mp3",), "MPEG": (".mp3", ".mp2"),
    "OGG": (".ogg", ".oga", ".opus"), "PAF": (".paf",), "PVF": (".pvf",),
    "RF64": (".rf64",), "SD2": (".sd2",), "SDS": (".sds",), "IRCAM": (".sf", ".ircam"),
    "VOC": (".voc",), "W64": (".w64",), "WAV": (".wav", ".wave"), "NIST": (".nist", ".sph"),
    "WAVEX": (".wav",), "WVE": (".wve",), "XI": (".xi",),
}


class BatchLockedError(HeartsoundError):
    """Another batch is writing into the same output folder."""


def audio_extensions() -> tuple[str, ...]:
    """Lower-case endings (``".wav"``...) of the formats the installed libsndfile reads."""
    import soundfile as sf

    exts = {e for fmt in sf.available_formats() for e in _ENDINGS.get(fmt.upper(), ())}
    return tuple(sorted(exts))


def find_inputs(root: str | Path, *, exclude: str | Path | None = None
                ) -> tuple[list[Path], list[Path]]:
    """Audio files and other files under ``root`` (recursive, each list sorted).

    Parameters
    ----------
    root : str or Path
        Input folder.
    exclude : str or Path, optional
        The output folder; nothing under it is listed.

    Returns
    -------
    audio, other : list of Path
        Files with an ending of :func:`audio_extensions`, and the rest (not hidden).
    """
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"batch: {display(root)} is not a folder")
    exts = audio_extensions()
    ex = os.path.realpath(exclude) if exclude is not None else None
    audio: list[Path] = []
    other: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if LOCK_NAME in filenames and dirpath != str(root) or (
                ex is not None and os.path.realpath(dirpath) == ex):
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            p = Path(dirpath, name)
            if name.startswith(".") or name == "summary.csv" and LOCK_NAME in filenames \
                    or not p.is_file():
                continue
            (audio if p.suffix.lower() in exts else other).append(p)
    return sorted(audio), sorted(other)


def output_targets(root: Path, files: Sequence[Path], out: Path) -> list[tuple[Path, str]]:
    """Output folder and stem of each file; stems shared by two files of one folder
    (``a.wav``, ``a.flac``) get the ending appended (``a_flac``)."""
    seen: dict[tuple[Path, str], int] = {}
    rel = [f.relative_to(root) for f in files]
    for r in rel:
        seen[(r.parent, r.stem)] = seen.get((r.parent, r.stem), 0) + 1
    res = []
    for r in rel:
        stem = r.stem if seen[(r.parent, r.stem)] == 1 else f"{r.stem}_{r.suffix[1:].lower()}"
        res.append((out / r.parent, stem))
    return res


class OutputLock:
    """An exclusive lock on an output folder for the life of one batch.

    ``fcntl.flock`` on :data:`LOCK_NAME`: the kernel releases it when the process ends,
    however it ends, so a lock is never stale. The file records the holder's pid, host
    and start time for the message a second batch gets (:class:`BatchLockedError`).
    """

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ParameterError(f"batch: cannot write into {display(self.path.parent)} "
                                 f"({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise BatchLockedError(
                f"batch: another batch is writing into {display(self.path.parent)} "
                f"({holder}); wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock; the file stays as the folder's mark
            self._fd = None


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
        # as the report: "not assessable" (no heart sounds; severity of an unknown
        # murmur) or "unavailable" (the model could not run), never an empty label
        row[f"{t}_label"] = (unavailable_text(c)[0] if not c.get("available", True)
                             else c.get("label") or "not assessable")
        row[f"{t}_uncertain"] = bool(c.get("uncertain", False))
        for lab, p in c.get("probabilities", {}).items():
            row[f"{t}_p_{lab}"] = p
    return row


#: Key of the parquet file's metadata that marks it as a batch's summary.
_PARQUET_MARK = b"heartsound"
#: Arrow type of each column of :func:`csv_columns` that is not a string.
_TYPES = {"duration_s": "float64", "sr": "int64", "usable": "bool_",
          "quality_score": "float64", "heart_rate_bpm": "float64", "n_cycles": "int64"}


def _arrow_type(pa: Any, col: str) -> Any:
    if col in _TYPES:
        return getattr(pa, _TYPES[col])()
    if col.endswith("_uncertain"):
        return pa.bool_()
    return pa.float64() if "_p_" in col else pa.string()


def parquet_schema(tasks: Sequence[str]) -> Any:
    """The :class:`pyarrow.Schema` of ``summary.parquet``: the columns of
    :func:`csv_columns` typed (float64 seconds, Hz as int64, booleans, float64
    probabilities, strings); a value a row does not have is null."""
    import pyarrow as pa  # optional (the cluster extra): imported only to write parquet

    return pa.schema([(c, _arrow_type(pa, c)) for c in csv_columns(tasks)],
                     metadata={_PARQUET_MARK: "batch summary"})


def _text(v: Any) -> Any:
    """Strings as valid UTF-8 for Arrow: bytes of a non-UTF-8 file name as ``\\xNN``."""
    return display(v, one_line=False) if isinstance(v, str) else v


class Summary:
    """The rows of ``summary.csv``, one per file, rewritten atomically on each change.

    Parameters
    ----------
    path : Path
        The CSV; the parquet copy is ``path.with_name(PARQUET_NAME)``.
    tasks : sequence of str
        Classification tasks (columns).
    rel : sequence of str
        Each file's path relative to the input folder, in row order (all ``pending``).
    max_share : float
        Largest share of time spent rewriting the CSV: after a rewrite that took ``t``
        seconds, a change within ``t / max_share`` is written when that time is up (by a
        timer thread) rather than at once. 0: every change is written at once. A large
        cluster's client would otherwise spend its time rewriting a CSV of tens of
        thousands of rows. :meth:`close` always writes.
    """

    def __init__(self, path: Path, tasks: Sequence[str], rel: Sequence[str], *,
                 max_share: float = 0.0) -> None:
        self.path, self.tasks = path, tuple(tasks)
        self.columns = csv_columns(self.tasks)
        self.rows: list[dict[str, Any]] = [{"path": r, "status": "pending"} for r in rel]
        self.lines = [self._line(r) for r in self.rows]
        self.max_share = max_share
        self._next = 0.0  # time.monotonic() before which no rewrite is due
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False

    def _line(self, row: dict[str, Any]) -> str:
        buf = io.StringIO()
        csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore",
                       lineterminator="\n").writerow(
            {k: ("" if v is None else v) for k, v in row.items()})
        return buf.getvalue()

    def set(self, i: int, row: dict[str, Any]) -> None:
        line = self._line(row)
        with self._lock:
            self.rows[i], self.lines[i] = row, line

    def flush(self, *, force: bool = True) -> None:
        """Rewrite the CSV now, or with ``force=False`` as soon as :attr:`max_share`
        allows."""
        with self._lock:
            t0 = time.monotonic()
            if not force and t0 < self._next:
                if self._timer is None:
                    self._timer = threading.Timer(self._next - t0, self._late)
                    self._timer.daemon = True
                    self._timer.start()
                return
            text = ",".join(self.columns) + "\n" + "".join(self.lines)
            write_atomic(self.path, text.encode("utf-8", "surrogateescape"))
            if self.max_share > 0:
                t1 = time.monotonic()
                self._next = t1 + (t1 - t0) / self.max_share

    def _late(self) -> None:
        """The deferred rewrite (timer thread); an error is left to :meth:`close`."""
        with self._lock:
            self._timer = None
            if self._closed:
                return
        try:
            self.flush()
        except OSError:
            pass

    def table(self) -> Any:
        """The rows as a :class:`pyarrow.Table` of :func:`parquet_schema`."""
        import pyarrow as pa  # optional, see parquet_schema

        schema = parquet_schema(self.tasks)
        cols = {c: [_text(r.get(c)) for r in self.rows] for c in self.columns}
        return pa.table({c: pa.array(v, type=schema.field(c).type) for c, v in cols.items()},
                        schema=schema)

    def close(self) -> str | None:
        """Write the final CSV, then ``summary.parquet`` (atomically, through a
        temporary file); a note when pyarrow is missing (the parquet is then skipped),
        else None."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self.flush()
        try:
            import pyarrow.parquet as pq  # optional, see parquet_schema
        except ImportError:
            return PARQUET_SKIPPED
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        pq.write_table(self.table(), sink)
        write_atomic(self.path.with_name(PARQUET_NAME), sink.getvalue().to_pybytes())
        return None


def _foreign_parquet(path: Path) -> bool:
    """Whether ``path`` exists and is not a ``summary.parquet`` a batch wrote (when
    pyarrow is missing it is not written, hence never foreign)."""
    if not (path.exists() or path.is_symlink()):
        return False
    try:
        import pyarrow.parquet as pq  # optional, see parquet_schema
    except ImportError:
        return False
    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception:  # noqa: BLE001 - pyarrow raises its own types for unreadable files
        return True
    return not path.is_file() or _PARQUET_MARK not in meta


def check_summary(path: Path) -> None:
    """Refuse to replace a ``summary.csv`` (or the ``summary.parquet`` beside it) that
    a batch did not write."""
    pq_path = path.with_name(PARQUET_NAME)
    if _foreign_parquet(pq_path):
        raise OutputError(f"batch: {display(pq_path)} exists and was not written by "
                          "heartsound batch; not replaced (move it away or choose "
                          "another --out)")
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
