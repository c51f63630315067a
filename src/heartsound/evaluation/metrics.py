"""Evaluation metrics: heart-sound detection, state accuracy and classification scores.

Detection (S1/S2 events matched within a tolerance, pooled over recordings) and state
accuracy live in :mod:`heartsound.evaluation.detection` and are re-exported here, so
``heartsound.metrics`` is the one place to look.

Classification scores follow the challenges and are computed with scikit-learn:
:func:`uar` (unweighted average recall = ``balanced_accuracy_score``, ComParE 2018),
:func:`macc` (PhysioNet/CinC 2016, from ``recall_score`` of each class),
:func:`murmur_weighted_accuracy` (PhysioNet 2022, ``accuracy_score`` weighted by
:data:`MURMUR_WEIGHTS`), :func:`outcome_cost` (PhysioNet 2022), :func:`roc_auc`
(``roc_auc_score``). Labels may be any hashable values (strings, ints); they are
encoded as class indices before scikit-learn sees them, so mixed types are fine.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from ..errors import ParameterError
from .detection import (SOUNDS, SoundTime, annotated_spans, as_pairs, event_scores,
                        events_from_rows, match_events, pool_scores, reference_span,
                        score_against_rows, state_accuracy)

__all__ = [
    "SOUNDS",
    "SoundTime",
    "as_pairs",
    "match_events",
    "event_scores",
    "pool_scores",
    "reference_span",
    "events_from_rows",
    "annotated_spans",
    "score_against_rows",
    "state_accuracy",
    "accuracy",
    "confusion_matrix",
    "uar",
    "sensitivity_specificity",
    "macc",
    "roc_auc",
    "roc_curve",
    "murmur_weighted_accuracy",
    "MURMUR_WEIGHTS",
    "outcome_cost",
]

#: PhysioNet 2022 murmur class weights (the challenge's weighted accuracy).
MURMUR_WEIGHTS: dict[str, float] = {"Present": 5.0, "Unknown": 3.0, "Absent": 1.0}


def _encode(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None
            ) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Labels as indices into ``labels``.

    Returns
    -------
    t, p : np.ndarray [shape=(n,), dtype=int64]
    labels : list
        ``labels``, or every label of ``y_true`` and ``y_pred`` sorted by ``str``.

    Raises
    ------
    ParameterError
        Different lengths, repeated ``labels``, or a label not in ``labels``.
    """
    t = np.asarray(y_true, dtype=object).ravel()
    p = np.asarray(y_pred, dtype=object).ravel()
    if t.shape != p.shape:
        raise ParameterError(f"y_true has {t.size} labels, y_pred {p.size}")
    if labels is None:
        labels = sorted(set(t.tolist()) | set(p.tolist()), key=str)
    index = {lab: k for k, lab in enumerate(labels)}
    if len(index) != len(labels):
        raise ParameterError(f"labels must be distinct, got {list(labels)!r}")
    try:
        return (np.array([index[v] for v in t.tolist()], dtype=np.int64),
                np.array([index[v] for v in p.tolist()], dtype=np.int64), list(labels))
    except KeyError as exc:
        raise ParameterError(f"label {exc.args[0]!r} not in labels {list(labels)!r}") from None


