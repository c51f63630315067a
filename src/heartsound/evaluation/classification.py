"""Scoring classifiers: the shipped models on a labelled corpus, and cross-validation folds.

:func:`evaluate` runs :func:`~heartsound.classification.inference.classify` on every
recording with a target for the task, combines each patient's recordings
(:func:`~heartsound.classification.tasks.patient_groups`) with the bundle's rule, and
returns the scores :func:`scores` computes (all from :mod:`heartsound.evaluation.metrics`).
:func:`lodo_folds` and :func:`summarize_cv` are the leave-one-database-out folds and the
summary of a cross-validation run (``heartsound train classifier --cv/--lodo``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..classification.inference import _load, classify
from ..classification.tasks import (LABELS, aggregate_patient, check_task, patient_groups,
                                    patient_target)
from ..datasets import read
from ..datasets.splits import leave_one_group_out
from ..errors import ParameterError
from ..io import load
from . import metrics

__all__ = ["evaluate", "scores", "binary_auc", "lodo_folds", "summarize_cv", "HEADLINE"]

#: The headline score of each task (the challenge's metric).
HEADLINE: dict[str, str] = {"abnormal": "macc", "murmur": "weighted_accuracy",
                            "severity": "uar"}


def binary_auc(y: Sequence[bool], s: Sequence[float]) -> float | None:
    """ROC AUC (:func:`~heartsound.evaluation.metrics.roc_auc`), or None when only one
    class is present.

    Parameters
    ----------
    y : sequence of bool [shape=(n,)]
        True for positives.
    s : sequence of float [shape=(n,)]
        Scores, higher meaning more likely positive.
    """
    yb = np.asarray(y, dtype=bool)
    if yb.all() or not yb.any():
        return None
    return float(metrics.roc_auc(yb, np.asarray(s, dtype=np.float64)))


def scores(task: str, truth: Sequence[str], pred: Sequence[str],
           score: Sequence[float] | None = None) -> dict[str, Any]:
    """Task scores of patient/recording decisions.

    Parameters
    ----------
    task : str
    truth, pred : sequence of str [shape=(n,)]
        True and predicted labels (:data:`~heartsound.classification.tasks.LABELS` of
        ``task``).
    score : sequence of float [shape=(n,)], optional
        P(abnormal) for the ``abnormal`` task's AUC.

    Returns
    -------
    dict
        ``n``, ``uar``, ``accuracy``, ``confusion`` (``labels``, ``matrix``; rows true,
        columns predicted), and ``macc``, ``sensitivity``, ``specificity``, ``auc``
        (abnormal) or ``weighted_accuracy`` (murmur).
    """
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
        out.update(macc=float(metrics.macc(t, p, "abnormal")), sensitivity=float(se),
                   specificity=float(sp))
        if score is not None:
            out["auc"] = binary_auc([x == "abnormal" for x in t], score)
    if task == "murmur":
        out["weighted_accuracy"] = float(metrics.murmur_weighted_accuracy(t, p)) if t else None
    return out


def _probabilities(task: str, recs: Sequence[Any], labels: Sequence[str], *, threads: int,
                   model: str | None, progress: bool) -> np.ndarray:
    """Class probabilities of every recording, ``np.ndarray [shape=(n, n_classes)]``."""
    it: Any = recs
    if progress:
        from tqdm import tqdm

        it = tqdm(recs, desc=f"{task}")
    probs = []
    for r in it:
        rec = load(r.audio_path, min_duration_s=0.0)
        y = rec.y
        if len(y) < rec.sr:  # shorter than 1 s (a few PASCAL files): tile to 1 s
            y = np.tile(y, int(np.ceil(rec.sr / len(y))))[:rec.sr]
        res = classify(y, rec.sr, task=task, threads=threads, model=model)
        probs.append([res.probabilities[lab] for lab in labels])
    return np.array(probs)


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
        (per patient for CirCor, per recording otherwise; see
        :func:`~heartsound.classification.tasks.patient_id`).

    Raises
    ------
    ParameterError
        Unknown task/dataset, or no recording with a target for the task.
    """
    check_task(task)
    recs = [r for r in read(dataset, root, **read_kwargs) if patient_target(task, r) is not None]
    if not recs:
        raise ParameterError(f"{dataset} in {root} has no recordings with a {task!r} target")
    m = _load(task, threads, None if model is None else str(model))
    P = _probabilities(task, recs, m.labels, threads=threads, model=model,
                       progress=progress)
    truth, pred, sc = [], [], []
    for idx in patient_groups(recs).values():
        lab, pp = aggregate_patient(task, P[idx], m.meta.get("rules"))
        truth.append(patient_target(task, recs[idx[0]]))
        pred.append(lab)
        sc.append(float(pp[1]) if task == "abnormal" else float("nan"))
    out: dict[str, Any] = {"task": task, "dataset": dataset, "model": m.name}
    out.update(scores(task, truth, pred, sc if task == "abnormal" else None))
    return out


