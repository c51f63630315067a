"""Heart-sound detection scores: S1/S2 events matched within a tolerance, and state accuracy.

An estimated S1 (S2) is a true positive when its time lies within ``±tolerance_s`` of a
reference S1 (S2) that no other estimate matched (one-to-one matching,
:func:`match_events`). Scores of several recordings are pooled by summing their counts
(:func:`pool_scores`), which is how the figures in ``docs/results`` are reported.

Events are ``(sound, time_s)`` pairs or anything
:func:`~heartsound.evaluation.annotations.as_pairs` turns into them (a segmentation's
events included); this module imports nothing from :mod:`heartsound.segmentation`.

The public names are re-exported by :mod:`heartsound.evaluation.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import ParameterError
from ..vocab import SOUNDS
from .annotations import (SoundTime, annotated_spans, as_pairs, events_from_rows,
                          rows_sorted, sound_rows)

__all__ = ["SOUNDS", "SoundTime", "as_pairs", "match_events", "event_scores", "pool_scores",
           "reference_span", "events_from_rows", "annotated_spans", "score_against_rows",
           "state_accuracy"]

#: Slack (s) added to the tolerance so that a boundary distance computed in floating point
#: (``1.06 - 1.0 = 0.06000000000000005``) still counts as inside.
_EPS_S = 1e-9


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


# --------------------------------------------------------------------------- matching


def match_events(ref_times: Any, est_times: Any, tolerance_s: float = 0.06
                 ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """One-to-one matching of event times within a tolerance.

    The matching is optimal: among all one-to-one pairings in which each pair is at most
    ``tolerance_s`` apart, it has the largest number of pairs and, among those, the
    smallest total ``|est - ref|``. It is found with the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``) on the cost matrix ``|est - ref|``, with
    pairs farther apart than the tolerance given a cost larger than any sum of admissible
    costs (so the assignment first maximises the number of admissible pairs). A greedy
    nearest-first matching can pair fewer events; this one cannot.

    Parameters
    ----------
    ref_times, est_times : array_like [shape=(n_ref,), (n_est,)]
        Event times in seconds (any order).
    tolerance_s : float
        Largest admissible ``|est - ref|`` in seconds, inclusive (a 1e-9 s slack absorbs
        floating-point error at the boundary).

    Returns
    -------
    matches : list of (i_ref, i_est)
        Index pairs into the inputs, sorted by ``i_ref``.
    unmatched_ref : list of int
        Reference indices without an estimate (false negatives).
    unmatched_est : list of int
        Estimate indices without a reference (false positives; this includes double
        detections of one reference).

    Raises
    ------
    ParameterError
        Negative or non-finite tolerance, non-finite times, or inputs that are not 1-D.

    Examples
    --------
    >>> match_events([1.0, 2.0], [1.03, 1.05, 2.5], tolerance_s=0.06)
    ([(0, 0)], [1], [1, 2])
    """
    ref = _times(ref_times, "ref_times")
    est = _times(est_times, "est_times")
    tol = float(tolerance_s)
    if not math.isfinite(tol) or tol < 0:
        raise ParameterError(f"tolerance_s must be a finite number >= 0, got {tolerance_s!r}")
    matches: list[tuple[int, int]] = []
    if ref.size and est.size:
        dist = np.abs(est[None, :] - ref[:, None])
        ok = dist <= tol + _EPS_S
        if ok.any():
            big = (tol + 1.0) * (min(ref.size, est.size) + 1)
            rows, cols = linear_sum_assignment(np.where(ok, dist, big))
            matches = sorted((int(r), int(c)) for r, c in zip(rows, cols) if ok[r, c])
    used_r = {m[0] for m in matches}
    used_e = {m[1] for m in matches}
    return (matches, [i for i in range(ref.size) if i not in used_r],
            [i for i in range(est.size) if i not in used_e])


def _times(x: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a sequence of times in seconds") from None
    if a.ndim != 1:
        if a.size == 0:
            return np.zeros(0)
        raise ParameterError(f"{name} must be 1-D, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"{name} contains NaN or infinite times")
    return a


# --------------------------------------------------------------------------- events


def _spans(span: Any) -> list[tuple[float, float]] | None:
    if span is None:
        return None
    a = np.asarray(span, dtype=np.float64)
    if a.size == 0:
        return []
    if a.ndim == 1 and a.size == 2:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != 2:
        raise ParameterError(f"span must be (start_s, end_s) or a list of them, got {span!r}")
    return [(float(s), float(e)) for s, e in a.reshape(-1, 2)]


def _inside(t: float, spans: list[tuple[float, float]] | None) -> bool:
    return spans is None or any(s <= t <= e for s, e in spans)


def _counts(tp: int, fp: int, fn: int) -> dict[str, float]:
    se, ppv = _ratio(tp, tp + fn), _ratio(tp, tp + fp)
    return {"sensitivity": se, "ppv": ppv, "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "tp": int(tp), "fp": int(fp), "fn": int(fn)}


def _with_errors(out: dict[str, Any], errors: list[float]) -> dict[str, Any]:
    out["timing_errors_ms"] = errors
    out["timing_error_ms_median"] = float(np.median(np.abs(errors))) if errors else math.nan
    return out


def _score(ref: list[SoundTime], est: list[SoundTime], tol: float,
           spans: list[tuple[float, float]] | None,
           scored: list[bool] | None = None) -> dict[str, Any]:
    """Match per sound; references with ``scored[i] False`` are don't-care: they are not
    false negatives, and an estimate matched to them is neither TP nor FP."""
    if scored is None:
        scored = [True] * len(ref)
    keep_r = [i for i, (_, t) in enumerate(ref) if _inside(t, spans)]
    keep_e = [j for j, (_, t) in enumerate(est) if _inside(t, spans)]
    out: dict[str, Any] = {}
    errors: list[float] = []
    tot = [0, 0, 0]
    for sound in SOUNDS:
        ri = [i for i in keep_r if ref[i][0] == sound]
        rt = [ref[i][1] for i in ri]
        et = [est[j][1] for j in keep_e if est[j][0] == sound]
        matches, un_r, un_e = match_events(rt, et, tol)
        tp = 0
        for a, b in matches:
            if scored[ri[a]]:
                tp += 1
                errors.append(1000.0 * (et[b] - rt[a]))
        fn = sum(1 for a in un_r if scored[ri[a]])
        fp = len(un_e)
        out[sound] = _counts(tp, fp, fn)
        tot = [tot[0] + tp, tot[1] + fp, tot[2] + fn]
    out.update(_counts(*tot))
    return _with_errors(out, errors)


def event_scores(ref_events: Iterable[Any], est_events: Iterable[Any],
                 tolerance_s: float = 0.06, *, span: Any = None) -> dict[str, Any]:
    """Score detected heart sounds against reference sounds.

    Parameters
    ----------
    ref_events, est_events : iterable or mapping
        ``(sound, time_s)`` pairs, ``sound`` ``"S1"`` or ``"S2"`` (anything
        :func:`as_pairs` accepts). Only same-sound pairs can match.
    tolerance_s : float
        Largest admissible distance between matched times (s), inclusive.
    span : (start_s, end_s) or list of them, optional
        Score only references and estimates whose times lie inside (bounds inclusive).
        For partially annotated recordings (PASCAL) use :func:`reference_span`.

    Returns
    -------
    dict
        ``"S1"`` and ``"S2"``: ``sensitivity`` = TP/(TP+FN), ``ppv`` = TP/(TP+FP),
        ``f1`` = 2TP/(2TP+FP+FN), ``tp``, ``fp``, ``fn``; the same keys at the top level
        pooled over both sounds; ``timing_errors_ms`` (signed ``est - ref`` of every
        true positive, ms) and ``timing_error_ms_median`` (median of their absolute
        values). Ratios with a zero denominator are NaN.

    Examples
    --------
    >>> s = event_scores([("S1", 1.0), ("S2", 1.3)], [("S1", 1.02), ("S1", 1.3)])
    >>> s["S1"]["tp"], s["S1"]["fp"], s["S2"]["fn"], s["f1"]
    (1, 1, 1, 0.5)
    """
    ref = as_pairs(ref_events, "ref_events")
    est = as_pairs(est_events, "est_events")
    return _score(ref, est, float(tolerance_s), _spans(span))


def reference_span(ref_events: Iterable[Any], tolerance_s: float = 0.06
                   ) -> tuple[float, float] | None:
    """The scored span of a partially annotated recording: first to last reference time,
    widened by ``tolerance_s`` on both sides (PASCAL set A). None without references."""
    t = [x.time_s for x in as_pairs(ref_events, "ref_events")]
    if not t:
        return None
    return (min(t) - float(tolerance_s), max(t) + float(tolerance_s))


def pool_scores(scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pool per-recording :func:`event_scores` dicts by summing TP, FP and FN.

    Rates are recomputed from the sums (so long recordings weigh more); the timing errors
    are concatenated and their median absolute value recomputed. ``n_recordings`` is added.
    """
    sums = {s: [0, 0, 0] for s in SOUNDS}
    errors: list[float] = []
    for d in scores:
        for s in SOUNDS:
            sums[s] = [sums[s][0] + d[s]["tp"], sums[s][1] + d[s]["fp"],
                       sums[s][2] + d[s]["fn"]]
        errors.extend(d.get("timing_errors_ms", []))
    out: dict[str, Any] = {s: _counts(*sums[s]) for s in SOUNDS}
    out.update(_counts(*(sum(sums[s][k] for s in SOUNDS) for k in range(3))))
    out = _with_errors(out, errors)
    out["n_recordings"] = len(scores)
    return out


