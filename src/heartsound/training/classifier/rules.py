"""Patient decisions and the tuning of their aggregation thresholds.

A patient's recordings are combined by
:func:`~heartsound.classification.tasks.aggregate_patient` with thresholds ("rules");
:func:`tune_rules` picks them on inner-validation recordings by the task score: the
PhysioNet 2022 murmur weighted accuracy for ``murmur``, UAR (= MAcc for two classes)
otherwise (:func:`task_score`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...classification.tasks import (DEFAULT_RULES, LABELS, aggregate_patient, patient_groups,
                                     patient_target)
from ...errors import ParameterError
from ...evaluation import metrics
from .config import RULE_TUNINGS

__all__ = ["patient_decisions", "task_score", "tune_rules"]


def patient_decisions(task: str, records: Sequence[Any], probs: np.ndarray,
                      rules: dict[str, float]) -> tuple[list[str], list[str], list[str]]:
    """Per patient (CirCor) or per recording (other corpora): ids, true labels and
    decisions from the recording probabilities ``probs [n_records, n_classes]``. Records
    with no patient target for ``task`` are skipped."""
    ids, truth, pred = [], [], []
    for pid, idx in patient_groups(records).items():
        t = patient_target(task, records[idx[0]])
        if t is None:
            continue
        lab, _ = aggregate_patient(task, probs[idx], rules)
        ids.append(pid)
        truth.append(t)
        pred.append(lab)
    return ids, truth, pred


def task_score(task: str, truth: Sequence[str], pred: Sequence[str]) -> float:
    """Murmur weighted accuracy for ``murmur``, UAR otherwise (NaN without patients)."""
    if task == "murmur":
        return float(metrics.murmur_weighted_accuracy(truth, pred))
    return float(metrics.uar(truth, pred, LABELS[task]))


def _candidates(task: str) -> list[dict[str, float]]:
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    if task == "abnormal":
        return [{"threshold": float(t)} for t in grid]
    if task == "murmur":
        return [{"t_present": float(a), "t_unknown": float(b)} for a in grid
                for b in np.append(grid, 1.01)]
    return [{"t_murmur": float(a), "bias": float(b)} for a in grid
            for b in np.arange(-2.0, 2.01, 0.25)]


def _weighted_scores(task: str, correct: np.ndarray, t: np.ndarray, counts: np.ndarray
                     ) -> np.ndarray:
    """Task score of every candidate at once when patient ``i`` counts ``counts[i]`` times.

    The vectorised form of :func:`task_score` for a bootstrap resample: ``correct``
    ``[n_candidates, n_patients]`` marks right decisions, ``t`` holds the true class
    indices. Kept vectorised (rather than one metrics call per candidate and resample)
    because ``bagged`` tuning scores up to 340 candidates on 201 resamples.
    """
    labels = LABELS[task]
    if task == "murmur":
        w = np.array([metrics.MURMUR_WEIGHTS[lab] for lab in labels])[t] * counts
        return correct @ w / max(w.sum(), 1e-12)
    recs = [correct[:, t == k] @ counts[t == k] / counts[t == k].sum()
            for k in range(len(labels)) if counts[t == k].sum() > 0]
    return np.mean(recs, axis=0)


def tune_rules(task: str, records: Sequence[Any], probs: np.ndarray, method: str = "grid",
               *, n_boot: int = 201, seed: int = 0) -> dict[str, float]:
    """Choose the aggregation thresholds on (inner validation) records by the task score.

    Parameters
    ----------
    task : str
    records : sequence of Record
    probs : np.ndarray [shape=(n_records, n_classes)]
        Recording-level probabilities of ``records``.
    method : {"grid", "bagged"}
        ``grid``: the best candidate of a 0.05-step grid on the records (first of ties).
        ``bagged``: bootstrap aggregation of that choice (Breiman, "Bagging predictors",
        Machine Learning 24, 1996): ``n_boot`` class-stratified bootstrap resamples of the
        patients, the best candidates of each (median of tied ones), and the median of
        each threshold over the resamples. Less sensitive to the few patients of a small
        validation split that decide between neighbouring thresholds.
    n_boot, seed : int
        Resamples and seed of ``bagged``.

    Returns
    -------
    dict
        Rules for :func:`~heartsound.classification.tasks.aggregate_patient`.
    """
    if method not in RULE_TUNINGS:
        raise ParameterError(f"unknown rule tuning {method!r}; valid: "
                             f"{', '.join(RULE_TUNINGS)}")
    cands = _candidates(task)
    labels = LABELS[task]
    preds = []
    truth: list[str] = []
    for c in cands:
        _, truth, pred = patient_decisions(task, records, probs, c)
        if not truth:
            return dict(DEFAULT_RULES[task])
        preds.append([labels.index(x) for x in pred])
    t = np.array([labels.index(x) for x in truth])
    correct = (np.array(preds) == t[None, :]).astype(float)
    if method == "grid":
        s = _weighted_scores(task, correct, t, np.ones(len(t)))
        return dict(cands[int(np.argmax(s > s.max() - 1e-9))])
    return _bagged(cands, task, correct, t, n_boot, seed)


def _bagged(cands: list[dict[str, float]], task: str, correct: np.ndarray, t: np.ndarray,
            n_boot: int, seed: int) -> dict[str, float]:
    """Median over class-stratified bootstrap resamples of the median best candidate."""
    keys = list(cands[0])
    values = np.array([[c[k] for k in keys] for c in cands])
    rng = np.random.default_rng(seed)
    chosen = []
    for _ in range(n_boot):
        counts = np.zeros(len(t))
        for k in np.unique(t):
            ik = np.flatnonzero(t == k)
            np.add.at(counts, rng.choice(ik, len(ik)), 1.0)
        s = _weighted_scores(task, correct, t, counts)
        chosen.append(np.median(values[s > s.max() - 1e-9], axis=0))
    med = np.median(np.array(chosen), axis=0)
    return {k: float(np.round(v, 3)) for k, v in zip(keys, med)}
