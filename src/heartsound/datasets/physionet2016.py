"""Reader for the PhysioNet/Computing in Cardiology Challenge 2016 training set.

Official layout (``training.zip`` of physionet.org/content/challenge-2016/1.0.0/)::

    <root>/training-a/ ... training-f/
        REFERENCE.csv          <record>,<label>   (1 = abnormal, -1 = normal)
        <record>.wav           audio (or .flac with the same stem)
        <record>.hea           WFDB header

``<root>`` may also be the folder that contains ``training/`` with the subsets inside.
Records listed in ``REFERENCE.csv`` whose audio file is absent are skipped (in
``../shared/data`` part of ``training-e`` is left out for size).

Reference
---------
C. Liu et al. "An open access database for the evaluation of heart sound algorithms."
Physiol. Meas. 37(12):2181-2213, 2016. doi:10.1088/0967-3334/37/12/2181 (ODC-By 1.0).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from ..errors import DatasetError, ParameterError
from .base import Record

__all__ = ["read", "NAME", "SUBSETS", "DATABASES"]

NAME = "physionet2016"
#: Subset folders of the training set.
SUBSETS = tuple(f"training-{c}" for c in "abcdef")
#: The database behind each subset (Liu et al. 2016, Table 1).
DATABASES = {
    "a": "MITHSDB",
    "b": "AADHSDB",
    "c": "AUTHHSDB",
    "d": "UHAHSDB",
    "e": "DLUTHSDB",
    "f": "SUAHSDB",
}
_LABELS = {"1": "abnormal", "-1": "normal"}
AUDIO_EXTENSIONS = (".wav", ".flac")


def _subset_names(subsets: Iterable[str] | str | None) -> list[str]:
    if subsets is None:
        return list(SUBSETS)
    if isinstance(subsets, str):
        subsets = [subsets]
    names = []
    for s in subsets:
        name = s if str(s).startswith("training-") else f"training-{s}"
        if name not in SUBSETS:
            raise ParameterError(f"unknown PhysioNet 2016 subset {s!r}; valid: "
                                 f"{', '.join(SUBSETS)} (or the letters a-f)")
        names.append(name)
    return names


def _base(root: Path) -> Path:
    if any((root / s).is_dir() for s in SUBSETS):
        return root
    if any((root / "training" / s).is_dir() for s in SUBSETS):
        return root / "training"
    return root


def read(root: str | Path, *, subsets: Iterable[str] | str | None = None) -> list[Record]:
    """Read the PhysioNet/CinC 2016 training recordings that are present.

    Parameters
    ----------
    root : str or Path
        Folder with the ``training-a`` ... ``training-f`` subfolders.
    subsets : iterable of str, optional
        Subsets to read, as ``"training-a"`` or ``"a"``; default all six.

    Returns
    -------
    list of Record
        In subset order, then ``REFERENCE.csv`` order. ``label`` is ``abnormal`` or
        ``normal``; ``group`` is the record id; ``labels`` has ``database`` (the letter
        ``a`` ... ``f``), ``subset`` (``training-a``), ``source_database`` (e.g.
        ``MITHSDB``) and ``label_code`` (1 or -1). ``annotation_path`` is None (this
        corpus has no segmentation files).

    Raises
    ------
    ParameterError
        Unknown subset name.
    DatasetError
        A subset folder or its ``REFERENCE.csv`` is missing, a row is malformed, or a
        subset has none of its audio files.
    """
    root = Path(root)
    names = _subset_names(subsets)
    if not root.is_dir():
        raise DatasetError(f"{root}: PhysioNet 2016 folder not found")
    base = _base(root)
    records: list[Record] = []
    for subset in names:
        folder = base / subset
        if not folder.is_dir():
            raise DatasetError(f"{base}: subset folder {subset}/ is missing")
        reference = folder / "REFERENCE.csv"
        if not reference.is_file():
            raise DatasetError(f"{folder}: REFERENCE.csv is missing")
        letter = subset[-1]
        found = 0
        with reference.open(newline="", encoding="utf-8") as fh:
            for lineno, row in enumerate(csv.reader(fh), start=1):
                if not row or not "".join(row).strip():
                    continue
                if len(row) < 2 or row[1].strip() not in _LABELS:
                    raise DatasetError(f"{reference}: line {lineno} should be "
                                       f"'<record>,<1 or -1>', got {','.join(row)!r}")
                record_id, code = row[0].strip(), row[1].strip()
                audio = next((folder / f"{record_id}{ext}" for ext in AUDIO_EXTENSIONS
                              if (folder / f"{record_id}{ext}").is_file()), None)
                if audio is None:
                    continue
                found += 1
                records.append(Record(
                    id=record_id, corpus=NAME, audio_path=audio, group=record_id,
                    label=_LABELS[code],
                    labels={"database": letter, "subset": subset,
                            "source_database": DATABASES[letter], "label_code": int(code)},
                ))
        if found == 0:
            raise DatasetError(f"{folder}: none of the recordings listed in REFERENCE.csv "
                               f"has an audio file (<record>.wav or <record>.flac)")
    return records
