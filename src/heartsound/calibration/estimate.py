"""What a site calibration can be expected to do at its site (:func:`cross_validated`).

A calibration fitted on a site's labelled recordings is scored on those same recordings
only by cross-validation: the labelled recordings are split into stratified folds, the
calibration is fitted on all folds but one and decides the recordings of the one left out.
The balanced accuracy of those out-of-fold decisions is an honest estimate of the
calibrated model at the site (fitted on slightly fewer recordings than the final one);
the shipped model's own decision on the same recordings is the baseline, and a paired
bootstrap over the recordings gives both an interval and the interval of their
difference, so a user sees whether calibrating helps at all at their site.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from ..classification.inference import load_bundle
from ..classification.tasks import DEFAULT_RULES
from .fitting import MIN_PER_CLASS, balanced_accuracy, fit
from .model import POSITIVE

__all__ = ["cross_validated", "own_threshold", "MAX_FOLDS", "N_BOOT"]

#: Folds of the estimate (fewer when a class has fewer recordings).
MAX_FOLDS = 5
#: Bootstrap resamples of the recordings for the intervals.
N_BOOT = 2000


def _rates(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {"balanced_accuracy": balanced_accuracy(y, pred),
            "sensitivity": float(pred[y].mean()), "specificity": float((~pred[~y]).mean())}


def _boot(y: np.ndarray, cal: np.ndarray, own: np.ndarray, seed: int
          ) -> dict[str, list[float]]:
    """2.5-97.5 % bootstrap intervals (recordings resampled within each class, paired) of
    the balanced accuracy of ``cal``, of ``own`` and of their difference."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    ba = np.empty((N_BOOT, 2))
    for b in range(N_BOOT):
        i = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        ba[b] = balanced_accuracy(y[i], cal[i]), balanced_accuracy(y[i], own[i])

    def iv(v: np.ndarray) -> list[float]:
        return [float(x) for x in np.percentile(v, [2.5, 97.5])]
    return {"calibrated": iv(ba[:, 0]), "uncalibrated": iv(ba[:, 1]),
            "difference": iv(ba[:, 0] - ba[:, 1])}


def own_threshold(task: str) -> float:
    """The shipped model's threshold on its decision score (``P(abnormal)``,
    ``P(Present)``): the finding is called at or above it."""
    rules = {**DEFAULT_RULES[task], **load_bundle(task)["rules"]}
    return float(rules[{"abnormal": "threshold", "murmur": "t_present"}[task]])


def cross_validated(task: str, raw_scores: Any, labels: Any, threshold: float, *,
                    method: str, profiles: np.ndarray | None = None,
                    own_scores: Any = None, seed: int = 0) -> dict[str, Any]:
    """Cross-validated balanced accuracy of a calibration against the model's own
    decision, on the labelled recordings of one site.

    Parameters
    ----------
    task : {"abnormal", "murmur"}
    raw_scores : array-like [shape=(n,)]
        The shipped model's decision score of each recording (as :func:`fit` takes it).
    labels : array-like of str [shape=(n,)]
        Each recording's class; murmur ``Unknown`` recordings are left out, as by :func:`fit`.
    threshold : float
        The shipped model's threshold on the score (its finding: score at or above it).
    method : str
        Calibration method (:data:`~.model.METHODS`).
    profiles : np.ndarray [shape=(n, d)], optional
        Spectral profiles, needed by ``adapt``.
    own_scores : array-like [shape=(n,)], optional
        The scores the model's own decision reads, when they differ from ``raw_scores``
        (a calibration with per-band input normalisation is fitted on the scores of the
        normalised input; the uncalibrated model runs on the input as it is).
    seed : int
        Seed of the folds and of the bootstrap.

    Returns
    -------
    dict
        ``available`` False with a ``reason`` when a class has fewer than
        ``MIN_PER_CLASS + 1`` recordings; else ``folds``, ``n``, ``calibrated`` and
        ``uncalibrated`` (``balanced_accuracy``, ``sensitivity``, ``specificity``) and
        ``interval`` (``calibrated``, ``uncalibrated``, ``difference``: 2.5-97.5 %).
    """
    raw, lab = np.asarray(raw_scores, np.float64), np.asarray(labels, str)
    own_raw = raw if own_scores is None else np.asarray(own_scores, np.float64)
    keep = lab != "Unknown"
    raw, lab, own_raw = raw[keep], lab[keep], own_raw[keep]
    prof = None if profiles is None else np.asarray(profiles, np.float64)[keep]
    y = lab == POSITIVE[task]
    fewest = int(min(y.sum(), (~y).sum()))
    if fewest < MIN_PER_CLASS + 1:
        return {"available": False,
                "reason": f"needs at least {MIN_PER_CLASS + 1} labelled recordings of each "
                          f"class, the fewest has {fewest}"}
    k = min(MAX_FOLDS, fewest)
    pred = np.zeros(len(y), bool)
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(raw, y):
        cal = fit(task, raw[tr], lab[tr], method=method,
                  profiles=None if prof is None else prof[tr])
        score = cal.calibrated(raw[te], None if prof is None else prof[te])
        pred[te] = score >= cal.threshold
    own = own_raw >= threshold
    return {"available": True, "folds": k, "n": int(len(y)), "calibrated": _rates(y, pred),
            "uncalibrated": _rates(y, own), "interval": _boot(y, pred, own, seed)}
