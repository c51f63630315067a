"""Scores of one ablation configuration from its cross-validation folds: per-patient
decisions and probabilities, UAR (pooled and per fold), recall, confusion, one-vs-rest
AUC, and the paired bootstrap of a UAR difference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...classification.tasks import LABELS, aggregate_patient, patient_groups, patient_target
from ...evaluation import metrics

__all__ = ["patient_table", "summarize", "paired_bootstrap"]


def patient_table(task: str, records: Sequence[Any], folds: Sequence[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """Per fold and patient: true label, decision and patient-level probabilities, from
    the recording probabilities and the fold's tuned rules (the same grouping as
    :func:`~heartsound.training.classifier.patient_decisions`)."""
    by_key = {f"{r.corpus}/{r.id}": r for r in records}
    rows = []
    for f in folds:
        te = [by_key[k] for k in f["test_ids"]]
        probs = np.asarray(f["probs"])
        for pid, idx in patient_groups(te).items():
            t = patient_target(task, te[idx[0]])
            if t is None:
                continue
            lab, pp = aggregate_patient(task, probs[idx], f["rules"])
            rows.append({"fold": int(f["fold"]), "patient": pid, "truth": t, "pred": lab,
                         "probs": [float(x) for x in pp]})
    return rows


def summarize(task: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Scores of one configuration from its :func:`patient_table` rows.

    Returns
    -------
    dict
        ``n``, ``uar_pooled``, ``uar_folds`` (list), ``uar_mean``, ``uar_sd``, ``recall``
        (per class), ``confusion`` (``labels``, ``matrix``; rows true, columns
        predicted), ``auc`` (one-vs-rest per class, None when a class is absent), and
        ``auc_macro``.
    """
    labels = list(LABELS[task])
    truth = [r["truth"] for r in rows]
    pred = [r["pred"] for r in rows]
    P = np.array([r["probs"] for r in rows], dtype=np.float64)
    cm = metrics.confusion_matrix(truth, pred, labels)
    support = cm.sum(axis=1)
    recall = {lab: (float(cm[k, k] / support[k]) if support[k] else None)
              for k, lab in enumerate(labels)}
    per_fold = []
    for f in sorted({r["fold"] for r in rows}):
        t = [r["truth"] for r in rows if r["fold"] == f]
        p = [r["pred"] for r in rows if r["fold"] == f]
        per_fold.append(float(metrics.uar(t, p, labels)))
    auc: dict[str, float | None] = {}
    for k, lab in enumerate(labels):
        y = np.array([t == lab for t in truth])
        auc[lab] = (float(metrics.roc_auc(y, P[:, k])) if 0 < y.sum() < len(y) else None)
    valid = [a for a in auc.values() if a is not None]
    return {"n": len(rows), "uar_pooled": float(metrics.uar(truth, pred, labels)),
            "uar_folds": per_fold, "uar_mean": float(np.mean(per_fold)),
            "uar_sd": float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else 0.0,
            "recall": recall, "confusion": {"labels": labels, "matrix": cm.tolist()},
            "auc": auc, "auc_macro": float(np.mean(valid)) if valid else None}


def paired_bootstrap(task: str, rows_a: Sequence[dict[str, Any]],
                     rows_b: Sequence[dict[str, Any]], *, n: int = 2000, seed: int = 0
                     ) -> tuple[float, float, float]:
    """Pooled UAR of ``rows_b`` minus that of ``rows_a`` (the same patients) and its 95%
    percentile interval from a paired bootstrap over patients (``n`` resamples)."""
    labels = list(LABELS[task])
    a = {(r["fold"], r["patient"]): r for r in rows_a}
    bmap = {(r["fold"], r["patient"]): r for r in rows_b}
    keys = [k for k in bmap if k in a]
    t = np.array([a[k]["truth"] for k in keys], dtype=object)
    pa = np.array([a[k]["pred"] for k in keys], dtype=object)
    pb = np.array([bmap[k]["pred"] for k in keys], dtype=object)

    def diff(idx: np.ndarray) -> float:
        return (metrics.uar(t[idx], pb[idx], labels)
                - metrics.uar(t[idx], pa[idx], labels))

    d = diff(np.arange(len(t)))
    rng = np.random.default_rng(seed)
    ds = [diff(rng.integers(0, len(t), len(t))) for _ in range(n)]
    lo, hi = np.percentile(ds, [2.5, 97.5])
    return float(d), float(lo), float(hi)