def score_against_rows(ref_rows: Iterable[Any], est_events: Iterable[Any],
                       tolerance_s: float = 0.06) -> dict[str, Any]:
    """Score estimated sounds against a CirCor-style annotation with unannotated stretches.

    References are the sounds of :func:`events_from_rows`. Estimates whose times lie
    outside :func:`annotated_spans` are ignored. Sounds dropped because they touch a
    state-0 stretch or an edge are "don't care": they are matched like references, but
    neither count as false negatives nor turn the estimate matched to them into a
    true or false positive.

    Returns
    -------
    dict
        As :func:`event_scores`.
    """
    rows = rows_sorted(ref_rows)
    flagged = sound_rows(rows)
    ref = [e for e, _ in flagged]
    scored = [ok for _, ok in flagged]
    est = as_pairs(est_events, "est_events")
    return _score(ref, est, float(tolerance_s), annotated_spans(rows), scored)


# --------------------------------------------------------------------------- states


def state_accuracy(ref_states: Any, est_states: Any, *, ignore: int | None = 0) -> float:
    """Share of samples (frames) whose estimated state equals the reference state.

    Parameters
    ----------
    ref_states, est_states : array_like [shape=(n,)]
        Per-sample states (1 S1, 2 systole, 3 S2, 4 diastole), same length and rate.
    ignore : int or None
        Reference state excluded from the count (0 = unannotated); None keeps every sample.

    Returns
    -------
    float
        Accuracy in [0, 1]; NaN when no sample is scored.
    """
    ref = np.asarray(ref_states).astype(int).ravel()
    est = np.asarray(est_states).astype(int).ravel()
    if ref.shape != est.shape:
        raise ParameterError(f"ref_states has {ref.size} samples, est_states {est.size}; "
                             "resample them to the same frame rate and length first")
    keep = np.ones(ref.size, bool) if ignore is None else ref != int(ignore)
    return _ratio(np.count_nonzero(ref[keep] == est[keep]), np.count_nonzero(keep))
