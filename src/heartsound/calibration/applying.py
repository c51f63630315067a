"""Applying site calibrations to classification results (what ``analyze --calibration``
does).

:func:`apply` replaces a result's probabilities and decision by the calibrated ones: the
finding's probability is the calibrated score, the other classes share the rest in the
model's proportions, the label compares the calibrated score with the calibration's
threshold (murmur below it: ``Unknown`` or ``Absent`` by the model's own ``t_unknown``
rule), and the interval and stability are those of the calibrated score over the same
bootstrap resamples of the crops as :func:`~heartsound.classification.decision.decide`.
Attention and occlusion evidence stay the model's own. :func:`apply_all` applies one
calibration per task and, when murmur was calibrated, makes severity agree with it again.
A calibration with per-band input normalisation (``input_scale``, :mod:`.bands`) first
runs the model again on the recording's scaled input (:func:`rescore`); its map applies
to that result (whose attention is then of the scaled input; the occlusion evidence, if
any, stays that of the original input).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import bundle
from ..classification.decision import (N_BOOT, SCORE_NAMES, Decision, _cmp,
                                       softmax)
from ..classification.frontend import FrontendConfig, features
from ..classification.inference import (ClassificationResult, classify, cohere_severity,
                                        load_bundle)
from ..classification.ood import profile
from ..classification.tasks import aggregate_patient
from ..errors import ParameterError
from ..frontend import Frontend
from ..quality_silence import gaps_of
from .bands import scale_input
from .model import POSITIVE, Calibration, load

__all__ = ["apply", "apply_all", "as_calibrations", "rescore"]

_SEED = 0  # the seed of decision.decide's resamples


def _label(task: str, q: float, thr: float, raw_p: np.ndarray) -> str:
    if q >= thr:
        return POSITIVE[task]
    if task == "abnormal":
        return "normal"
    rules = {**load_bundle(task)["rules"], "t_present": 2.0}  # Present ruled out
    return aggregate_patient(task, raw_p[None], rules)[0]


def _spread(cal: Calibration, crop_p: np.ndarray, k: int, prof: np.ndarray | None,
            positive: bool) -> tuple[tuple[float, float], float]:
    """Interval and stability of the calibrated score over resamples of the crops."""
    lp = np.log(np.clip(np.asarray(crop_p, np.float64), 1e-30, None))
    n = lp.shape[0]
    idx = np.random.default_rng(_SEED).integers(0, n, size=(N_BOOT, n))
    raw = softmax(lp[idx].mean(axis=1))[:, k]
    q = cal.calibrated(raw, None if prof is None else np.repeat(prof[None], N_BOOT, 0))
    lo, hi = np.percentile(q, [2.5, 97.5])
    return (float(lo), float(hi)), float(np.mean((q >= cal.threshold) == positive))


def apply(cal: Calibration, result: ClassificationResult,
          prof: np.ndarray | None = None) -> tuple[ClassificationResult, dict[str, Any]]:
    """``result`` with calibrated probabilities, label and decision.

    Parameters
    ----------
    cal : Calibration
    result : ClassificationResult
        Of the shipped model of ``cal.task``.
    prof : np.ndarray [shape=(n_dims,)], optional
        The recording's spectral profile (needed when ``cal.needs_profile``).

    Returns
    -------
    ClassificationResult
    dict
        What to report: :meth:`Calibration.summary` and the model's ``raw_score``.

    Raises
    ------
    ParameterError, ModelError
        The calibration is for another task or model file.
    """
    task = result.task
    cal.check(task, bundle.REGISTRY[task].sha256)
    labels = list(result.probabilities)
    raw_p = np.array([result.probabilities[c] for c in labels], np.float64)
    k = labels.index(POSITIVE[task])
    q = float(cal.calibrated(raw_p[k:k + 1], None if prof is None else prof[None])[0])
    rest = np.delete(raw_p, k)
    rest = rest * (1 - q) / max(rest.sum(), 1e-12)
    probs = dict(zip([c for c in labels if c != labels[k]], rest.tolist()))
    probs[labels[k]] = q
    label = _label(task, q, cal.threshold, raw_p)
    interval, stab = None, None
    if result.crop_probabilities is not None:
        interval, stab = _spread(cal, result.crop_probabilities, k, prof,
                                 label == POSITIVE[task])
    name = f"site-calibrated {SCORE_NAMES[task]}"
    where = cal.summary()["file"] or "calibration"
    dec = Decision(label=label, score_name=name, score=q, threshold=cal.threshold,
                   rule=f"{name} {_cmp(q, cal.threshold)} ({where}) -> {label}",
                   interval=interval, stability=stab,
                   n_crops=0 if result.crop_probabilities is None
                   else len(result.crop_probabilities), caveat=cal.caveat())
    out = replace(result, label=label, decision=dec,
                  probabilities={c: float(probs[c]) for c in labels})
    return out, {**cal.summary(), "raw_score": float(raw_p[k])}


def as_calibrations(calibration: Any) -> dict[str, Calibration]:
    """Calibrations by task from None, a :class:`Calibration`, a path, or a sequence of
    them, each checked against the shipped model of its task; two for one task raise
    :class:`ParameterError`, one for another model file :class:`ModelError`."""
    if calibration is None:
        return {}
    items: Sequence[Any] = (calibration if isinstance(calibration, (list, tuple))
                            else [calibration])
    out: dict[str, Calibration] = {}
    for c in items:
        cal = c if isinstance(c, Calibration) else load(Path(c))
        cal.check(cal.task, bundle.REGISTRY[cal.task].sha256)
        if cal.task in out:
            raise ParameterError(f"two calibrations for task {cal.task!r}: "
                                 f"{out[cal.task].source} and {cal.source}")
        out[cal.task] = cal
    return out


def rescore(cal: Calibration, result: ClassificationResult, y: np.ndarray, sr: int,
            frontend: Frontend | None = None, segmentation: Any = None
            ) -> ClassificationResult:
    """``result`` of the model run again on the recording's input scaled by
    ``cal.input_scale`` (``result`` itself when it has none); the occlusion evidence is
    kept from ``result``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        The recording's samples at ``sr`` Hz.
    frontend, segmentation : optional
        The recording's front end and segmentation (for the phase channels), as the
        analysis computed them; default: computed again.
    """
    if cal.input_scale is None:
        return result
    cfg = FrontendConfig(**load_bundle(cal.task)["frontend"])
    if len(cal.input_scale) != cfg.n_mels:
        raise ParameterError(f"{cal.source or 'calibration'}: input_scale has "
                             f"{len(cal.input_scale)} bands, the {cal.task} model "
                             f"{cfg.n_mels}")
    gaps = gaps_of(y, sr, frontend)
    x = features(y, sr, cfg, segmentation=segmentation, frontend=frontend, no_signal=gaps)
    new = classify(y, sr, task=cal.task, features=scale_input(x, np.array(cal.input_scale)),
                   no_signal=gaps)
    return replace(new, evidence_by_phase=result.evidence_by_phase)


def apply_all(calibrations: Mapping[str, Calibration], results: dict[str, Any],
              y: np.ndarray, sr: int, frontend: Frontend | None = None,
              segmentation: Any = None
              ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Apply each task's calibration to ``results`` (task -> ClassificationResult, or
    the exception that made it unavailable, left as it is); a calibration with
    ``input_scale`` to the model's result on the scaled input (:func:`rescore`, with the
    recording's ``frontend`` and ``segmentation`` when given).

    Returns
    -------
    results : dict
        Calibrated results; severity made to agree with a calibrated murmur.
    info : dict
        Task -> what :func:`apply` reports.

    Raises
    ------
    ParameterError
        A calibration for a task that is not analysed.
    """
    missing = sorted(set(calibrations) - set(results))
    if missing:
        raise ParameterError(f"calibration for task(s) {missing} that are not analysed")
    out, info = dict(results), {}
    prof = None
    for task, cal in calibrations.items():
        res = out[task]
        if isinstance(res, Exception):
            continue
        if cal.needs_profile and prof is None:
            prof = profile(y, sr, frontend=frontend)
        res = rescore(cal, res, y, sr, frontend, segmentation)
        out[task], info[task] = apply(cal, res, prof if cal.needs_profile else None)
    sev = out.get("severity")
    if "murmur" in info and sev is not None and not isinstance(sev, Exception):
        out["severity"] = cohere_severity(sev, out["murmur"])
    return out, info