def _binary_labels(y_true: Any, y_pred: Any, positive: Any) -> tuple[np.ndarray, np.ndarray]:
    """``y == positive`` of both label sequences, as bool arrays."""
    t = np.asarray(y_true, dtype=object).ravel()
    p = np.asarray(y_pred, dtype=object).ravel()
    if t.shape != p.shape:
        raise ParameterError(f"y_true has {t.size} labels, y_pred {p.size}")
    return (np.array([v == positive for v in t.tolist()], dtype=bool),
            np.array([v == positive for v in p.tolist()], dtype=bool))


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Share of labels predicted exactly (``accuracy_score``); NaN for empty input."""
    t, p, _ = _encode(y_true, y_pred)
    return float(skm.accuracy_score(t, p)) if t.size else math.nan


def confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence[Any]) -> np.ndarray:
    """Counts ``C[i, j]`` of samples with true label ``labels[i]`` predicted ``labels[j]``
    (``sklearn.metrics.confusion_matrix``).

    Returns
    -------
    np.ndarray [shape=(n_labels, n_labels), dtype=int64]
        Rows are true labels, columns predictions (scikit-learn's convention). Labels not
        in ``labels`` raise :class:`ParameterError` (scikit-learn would drop them).
    """
    t, p, labels = _encode(y_true, y_pred, labels)
    if not t.size:
        return np.zeros((len(labels), len(labels)), dtype=np.int64)
    return skm.confusion_matrix(t, p, labels=np.arange(len(labels))).astype(np.int64)


def uar(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None) -> float:
    """Unweighted average recall: the mean over classes of the per-class recall
    (``sklearn.metrics.balanced_accuracy_score``).

    Classes are ``labels`` (default: every label in ``y_true`` or ``y_pred``); a class
    with no true sample has no recall and is left out of the mean. NaN for empty input.

    Examples
    --------
    >>> uar(["a", "a", "b"], ["a", "b", "b"])
    0.75
    """
    t, p, _ = _encode(y_true, y_pred, labels)
    if not t.size:
        return math.nan
    with warnings.catch_warnings():  # predicted classes absent from y_true: left out
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(skm.balanced_accuracy_score(t, p))


def sensitivity_specificity(y_true: Any, y_pred: Any, positive: Any = "abnormal"
                            ) -> tuple[float, float]:
    """Sensitivity TP/(TP+FN) and specificity TN/(TN+FP): the recall
    (``recall_score``) of the positive and of the negative class; every label other
    than ``positive`` is negative. NaN when a class is absent from ``y_true``."""
    t, p = _binary_labels(y_true, y_pred, positive)
    if not t.size:
        return math.nan, math.nan
    se, sp = skm.recall_score(t, p, labels=[True, False], average=None,
                              zero_division=np.nan)
    return float(se), float(sp)


def macc(y_true: Any, y_pred: Any, positive: Any = "abnormal") -> float:
    """PhysioNet/CinC 2016 score without quality weighting: MAcc = (Se + Sp) / 2."""
    se, sp = sensitivity_specificity(y_true, y_pred, positive)
    return 0.5 * (se + sp)


def _binary_scores(y_true: Any, scores: Any, positive: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=object).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if t.shape != s.shape:
        raise ParameterError(f"y_true has {t.size} labels, scores {s.size}")
    if not np.all(np.isfinite(s)):
        raise ParameterError("scores contain NaN or infinite values")
    yb = np.array([bool(v) for v in t]) if positive is None else (t == positive)
    yb = yb.astype(bool)
    if yb.all() or not yb.any():
        raise ParameterError("ROC needs both positive and negative samples in y_true")
    return yb, s


def roc_auc(y_true_binary: Any, scores: Any, *, positive: Any = None) -> float:
    """Area under the ROC curve (``sklearn.metrics.roc_auc_score``).

    ``y_true_binary`` is truthy for positives, or labels compared with ``positive``;
    higher ``scores`` mean more likely positive.
    """
    yb, s = _binary_scores(y_true_binary, scores, positive)
    return float(skm.roc_auc_score(yb, s))


def roc_curve(y_true_binary: Any, scores: Any, *, positive: Any = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds
    (``sklearn.metrics.roc_curve``), each ``np.ndarray [shape=(n_thresholds,)]``."""
    yb, s = _binary_scores(y_true_binary, scores, positive)
    fpr, tpr, thr = skm.roc_curve(yb, s)
    return fpr, tpr, thr


def murmur_weighted_accuracy(y_true: Any, y_pred: Any) -> float:
    """PhysioNet 2022 murmur score (per patient, classes Present / Unknown / Absent).

    ``sum_c w_c * m_cc / sum_c w_c * n_c`` with the weights :data:`MURMUR_WEIGHTS`
    (5 Present, 3 Unknown, 1 Absent), ``m_cc`` the correctly classified patients of true
    class ``c`` and ``n_c`` all patients of true class ``c``: ``accuracy_score`` with each
    patient weighted by its true class. NaN for empty input.
    """
    classes = list(MURMUR_WEIGHTS)
    try:
        t, p, _ = _encode(y_true, y_pred, classes)
    except ParameterError as exc:
        if "not in labels" not in str(exc):
            raise
        raise ParameterError(f"murmur {exc}; valid: {', '.join(classes)}") from None
    if not t.size:
        return math.nan
    w = np.array([MURMUR_WEIGHTS[c] for c in classes])[t]
    return float(skm.accuracy_score(t, p, sample_weight=w))


def outcome_cost(y_true: Any, y_pred: Any, positive: Any = "Abnormal") -> float:
    """PhysioNet 2022 clinical-outcome cost per patient (lower is better).

    With ``n`` patients, ``TP``, ``FP``, ``FN`` counted for ``positive`` (referral):
    algorithm cost ``10 n``; expert screening of the ``TP + FP`` referred patients
    ``(25 + 397 r - 1718 r^2 + 11296 r^4) n`` with ``r = (TP + FP) / n``; treatment
    ``10000 TP``; missed cases ``50000 FN``; the total divided by ``n``.
    (Reyna et al. 2023, "Heart murmur detection from phonocardiogram recordings: the
    George B. Moody PhysioNet Challenge 2022", PLOS Digit Health.)
    """
    t, p = _binary_labels(y_true, y_pred, positive)
    n = t.size
    if n == 0:
        return math.nan
    _, fp, fn, tp = (int(v) for v in
                     skm.confusion_matrix(t, p, labels=[False, True]).ravel())
    r = (tp + fp) / n
    expert = (25 + 397 * r - 1718 * r ** 2 + 11296 * r ** 4) * n
    return float((10 * n + expert + 10000 * tp + 50000 * fn) / n)
