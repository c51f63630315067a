"""Fitting a site calibration on labelled recordings (:func:`fit`).

Training-free: the shipped model is unchanged; only a map from its raw score (and, for
``adapt``, the recording's spectral profile) to a calibrated probability and a threshold
are fitted. The threshold aims at the balanced accuracy (the mean of sensitivity and
specificity: PhysioNet 2016's MAcc): for ``threshold`` and ``isotonic`` the value that
maximises it on the labelled recordings; for the logistic maps (``platt``, ``adapt``),
whose probabilities are fitted to the labelled share of the finding, that share (calling
the finding when its likelihood ratio is at least 1; tuning it in-sample instead was worse
leave-one-database-out, ``docs/results/generalisation.md``).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Sequence

import numpy as np
from sklearn.isotonic import IsotonicRegression

from .. import bundle
from .._version import __version__
from ..classification.tasks import LABELS
from ..errors import ParameterError
from .model import METHODS, POSITIVE, Calibration, logit

__all__ = ["fit", "best_threshold", "balanced_accuracy", "logistic_regression",
           "stratified_draw", "ADAPT_L2", "MIN_PER_CLASS"]

#: L2 penalty of the ``adapt`` profile weights (on the summed log-loss; standardised inputs).
ADAPT_L2 = 10.0
#: Fewest labelled recordings of each class (finding / not) a fit accepts.
MIN_PER_CLASS = 2


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean of sensitivity and specificity of boolean ``pred`` against boolean ``y``."""
    y, pred = np.asarray(y, bool), np.asarray(pred, bool)
    return 0.5 * (float(pred[y].mean()) + float((~pred[~y]).mean()))


