"""Reader for the CirCor DigiScope Phonocardiogram Dataset (PhysioNet Challenge 2022).

Official layout (v1.0.3, as downloaded from PhysioNet)::

    <root>/training_data.csv                 one row per patient (labels)
    <root>/training_data/<patient>.txt       recording list + labels of one patient
    <root>/training_data/<stem>.wav          audio (or .flac with the same stem)
    <root>/training_data/<stem>.tsv          S1/systole/S2/diastole segmentation
    <root>/training_data/<stem>.hea          WFDB header

The recordings folder may also be called ``recordings/`` (as in ``../shared/data``).

Reference
---------
J. H. Oliveira et al. "The CirCor DigiScope Dataset: From Murmur Detection to Murmur
Classification." IEEE J. Biomed. Health Inform. 26(6):2524-2535, 2022.
doi:10.1109/JBHI.2021.3137048. Data: doi:10.13026/tshs-mw03 (ODC-By 1.0).
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .base import Record

__all__ = ["read", "read_tsv", "read_patient_txt", "NAME", "STATES", "RECORDING_DIRS"]

logger = logging.getLogger(__name__)

NAME = "circor2022"
#: Names the recordings folder may have: the official one first.
RECORDING_DIRS = ("training_data", "recordings")
#: Segmentation states of the ``.tsv`` files.
STATES = {0: "unannotated", 1: "S1", 2: "systole", 3: "S2", 4: "diastole"}
AUDIO_EXTENSIONS = (".wav", ".flac")

_REQUIRED_COLUMNS = ("Patient ID", "Murmur", "Murmur locations", "Outcome", "Additional ID")


def _missing(value: str | None) -> bool:
    return value is None or value.strip() in ("", "nan", "NaN")


def _snake(column: str) -> str:
    return column.strip().rstrip(":").strip().lower().replace(" ", "_")


def _convert(key: str, value: str) -> Any:
    """Turn a ``training_data.csv`` cell into a Python value (``nan`` -> None)."""
    if _missing(value):
        return None
    value = value.strip()
    if key in ("height", "weight"):
        try:
            return float(value)
        except ValueError:
            return value
    if key == "pregnancy_status":
        return {"True": True, "False": False}.get(value, value)
    if key in ("murmur_locations", "recording_locations"):
        return [v for v in value.split("+") if v]
    return value


def read_tsv(path: str | Path, *, strict: bool = False) -> list[tuple[float, float, int]]:
    """Read one CirCor segmentation file.

    Parameters
    ----------
    path : str or Path
        A ``<stem>.tsv`` file: lines ``start_s<TAB>end_s<TAB>state``, no header.
    strict : bool
        If True a malformed file raises :class:`DatasetError`; otherwise it is logged and
        treated as unsegmented (``[]``). The official data has one such file,
        ``50782_MV_1.tsv`` (a single row ``0 0 28``).

    Returns
    -------
    list of (start_s, end_s, state)
        Times in seconds, state 0 unannotated, 1 S1, 2 systole, 3 S2, 4 diastole,
        in file order. Zero-length rows (``end_s == start_s``, present in a few official
        files) and the small gaps (up to ~25 ms) and overlaps (under 1 ms) between
        consecutive rows of some files are kept as written.

    Raises
    ------
    DatasetError
        The file does not exist, or (with ``strict``) is malformed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: segmentation file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read segmentation file ({exc})") from None
    rows: list[tuple[float, float, int]] = []
    problem = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3:
            problem = f"line {lineno} has {len(fields)} fields, expected 3"
            break
        try:
            start, end, state_f = float(fields[0]), float(fields[1]), float(fields[2])
        except ValueError:
            problem = f"line {lineno} is not numeric: {line!r}"
            break
        if not (math.isfinite(start) and math.isfinite(end)) or state_f not in STATES:
            problem = f"line {lineno} has invalid state {fields[2]!r} or times"
            break
        if end < start:
            problem = f"line {lineno} ends at {end} s, before its start {start} s"
            break
        if rows and start < rows[-1][0]:
            problem = f"line {lineno} starts before the previous segment"
            break
        rows.append((start, end, int(state_f)))
    if problem is None and not rows:
        problem = "no segments"
    if problem is not None:
        if strict:
            raise DatasetError(f"{path}: malformed segmentation ({problem})")
        logger.info("%s: malformed segmentation (%s); treated as unsegmented", path, problem)
        return []
    return rows


