"""The three classification tasks: labels, recording- and patient-level targets, and the
rules that combine a patient's recordings into one decision.

Shared by training (:mod:`heartsound.training.classifier`), inference and evaluation, so
a target is defined once.

* ``abnormal``: ``normal`` / ``abnormal`` per recording. PhysioNet 2016 labels; CirCor
  murmur ``Present`` recordings at a murmur location count as abnormal, ``Absent`` ones as
  normal (``Unknown`` and Present-patient recordings at murmur-free sites are left out);
  PASCAL 2011 ``murmur`` as abnormal and ``normal`` as normal (evaluation only).
* ``murmur``: ``Present`` / ``Unknown`` / ``Absent`` per CirCor patient. A recording's
  target is ``Present`` when its site is among the patient's murmur locations, ``Absent``
  otherwise (also for murmur-free sites of Present patients), ``Unknown`` for Unknown
  patients. A patient is Present when any recording's P(Present) reaches ``t_present``;
  otherwise Unknown when the mean P(Unknown) reaches ``t_unknown``; otherwise Absent.
* ``severity``: ``normal`` (murmur Absent) / ``mild`` (systolic grade I/VI) /
  ``moderate_severe`` (II/VI, III/VI) per CirCor patient; Unknown patients and Present
  patients without a systolic grade are left out. Recording targets use only the murmur
  sites of Present patients. A patient's murmur score is the largest
  ``1 - P(normal)`` over its recordings; below ``t_murmur`` the patient is normal,
  otherwise mild vs moderate_severe is decided on that recording by
  ``log P(moderate_severe) - log P(mild) >= bias``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ParameterError

__all__ = ["TASKS", "LABELS", "check_task", "recording_target", "patient_target",
           "aggregate_patient", "DEFAULT_RULES", "patient_groups"]

#: Class labels of each task, in model output order.
LABELS: dict[str, tuple[str, ...]] = {
    "abnormal": ("normal", "abnormal"),
    "murmur": ("Present", "Unknown", "Absent"),
    "severity": ("normal", "mild", "moderate_severe"),
}
TASKS: tuple[str, ...] = tuple(LABELS)

#: Default aggregation rules (the shipped bundles carry tuned values).
DEFAULT_RULES: dict[str, dict[str, float]] = {
    "abnormal": {"threshold": 0.5},
    "murmur": {"t_present": 0.5, "t_unknown": 0.5},
    "severity": {"t_murmur": 0.5, "bias": 0.0},
}

_GRADE = {"I/VI": "mild", "II/VI": "moderate_severe", "III/VI": "moderate_severe"}


def check_task(task: str) -> str:
    """Return ``task`` or raise :class:`ParameterError` listing the valid names."""
    if task not in LABELS:
        raise ParameterError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    return task


def patient_target(task: str, record: Any) -> str | None:
    """The per-patient (PhysioNet/PASCAL: per-recording) target of ``record``, or None when
    the record has no target for ``task``."""
    check_task(task)
    corpus, lab = record.corpus, record.label
    if task == "abnormal":
        if corpus == "physionet2016":
            return lab if lab in ("normal", "abnormal") else None
        if corpus == "pascal2011":
            return {"normal": "normal", "murmur": "abnormal"}.get(lab)
        if corpus == "circor2022":
            return {"Present": "abnormal", "Absent": "normal"}.get(lab)
        return None
    if corpus != "circor2022":
        return None
    if task == "murmur":
        return lab if lab in LABELS["murmur"] else None
    # severity
    if lab == "Absent":
        return "normal"
    if lab == "Present":
        return _GRADE.get(record.labels.get("systolic_murmur_grading") or "")
    return None


def patient_groups(records: Sequence[Any]) -> dict[str, list[int]]:
    """Indices of ``records`` per patient, in first-seen order: CirCor recordings by
    ``labels["patient_id"]``, every other record on its own (by ``id``)."""
    out: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        pid = r.labels.get("patient_id", r.id) if r.corpus == "circor2022" else r.id
        out.setdefault(str(pid), []).append(i)
    return out


def recording_target(task: str, record: Any) -> str | None:
    """The training target of one recording (see the module docstring), or None."""
    pt = patient_target(task, record)
    if pt is None or record.corpus != "circor2022":
        return pt
    at_site = bool(record.labels.get("murmur_at_location"))
    if task == "murmur":
        if pt == "Present":
            return "Present" if at_site else "Absent"
        return pt
    if task == "abnormal":
        if pt == "abnormal" and not at_site:
            return None
        return pt
    # severity
    if pt != "normal" and not at_site:
        return None
    return pt


def aggregate_patient(task: str, probs: np.ndarray, rules: dict[str, float] | None = None
                      ) -> tuple[str, np.ndarray]:
    """Combine the class probabilities of one patient's recordings into one decision.

    Parameters
    ----------
    task : str
    probs : np.ndarray [shape=(n_recordings, n_classes)]
        Recording-level probabilities in :data:`LABELS` order.
    rules : dict, optional
        Thresholds (keys as in :data:`DEFAULT_RULES`).

    Returns
    -------
    label : str
    patient_probs : np.ndarray [shape=(n_classes,)]
        A patient-level probability vector consistent with ``label``'s rule (murmur: max
        P(Present), mean P(Unknown), rest Absent; severity: the most murmur-like
        recording's probabilities; abnormal: the mean).
    """
    check_task(task)
    p = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    r = dict(DEFAULT_RULES[task])
    r.update(rules or {})
    labels = LABELS[task]
    if task == "abnormal":
        pp = p.mean(axis=0)
        return labels[int(pp[1] >= r["threshold"])], pp
    if task == "murmur":
        pres = float(p[:, 0].max())
        unk = float(p[:, 1].mean())
        pp = np.array([pres, min(unk, 1 - pres), max(0.0, 1 - pres - min(unk, 1 - pres))])
        if pres >= r["t_present"]:
            return "Present", pp
        if unk >= r["t_unknown"]:
            return "Unknown", pp
        return "Absent", pp
    k = int(np.argmax(1 - p[:, 0]))
    pp = p[k]
    if 1 - pp[0] < r["t_murmur"]:
        return "normal", pp
    ratio = np.log(pp[2] + 1e-9) - np.log(pp[1] + 1e-9)
    return ("moderate_severe" if ratio >= r["bias"] else "mild"), pp
