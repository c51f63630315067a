"""What every corpus reader yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Record"]


@dataclass(frozen=True)
class Record:
    """One recording of a corpus.

    Attributes
    ----------
    id : str
        The official stem (``a0001``, ``9979_AV``, ``normal__201102081321``).
    corpus : str
        ``physionet2016``, ``circor2022`` or ``pascal2011``.
    audio_path : Path
        The ``.wav`` or ``.flac`` file with that stem.
    group : str
        Patient / group id for grouped splits (CirCor: patient id merged with its
        ``Additional ID``; PhysioNet 2016: the record; PASCAL set A: the file, set B: the
        patient number in the file name, so one patient's sites stay together).
    label : str or None
        The corpus' primary label (PhysioNet: ``abnormal``/``normal``; CirCor: murmur
        ``Present``/``Absent``/``Unknown``; PASCAL: ``normal``/``murmur``/...).
    labels : dict
        Everything else the corpus says about the recording or its patient.
    annotation_path : Path or None
        Segmentation annotation (CirCor ``.tsv``) when present.
    """

    id: str
    corpus: str
    audio_path: Path
    group: str
    label: str | None = None
    labels: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    annotation_path: Path | None = None
