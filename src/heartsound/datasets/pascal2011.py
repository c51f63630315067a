"""Reader for the PASCAL Classifying Heart Sounds Challenge 2011 (sets A and B).

Two layouts are understood:

* ``../shared/data/pascal2011``: ``labels.csv`` (``file,set,label,sublabel,pascal_id,...``)
  with ``setA/`` and ``setB/``;
* the Kaggle "Heartbeat Sounds" release: ``set_a.csv`` / ``set_b.csv``
  (``dataset,fname,label,sublabel``) with ``set_a/`` and ``set_b/``. Only labelled rows
  are read. ``set_b.csv`` names files that do not exist as written:
  ``Btraining_<label>_<rest>`` is the file ``<label>__<rest>`` and
  ``Btraining_<label>_Btraining_noisy<label>_<rest>`` is ``<label>_noisy<label>_<rest>``.

Either way audio may be ``.wav`` or ``.flac`` with the same stem, and both ``setA`` and
``set_a`` folder spellings are accepted.

The challenge's S1/S2 annotations of the set A normal recordings
(``Atraining_normal_seg.csv``) are read by :func:`read_seg`.

Reference
---------
P. Bentley, G. Nordehn, M. Coimbra, S. Mannor. "The PASCAL Classifying Heart Sounds
Challenge 2011 (CHSC2011) Results." http://www.peterjbentley.com/heartchallenge/
(Kaggle release: CC0).
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from ..errors import DatasetError, ParameterError
from .base import Record

__all__ = ["read", "read_seg", "kaggle_stem", "NAME", "SETS", "SEG_FILE", "SEG_SR"]

logger = logging.getLogger(__name__)

NAME = "pascal2011"
SETS = ("A", "B")
#: The original S1/S2 annotation file of the set A normal recordings.
SEG_FILE = "Atraining_normal_seg.csv"
#: Its positions are sample indices at this rate (set A audio is 44.1 kHz).
SEG_SR = 44100
AUDIO_EXTENSIONS = (".wav", ".flac")
_SET_DIRS = {"A": ("setA", "set_a"), "B": ("setB", "set_b")}
_NOISY = re.compile(r"^Btraining_([a-z]+)_Btraining_noisy\1_(.+)$")
_PLAIN = re.compile(r"^Btraining_([a-z]+)_(.+)$")
_PATIENT_B = re.compile(r"^(\d+)_\d+_")


def kaggle_stem(fname: str) -> str:
    """Map a Kaggle ``set_a.csv``/``set_b.csv`` ``fname`` to the stem of its audio file.

    Examples
    --------
    >>> kaggle_stem("set_b/Btraining_normal_Btraining_noisynormal_101_1305030823364_B.wav")
    'normal_noisynormal_101_1305030823364_B'
    >>> kaggle_stem("set_b/Btraining_murmur_112_1306243000964_A.wav")
    'murmur__112_1306243000964_A'
    >>> kaggle_stem("set_a/normal__201102081321.wav")
    'normal__201102081321'
    """
    stem = Path(fname.strip()).stem
    m = _NOISY.match(stem)
    if m:
        return f"{m.group(1)}_noisy{m.group(1)}_{m.group(2)}"
    m = _PLAIN.match(stem)
    if m:
        return f"{m.group(1)}__{m.group(2)}"
    return stem


def _pascal_id(stem: str) -> str:
    if "__" in stem:
        return stem.split("__", 1)[1]
    m = re.match(r"^[a-z]+_noisy[a-z]+_(.+)$", stem)
    return m.group(1) if m else stem


def _group(set_name: str, stem: str, pascal_id: str) -> str:
    # Set B ids are <patient>_<timestamp>_<site>: recordings of one patient share a group.
    if set_name == "B":
        m = _PATIENT_B.match(pascal_id)
        if m:
            return f"B_{m.group(1)}"
    return stem


def _set_dir(root: Path, set_name: str) -> Path | None:
    for name in _SET_DIRS[set_name]:
        if (root / name).is_dir():
            return root / name
    return None


def _audio(folder: Path, stem: str) -> Path | None:
    for ext in AUDIO_EXTENSIONS:
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    return None


def _sets(sets: Iterable[str] | str) -> list[str]:
    if isinstance(sets, str):
        sets = [sets]
    out = []
    for s in sets:
        name = str(s).upper()
        if name not in SETS:
            raise ParameterError(f"unknown PASCAL 2011 set {s!r}; valid: {', '.join(SETS)}")
        out.append(name)
    return out


def read_seg(root: str | Path, *, sr: int = SEG_SR) -> dict[str, list[tuple[str, float]]]:
    """Read the S1/S2 annotations of the set A normal recordings.

    Parses ``Atraining_normal_seg.csv`` (classic-Mac CR line endings): a header of an
    empty cell then ``S1,S2`` repeated, then one row per recording, ``<pascal_id>.aif``
    followed by sample positions, blank where there is none. Each value is labelled by its
    header column, not by its order (two rows start with an S2). A value under an
    unlabelled header cell (the 39th value of ``201105011626``) is dropped.

    Parameters
    ----------
    root : str or Path
        The PASCAL folder holding ``Atraining_normal_seg.csv``.
    sr : int
        Rate of the sample positions, 44100 Hz (set A).

    Returns
    -------
    dict
        ``normal__<pascal_id>`` (the set A record id) -> list of ``(label, time_s)``,
        label ``"S1"`` or ``"S2"``, time in seconds, sorted by time. In the official file:
        21 recordings, 194 S1 and 195 S2 (one unlabelled value dropped). Note that
        ``201105011626`` keeps its one out-of-order pair as labelled (sorted by time, it
        reads S2, S2, S1, S1 around 3.5 s).

    Raises
    ------
    DatasetError
        The file is missing, has no S1/S2 header, or a cell is not an integer.
    """
    path = Path(root) / SEG_FILE
    if not path.is_file():
        raise DatasetError(f"{Path(root)}: {SEG_FILE} is missing")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [row for row in csv.reader(fh) if any(c.strip() for c in row)]
    if not rows or not any(c.strip() in ("S1", "S2") for c in rows[0]):
        raise DatasetError(f"{path}: header row of S1/S2 column labels not found")
    header = [c.strip() for c in rows[0]]
    out: dict[str, list[tuple[str, float]]] = {}
    for row in rows[1:]:
        pascal_id = Path(row[0].strip()).stem
        events: list[tuple[str, float]] = []
        for col, cell in enumerate(row[1:], start=1):
            cell = cell.strip()
            if not cell:
                continue
            try:
                position = int(float(cell))
            except ValueError:
                raise DatasetError(f"{path}: row {pascal_id}, column {col}: "
                                   f"{cell!r} is not a sample index") from None
            label = header[col] if col < len(header) else ""
            if label not in ("S1", "S2"):
                logger.info("%s: row %s, column %d: value %s has no S1/S2 label; dropped",
                            path, pascal_id, col, cell)
                continue
            events.append((label, position / sr))
        events.sort(key=lambda e: e[1])
        out[f"normal__{pascal_id}"] = events
    return out


def _read_labels_csv(root: Path, path: Path, wanted: list[str]) -> list[Record]:
    records = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        required = {"file", "set", "label"}
        if not required <= set(reader.fieldnames or []):
            raise DatasetError(f"{path}: needs columns file, set, label; "
                               f"has {', '.join(reader.fieldnames or [])}")
        for row in reader:
            set_name = row["set"].strip().upper()
            if set_name not in wanted:
                continue
            rel = Path(row["file"].strip())
            folder = (root / rel).parent
            audio = _audio(folder, rel.stem)
            if audio is None:
                raise DatasetError(f"{folder}: audio file {rel.stem}.wav/.flac listed in "
                                   f"labels.csv is missing")
            pascal_id = (row.get("pascal_id") or "").strip() or _pascal_id(rel.stem)
            labels = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()
                      if k not in ("file",)}
            labels.update(set=set_name, pascal_id=pascal_id,
                          sublabel=(row.get("sublabel") or "").strip() or None)
            for key, kind in (("samplerate", int), ("n_samples", int), ("duration_s", float)):
                if labels.get(key):
                    try:
                        labels[key] = kind(labels[key])
                    except ValueError:
                        raise DatasetError(f"{path}: {key} of {rel} is not a number: "
                                           f"{labels[key]!r}") from None
            records.append(Record(id=rel.stem, corpus=NAME, audio_path=audio,
                                  group=_group(set_name, rel.stem, pascal_id),
                                  label=row["label"].strip(), labels=labels))
    return records


def _read_kaggle(root: Path, wanted: list[str]) -> list[Record]:
    records = []
    for set_name in wanted:
        table = root / f"set_{set_name.lower()}.csv"
        if not table.is_file():
            raise DatasetError(f"{root}: neither labels.csv nor {table.name} is present")
        folder = _set_dir(root, set_name)
        if folder is None:
            raise DatasetError(f"{root}: audio folder of set {set_name} is missing "
                               f"(expected {' or '.join(_SET_DIRS[set_name])}/)")
        n_missing = 0
        n_found = 0
        with table.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not {"fname", "label"} <= set(reader.fieldnames or []):
                raise DatasetError(f"{table}: needs columns fname, label")
            for row in reader:
                label = (row.get("label") or "").strip()
                if not label:
                    continue  # unlabelled challenge test file
                stem = kaggle_stem(row["fname"])
                audio = _audio(folder, stem)
                if audio is None:
                    n_missing += 1
                    continue
                n_found += 1
                pascal_id = _pascal_id(stem)
                sublabel = (row.get("sublabel") or "").strip() or None
                records.append(Record(
                    id=stem, corpus=NAME, audio_path=audio,
                    group=_group(set_name, stem, pascal_id), label=label,
                    labels={"set": set_name, "label": label, "sublabel": sublabel,
                            "pascal_id": pascal_id, "kaggle_fname": row["fname"].strip()}))
        if n_found == 0:
            raise DatasetError(f"{folder}: none of the labelled files of {table.name} "
                               f"is present (<stem>.wav or <stem>.flac)")
        if n_missing:
            logger.warning("%s: %d labelled files of %s are absent; skipped",
                           folder, n_missing, table.name)
    return records


def read(root: str | Path, *, sets: Iterable[str] | str = SETS) -> list[Record]:
    """Read the labelled PASCAL 2011 recordings of sets A and/or B.

    Parameters
    ----------
    root : str or Path
        Folder with ``labels.csv`` (or ``set_a.csv``/``set_b.csv``) and the set folders.
    sets : iterable of str
        ``"A"``, ``"B"`` or both (default).

    Returns
    -------
    list of Record
        ``id`` is the file stem (``normal__201102081321``); ``label`` is ``normal``,
        ``murmur``, ``extrahls``, ``artifact`` (set A) or ``normal``, ``murmur``,
        ``extrastole`` (set B); ``labels`` has ``set``, ``sublabel`` (None or
        ``noisynormal``/``noisymurmur``), ``pascal_id``. ``group`` is the stem for set A
        and ``B_<patient>`` for set B (the leading number of ``<patient>_<time>_<site>``,
        so all sites of one patient stay together). The set A recordings annotated in
        ``Atraining_normal_seg.csv`` have that file as ``annotation_path`` (read it with
        :func:`read_seg`) and ``labels["segmented"] = True``.

    Raises
    ------
    ParameterError
        Unknown set name.
    DatasetError
        No label table, a missing set folder, or a listed audio file missing.
    """
    root = Path(root)
    wanted = _sets(sets)
    if not root.is_dir():
        raise DatasetError(f"{root}: PASCAL 2011 folder not found")
    labels_csv = root / "labels.csv"
    if labels_csv.is_file():
        records = _read_labels_csv(root, labels_csv, wanted)
    else:
        records = _read_kaggle(root, wanted)
    seg_path = root / SEG_FILE
    if "A" in wanted and seg_path.is_file():
        annotated = set(read_seg(root))
        records = [
            Record(id=r.id, corpus=r.corpus, audio_path=r.audio_path, group=r.group,
                   label=r.label, labels={**r.labels, "segmented": True},
                   annotation_path=seg_path)
            if r.labels["set"] == "A" and r.id in annotated else r
            for r in records
        ]
    return records