def stratified_draw(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` indices into boolean ``y`` [shape=(n,)] drawn without replacement, stratified
    by class (the positive share of ``y``, rounded) with at least :data:`MIN_PER_CLASS`
    of each class: the labelled recordings of one simulated site calibration
    (``scripts/calibration_*.py``)."""
    pos, neg = np.flatnonzero(y), np.flatnonzero(~np.asarray(y, bool))
    kp = min(max(MIN_PER_CLASS, int(round(k * len(pos) / len(y)))), k - MIN_PER_CLASS)
    return np.concatenate([rng.choice(pos, kp, replace=False),
                           rng.choice(neg, k - kp, replace=False)])


def best_threshold(score: np.ndarray, y: np.ndarray) -> float:
    """The threshold on ``score`` [shape=(n,)] maximising the balanced accuracy of
    ``score >= t`` against boolean ``y``: the median of the best midpoints between
    consecutive distinct scores (ends: just outside the range)."""
    s = np.unique(np.asarray(score, np.float64))
    cand = np.concatenate([[s[0] - 1e-6], (s[1:] + s[:-1]) / 2, [s[-1] + 1e-6]])
    ba = np.array([balanced_accuracy(y, score >= t) for t in cand])
    best = cand[ba >= ba.max() - 1e-12]
    return float(best[len(best) // 2])


def logistic_regression(x: np.ndarray, y: np.ndarray, l2: np.ndarray | float = 0.0,
                        n_iter: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method.

    Parameters
    ----------
    x : np.ndarray [shape=(n, d)]
    y : np.ndarray [shape=(n,)], bool
    l2 : float or np.ndarray [shape=(d,)]
        Penalty ``l2 * w**2 / 2`` per weight (the intercept is not penalised), added to
        the summed log-loss.

    Returns
    -------
    coef : np.ndarray [shape=(d,)]
    intercept : float
    """
    xa = np.column_stack([x, np.ones(len(x))])
    pen = np.append(np.broadcast_to(np.asarray(l2, np.float64), (x.shape[1],)), 1e-6)
    w = np.zeros(xa.shape[1])
    t = np.asarray(y, np.float64)
    for _ in range(n_iter):
        p = 1.0 / (1.0 + np.exp(-np.clip(xa @ w, -50, 50)))
        g = xa.T @ (p - t) + pen * w
        h = (xa * (p * (1 - p))[:, None]).T @ xa + np.diag(pen)
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def _params(method: str, raw: np.ndarray, y: np.ndarray, prof: np.ndarray | None
            ) -> dict[str, Any]:
    if method == "threshold":
        return {}
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(raw, y.astype(np.float64))
        return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    if method == "platt":
        coef, b = logistic_regression(logit(raw)[:, None], y, 1e-3)
        return {"coef": coef.tolist(), "intercept": b}
    assert prof is not None
    mean, scale = prof.mean(axis=0), prof.std(axis=0) + 1e-6
    x = np.column_stack([logit(raw), (prof - mean) / scale])
    l2 = np.full(x.shape[1], ADAPT_L2)
    l2[0] = 1e-3
    coef, b = logistic_regression(x, y, l2)
    return {"coef": coef.tolist(), "intercept": b, "mean": mean.tolist(),
            "scale": scale.tolist()}


def fit(task: str, raw_scores: Sequence[float], labels: Sequence[str], *,
        method: str = "platt", profiles: np.ndarray | None = None,
        input_scale: Sequence[float] | None = None,
        provenance: dict[str, Any] | None = None) -> Calibration:
    """Fit a site calibration of ``task`` on labelled recordings.

    Parameters
    ----------
    task : {"abnormal", "murmur"}
    raw_scores : sequence of float [shape=(n,)]
        The shipped model's decision score of each recording (``P(abnormal)``,
        ``P(Present)``).
    labels : sequence of str [shape=(n,)]
        Each recording's class (:data:`~heartsound.classification.tasks.LABELS`);
        murmur ``Unknown`` recordings are left out (the calibration is of Present vs
        Absent).
    method : str
        One of :data:`~.model.METHODS`.
    profiles : np.ndarray [shape=(n, d)], optional
        Spectral profiles (:func:`heartsound.classification.ood.profile`); needed by
        ``adapt``.
    input_scale : sequence of float, optional
        Per-band factors the model's input was scaled by before ``raw_scores`` were
        computed (:mod:`.bands`); stored so the calibration is applied to the scores of
        inputs scaled the same way.
    provenance : dict, optional
        Extra provenance (e.g. the labels file).

    Returns
    -------
    Calibration

    Raises
    ------
    ParameterError
        Unsupported task or method, mismatched lengths, an unknown label, or fewer than
        :data:`MIN_PER_CLASS` recordings of either class.
    """
    if task not in POSITIVE:
        raise ParameterError(f"calibration supports tasks {', '.join(POSITIVE)}, not {task!r}")
    if method not in METHODS:
        raise ParameterError(f"unknown calibration method {method!r}; valid: "
                             f"{', '.join(METHODS)}")
    raw = np.asarray(raw_scores, np.float64)
    lab = np.asarray(labels, str)
    if raw.shape != lab.shape or raw.ndim != 1:
        raise ParameterError(f"{len(raw)} scores but {len(lab)} labels")
    bad = sorted(set(lab) - set(LABELS[task]))
    if bad:
        raise ParameterError(f"labels {bad} are not classes of {task} ({', '.join(LABELS[task])})")
    keep = lab != "Unknown"
    raw, lab = raw[keep], lab[keep]
    prof = None if profiles is None else np.asarray(profiles, np.float64)[keep]
    if method == "adapt" and prof is None:
        raise ParameterError("the 'adapt' method needs the recordings' profiles")
    y = lab == POSITIVE[task]
    counts = {POSITIVE[task]: int(y.sum()), "other": int((~y).sum())}
    if min(counts.values()) < MIN_PER_CLASS:
        raise ParameterError(f"calibration needs at least {MIN_PER_CLASS} labelled "
                             f"recordings of each class; got {counts}")
    params = _params(method, raw, y, prof)
    if method in ("platt", "adapt"):  # P(finding) >= its share: likelihood ratio >= 1
        thr = float(y.mean())
    else:
        thr = best_threshold(Calibration(task, method, 0.5, params).calibrated(raw), y)
    prov = {"model_sha256": bundle.REGISTRY[task].sha256,
            "n_per_class": {str(c): int((lab == c).sum()) for c in sorted(set(lab))},
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "heartsound_version": __version__, "method": method, **(provenance or {})}
    scale = None if input_scale is None else tuple(float(v) for v in input_scale)
    return Calibration(task, method, thr, params, prov, input_scale=scale)
