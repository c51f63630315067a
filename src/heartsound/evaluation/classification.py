"""Scoring the shipped classifiers on a labelled corpus treated as test data.

:func:`evaluate` runs :func:`~heartsound.classification.inference.classify` on every
recording with a target for the task, combines CirCor recordings per patient with the
bundle's rule, and returns the scores :func:`scores` computes (all from
:mod:`heartsound.evaluation.metrics`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..classification.tasks import LABELS, aggregate_patient, check_task, patient_target

__all__ = ["evaluate", "scores", "binary_auc"]


def binary_auc(y: Sequence[bool], s: Sequence[float]) -> float | None:
    """ROC AUC, or None when only one class is present."""
    from .metrics import roc_auc

    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return None
    return float(roc_auc(y, np.asarray(s, dtype=np.float64)))


def scores(task: str, truth: Sequence[str], pred: Sequence[str],
           score: Sequence[float] | None = None) -> dict[str, Any]:
    """Task scores of patient/recording decisions.

    Parameters
    ----------
    task : str
    truth, pred : sequence of str
        True and predicted labels (:data:`~.tasks.LABELS` of ``task``).
    score : sequence of float, optional
        P(abnormal) for the ``abnormal`` task's AUC.

    Returns
    -------
    dict
        ``n``, ``uar``, ``accuracy``, ``confusion`` (``labels``, ``matrix``; rows true,
        columns predicted), and ``macc``, ``sensitivity``, ``specificity``, ``auc``
        (abnormal) or ``weighted_accuracy`` (murmur).
    """
    from . import metrics

    labels = list(LABELS[check_task(task)])
    t, p = list(truth), list(pred)
    out: dict[str, Any] = {
        "n": len(t),
        "uar": float(metrics.uar(t, p, labels)) if t else None,
        "accuracy": float(metrics.accuracy(t, p)) if t else None,
        "confusion": {"labels": labels,
                      "matrix": metrics.confusion_matrix(t, p, labels).tolist()},
    }
    if task == "abnormal":
        se, sp = metrics.sensitivity_specificity(t, p, "abnormal")
        out.update(macc=float(0.5 * (se + sp)), sensitivity=float(se), specificity=float(sp))
        if score is not None:
            out["auc"] = binary_auc([x == "abnormal" for x in t], score)
    if task == "murmur":
        out["weighted_accuracy"] = float(metrics.murmur_weighted_accuracy(t, p)) if t else None
    return out


def evaluate(task: str, dataset: str, root: str | Path, *, threads: int = 1,
             progress: bool = False, model: str | None = None,
             **read_kwargs: Any) -> dict[str, Any]:
    """Score the shipped ``task`` model on corpus ``dataset`` in ``root``.

    Parameters
    ----------
    task : {"abnormal", "murmur", "severity"}
    dataset : {"physionet2016", "circor2022", "pascal2011"}
    root : str or Path
        Corpus folder, treated entirely as test data. (The shipped models were trained on
        ``../shared/data``; scoring them on those same folders measures training fit, not
        generalisation: use held-out data, or the CV figures in the results.)
    model : str, optional
        ONNX file to score instead of the shipped bundle (see
        :func:`~heartsound.classification.inference.classify`).
    **read_kwargs
        Passed to the corpus reader (``sets=["A"]`` for PASCAL 2011).

    Returns
    -------
    dict
        ``task``, ``dataset``, ``model``, ``n`` and the :func:`scores` entries
        (per patient for CirCor, per recording otherwise).

    Raises
    ------
    ParameterError
        Unknown task/dataset, or no recording with a target for the task.
    """
    from ..datasets import read
    from ..errors import ParameterError
    from ..io import load
    from ..classification.inference import _load, classify

    check_task(task)
    recs = [r for r in read(dataset, root, **read_kwargs) if patient_target(task, r) is not None]
    if not recs:
        raise ParameterError(f"{dataset} in {root} has no recordings with a {task!r} target")
    m = _load(task, threads, None if model is None else str(model))
    probs = []
    it: Any = recs
    if progress:
        from tqdm import tqdm

        it = tqdm(recs, desc=f"{task} on {dataset}")
    for r in it:
        rec = load(r.audio_path, min_duration_s=0.0)
        y = rec.y
        if len(y) < rec.sr:  # shorter than 1 s (a few PASCAL files): tile to 1 s
            y = np.tile(y, int(np.ceil(rec.sr / len(y))))[:rec.sr]
        res = classify(y, rec.sr, task=task, threads=threads, model=model)
        probs.append([res.probabilities[lab] for lab in m.labels])
    P = np.array(probs)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(recs):
        pid = r.labels.get("patient_id", r.id) if r.corpus == "circor2022" else r.id
        groups.setdefault(str(pid), []).append(i)
    truth, pred, sc = [], [], []
    for idx in groups.values():
        lab, pp = aggregate_patient(task, P[idx], m.meta.get("rules"))
        truth.append(patient_target(task, recs[idx[0]]))
        pred.append(lab)
        sc.append(float(pp[1]) if task == "abnormal" else float("nan"))
    out: dict[str, Any] = {"task": task, "dataset": dataset, "model": m.name}
    out.update(scores(task, truth, pred, sc if task == "abnormal" else None))
    return out