def lodo_folds(task: str, recs: Sequence[Any]) -> list[tuple[list[int], list[int]]]:
    """Leave-one-PhysioNet-database-out folds over the records that have a ``task`` target.

    One fold per PhysioNet 2016 database (``labels["database"]``, ``a`` ... ``f``, sorted):
    test on that database, train on the other five plus every non-PhysioNet record
    (:func:`~heartsound.datasets.splits.leave_one_group_out` with the non-PhysioNet
    records in a group that is never held out).

    Parameters
    ----------
    task : str
    recs : sequence of Record
        Records without a target for ``task`` are dropped first; indices refer to the
        remaining ones, in order.

    Returns
    -------
    list of (train_idx, test_idx)
        Lists of ints, ascending.

    Raises
    ------
    ParameterError
        No PhysioNet 2016 record with a target.
    """
    recs = [r for r in recs if patient_target(task, r) is not None]
    dbs = sorted({str(r.labels.get("database")) for r in recs if r.corpus == "physionet2016"})
    if not dbs:
        raise ParameterError("leave-one-database-out needs PhysioNet 2016 records")
    rest = "\0other"  # sorts before the database letters; never a fold
    groups = [str(r.labels.get("database")) if r.corpus == "physionet2016" else rest
              for r in recs]
    splits = leave_one_group_out(recs, groups)
    return [(splits[d][0].tolist(), splits[d][1].tolist()) for d in dbs]


def _fold_auc(fold: dict[str, Any]) -> float | None:
    """AUC of one ``abnormal`` fold's P(abnormal); None without probabilities for every
    decision or with one class only."""
    y = np.array([t == "abnormal" for t in fold["truth"]])
    s = np.asarray(fold["probs"])
    if s.ndim != 2 or len(s) != len(y):
        return None
    return binary_auc(y, s[:, 1])


def summarize_cv(task: str, recs: Sequence[Any], folds: Sequence[dict[str, Any]], *,
                 lodo: bool = False) -> dict[str, Any]:
    """Pooled and per-fold scores of a cross-validation run.

    Parameters
    ----------
    task : str
    recs : sequence of Record
        The records the run used (kept for the signature; the folds carry their ids).
    folds : sequence of dict
        :func:`heartsound.training.classifier.cross_validate` output: per fold ``fold``,
        ``truth``, ``pred``, ``probs`` and ``test_ids`` (``"<corpus>/<id>"``).
    lodo : bool
        Leave-one-database-out folds: each fold is tagged with its database letter.

    Returns
    -------
    dict
        ``task``, ``n``, ``pooled`` (:func:`scores` over all folds), ``per_fold``
        (:func:`scores` per fold, with ``fold``, ``auc`` for abnormal, ``database`` with
        ``lodo``), ``mean_<headline>`` (:data:`HEADLINE`) and, for abnormal, ``mean_auc``.
    """
    truth = [t for f in folds for t in f["truth"]]
    pred = [p for f in folds for p in f["pred"]]
    out: dict[str, Any] = {"task": task, "n": len(truth), "pooled": scores(task, truth, pred),
                           "per_fold": []}
    for f in folds:
        s = scores(task, f["truth"], f["pred"])
        if task == "abnormal":
            s["auc"] = _fold_auc(f)
        s["fold"] = f["fold"]
        if lodo:
            s["database"] = f["test_ids"][0].split("/")[1][0]
        out["per_fold"].append(s)
    key = HEADLINE[task]
    out[f"mean_{key}"] = float(sum(s[key] for s in out["per_fold"]) / len(folds))
    if task == "abnormal":
        aucs = [s["auc"] for s in out["per_fold"] if s["auc"] is not None]
        out["mean_auc"] = float(sum(aucs) / len(aucs)) if aucs else None
    return out