def read_patient_txt(path: str | Path) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    """Parse a ``<patient>.txt`` description.

    Returns
    -------
    patient_id : str
    recordings : list of (location, stem)
        In file order; the stem is taken from the ``.wav`` column.
    fields : dict
        The ``#Key: value`` lines (key without ``#``, value as written).

    Raises
    ------
    DatasetError
        The file is missing or its first lines are not ``<patient> <n> <fs>`` followed by
        ``n`` recording lines.
    """
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise DatasetError(f"{path.parent}: patient description {path.name} is missing") from None
    lines = [ln for ln in lines if ln]
    head = lines[0].split() if lines else []
    if len(head) < 2 or not head[1].isdigit():
        raise DatasetError(f"{path}: first line should be '<patient> <n recordings> <fs>'")
    patient, n = head[0], int(head[1])
    recordings: list[tuple[str, str]] = []
    for ln in lines[1:1 + n]:
        parts = ln.split()
        if ln.startswith("#") or len(parts) < 3:
            raise DatasetError(
                f"{path}: expected {n} recording lines '<loc> <hea> <wav> <tsv>', got {ln!r}")
        recordings.append((parts[0], Path(parts[2]).stem))
    if len(recordings) != n:
        raise DatasetError(f"{path}: header announces {n} recordings, found {len(recordings)}")
    fields: dict[str, str] = {}
    for ln in lines[1 + n:]:
        if ln.startswith("#") and ":" in ln:
            key, _, value = ln[1:].partition(":")
            fields[key.strip()] = value.strip()
    return patient, recordings, fields


def _recordings_dir(root: Path) -> Path:
    for name in RECORDING_DIRS:
        if (root / name).is_dir():
            return root / name
    raise DatasetError(
        f"{root}: no recordings folder (expected one of {', '.join(RECORDING_DIRS)}/)")


def _audio_path(folder: Path, stem: str) -> Path | None:
    for ext in AUDIO_EXTENSIONS:
        candidate = folder / f"{stem}{ext}"
        if candidate.is_file():
            return candidate
    return None


def _groups(pairs: list[tuple[str, str | None]]) -> dict[str, str]:
    """Map every patient id to the smallest id of its ``Additional ID`` component."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def key(x: str) -> tuple[int, int | str]:
        return (0, int(x)) if x.isdigit() else (1, x)

    for pid, extra in pairs:
        a = find(pid)
        if extra is not None:
            b = find(extra)
            if a != b:
                lo, hi = sorted((a, b), key=key)
                parent[hi] = lo
    return {pid: find(pid) for pid, _ in pairs}


def read(root: str | Path) -> list[Record]:
    """Read the CirCor DigiScope corpus (PhysioNet Challenge 2022 training set).

    Parameters
    ----------
    root : str or Path
        Folder holding ``training_data.csv`` and the recordings folder
        (``training_data/`` or ``recordings/``).

    Returns
    -------
    list of Record
        One per recording, patients in ``training_data.csv`` order, recordings in the
        order of each patient's ``.txt``. ``label`` is the patient's murmur
        (``Present``/``Absent``/``Unknown``); ``group`` is the smallest patient id among
        the patient and its ``Additional ID`` (the same child); ``annotation_path`` is the
        ``.tsv``, or None when it is missing or malformed. ``labels`` holds every
        ``training_data.csv`` column in snake case (``nan`` -> None; ``murmur_locations``
        and ``recording_locations`` as lists), plus ``patient_id``, ``additional_id``,
        ``location``, ``murmur_at_location`` (this recording's site is among the
        murmur locations), ``segmentation`` (``valid``/``malformed``/``missing``).

    Raises
    ------
    DatasetError
        ``training_data.csv``, the recordings folder, a patient ``.txt`` or an audio file
        is missing, or a file is malformed.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: CirCor 2022 folder not found")
    table = root / "training_data.csv"
    if not table.is_file():
        raise DatasetError(f"{root}: training_data.csv is missing")
    folder = _recordings_dir(root)
    with table.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        missing_cols = [c for c in _REQUIRED_COLUMNS if c not in columns]
        if missing_cols:
            raise DatasetError(f"{table}: missing columns {', '.join(missing_cols)}")
        rows = list(reader)
    if not rows:
        raise DatasetError(f"{table}: no patients")

    patients = []
    for row in rows:
        pid = row["Patient ID"].strip()
        extra = None if _missing(row["Additional ID"]) else row["Additional ID"].strip()
        patients.append((pid, extra))
    groups = _groups(patients)

    records: list[Record] = []
    for row, (pid, extra) in zip(rows, patients):
        base: dict[str, Any] = {_snake(c): _convert(_snake(c), row[c]) for c in columns}
        base.pop("patient_id", None)
        base["patient_id"] = pid
        base["additional_id"] = extra
        murmur_locations = base.get("murmur_locations") or []
        txt_pid, recordings, _ = read_patient_txt(folder / f"{pid}.txt")
        if txt_pid != pid:
            raise DatasetError(f"{folder / (pid + '.txt')}: describes patient {txt_pid}, not {pid}")
        for location, stem in recordings:
            audio = _audio_path(folder, stem)
            if audio is None:
                raise DatasetError(f"{folder}: audio of recording {stem} is missing "
                                   f"(expected {stem}.wav or {stem}.flac)")
            tsv = folder / f"{stem}.tsv"
            if not tsv.is_file():
                status, annotation = "missing", None
            elif read_tsv(tsv):
                status, annotation = "valid", tsv
            else:
                status, annotation = "malformed", None
            labels = {k: (list(v) if isinstance(v, list) else v) for k, v in base.items()}
            labels.update(location=location,
                          murmur_at_location=location in murmur_locations,
                          segmentation=status)
            records.append(Record(id=stem, corpus=NAME, audio_path=audio, group=groups[pid],
                                  label=base.get("murmur"), labels=labels,
                                  annotation_path=annotation))
    return records
