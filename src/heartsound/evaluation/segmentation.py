"""Measuring segmenters on annotated corpora: CirCor 2022 cross-validation and PASCAL 2011.

The one scoring path for every segmenter (the CLI, the training code, the scripts and
the tests call these functions). Scoring (:mod:`heartsound.evaluation.metrics`): an
estimated S1 (S2) is a true positive when its time is within ``±tolerance`` of an
unmatched reference S1 (S2).

* **CirCor 2022** (``.tsv`` states as truth): :func:`score_circor` scores only inside
  annotated (non-zero) stretches; sounds touching a state-0 stretch are "don't care".
  :func:`~heartsound.datasets.splits.circor_folds` is the one patient-independent fold
  assignment every segmenter is measured with (5 folds, seed 0, grouped by patient merged
  with its ``Additional ID``, stratified by murmur label).
* **PASCAL 2011 set A** (21 annotated normal recordings, never trained on):
  :func:`score_pascal` scores each recording only within its annotated span, first to
  last annotated sound ``± tolerance``. The annotations mark roughly the peak of each
  sound; ``event_time="peak"`` compares the estimated sound's envelope peak.

Per-recording scores (one dict per tolerance) are pooled by :func:`summary`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import circor2022, pascal2011
from ..datasets.base import Record
from ..datasets.splits import circor_folds
from ..errors import DatasetError, ParameterError
from ..features import springer_features
from ..io import load
from ..segmentation.peaks import sound_peaks
from ..segmentation.result import Segmentation, rows_to_states
from ..segmentation.springer import METHOD as SPRINGER, SpringerSegmenter
from ..vocab import FRAME_RATE
from . import EVENT_TIMES, SEGMENTATION_DATASETS
from .annotations import (annotation_gaps, as_pairs, in_gap, reference_heart_rate,
                          unannotated_beats)
from .metrics import event_scores, pool_scores, reference_span, score_against_rows

__all__ = ["TOLERANCES_S", "EVENT_TIMES", "circor_folds", "reference_heart_rate",
           "heart_rate_agreement", "circor_items", "pascal_items", "unannotated_beats",
           "score_circor", "score_pascal", "summary", "evaluate", "cross_validate_circor"]

logger = logging.getLogger(__name__)

#: Tolerances (s) every figure is reported at.
TOLERANCES_S = (0.03, 0.06, 0.1)
#: Tolerance (s) of the per-recording rows and the annotation-gap count.
_HEADLINE_S = 0.06
_NAN = float("nan")


def heart_rate_agreement(estimated: Sequence[float], reference: Sequence[float]
                         ) -> dict[str, Any]:
    """Share of recordings whose estimated rate is within 10 % of the reference, near half
    of it (ratio 0.4-0.6) or near double (1.7-2.3), or otherwise off; NaN references are
    skipped."""
    e = np.asarray(estimated, dtype=float)
    r = np.asarray(reference, dtype=float)
    ok = np.isfinite(r) & np.isfinite(e)
    q = e[ok] / r[ok]
    n = int(q.size)
    within = np.abs(q - 1) <= 0.1
    half = (q >= 0.4) & (q <= 0.6)
    double = (q >= 1.7) & (q <= 2.3)
    return {"n": n, "within_10pct": float(np.mean(within)) if n else _NAN,
            "half": float(np.mean(half)) if n else _NAN,
            "double": float(np.mean(double)) if n else _NAN,
            "other": float(np.mean(~(within | half | double))) if n else _NAN}


def circor_items(records: Sequence[Record], *, with_features: bool = True,
                 extended: bool = True, segmenter: Any = None,
                 progress: bool = False) -> list[dict[str, Any]]:
    """Load annotated CirCor recordings for training or scoring.

    Returns
    -------
    list of dict
        Per record: ``id``, ``group``, ``rows`` (the ``.tsv`` rows), ``y``, ``sr`` and, with
        ``with_features``, ``features`` (:func:`heartsound.features.springer_features`,
        with ``extended``) and ``states`` (reference state per 50 Hz frame, 0 unannotated).
        With a ``segmenter`` (e.g. a ``SpringerSegmenter``), ``features`` is its
        ``features(y, sr)`` and ``train_features`` its ``training_features(y, sr)``
        (the list of matrices to fit on, augmented copies included).
    """
    it: Any = records
    if progress:
        from tqdm import tqdm

        it = tqdm(records, desc="loading", unit="rec")
    out = []
    for r in it:
        if r.annotation_path is None:
            continue
        rec = load(r.audio_path)
        item: dict[str, Any] = {"id": r.id, "group": r.group,
                                "rows": circor2022.read_tsv(r.annotation_path),
                                "y": rec.y, "sr": rec.sr}
        if with_features:
            if segmenter is not None:
                train = segmenter.training_features(rec.y, rec.sr)
                x, fr = train[0], FRAME_RATE
                item["train_features"] = train
            else:
                x, fr = springer_features(rec.y, rec.sr, extended=extended)
            item["features"] = x
            item["states"] = rows_to_states(item["rows"], fr, x.shape[0])
        out.append(item)
    return out


def pascal_items(root: str | Path) -> list[dict[str, Any]]:
    """The 21 annotated PASCAL set A recordings with their S1/S2 annotations.

    Returns
    -------
    list of dict
        ``id``, ``y``, ``sr`` (44.1 kHz), ``ref`` (``(sound, time_s)`` pairs).
    """
    seg = pascal2011.read_seg(root)
    recs = {r.id: r for r in pascal2011.read(root, sets="A")}
    out = []
    for rid, ref in sorted(seg.items()):
        if rid not in recs:
            raise DatasetError(f"{root}: annotated recording {rid} has no audio")
        rec = load(recs[rid].audio_path)
        out.append({"id": rid, "y": rec.y, "sr": rec.sr, "ref": list(ref)})
    return out


def score_circor(rows: Sequence[tuple[float, float, int]], events: Iterable[Any],
                 tolerances: Sequence[float] = TOLERANCES_S) -> dict[float, dict[str, Any]]:
    """Score one CirCor recording at each tolerance.

    Parameters
    ----------
    rows : sequence of (start_s, end_s, state)
        The recording's ``.tsv`` annotation.
    events : iterable
        Estimated sounds: ``(sound, time_s)`` pairs or ``Segmentation.events()``.
    tolerances : sequence of float
        Seconds.

    Returns
    -------
    dict
        ``tolerance`` -> :func:`~heartsound.evaluation.metrics.score_against_rows` dict.
    """
    est = as_pairs(events, "events")
    return {tol: score_against_rows(rows, est, tol) for tol in tolerances}


def score_pascal(ref: Sequence[tuple[str, float]], events: Iterable[Any],
                 tolerances: Sequence[float] = TOLERANCES_S, *,
                 exclude_gaps: bool = False) -> dict[float, dict[str, Any]]:
    """Score one PASCAL recording at each tolerance, within its annotated span.

    Parameters
    ----------
    ref : sequence of (sound, time_s)
        The annotation (:func:`heartsound.datasets.pascal2011.read_seg`).
    events : iterable
        Estimated sounds: ``(sound, time_s)`` pairs or ``Segmentation.events()``.
    tolerances : sequence of float
        Seconds.
    exclude_gaps : bool
        Drop estimated sounds in annotation gaps (:func:`unannotated_beats`) first.

    Returns
    -------
    dict
        ``tolerance`` -> :func:`~heartsound.evaluation.metrics.event_scores` dict, scored
        within :func:`~heartsound.evaluation.metrics.reference_span`.
    """
    pairs = as_pairs(events, "events")
    out = {}
    for tol in tolerances:
        est = pairs
        if exclude_gaps:
            gaps = annotation_gaps(ref, tol)
            est = [e for e in pairs if not in_gap(e.time_s, gaps)]
        out[tol] = event_scores(ref, est, tol, span=reference_span(ref, tol))
    return out


def summary(per_tol: dict[float, list[dict[str, Any]]]) -> dict[str, Any]:
    """Pool per-recording scores at each tolerance.

    Parameters
    ----------
    per_tol : dict
        ``tolerance (s) -> list`` of per-recording :func:`score_circor` /
        :func:`score_pascal` dicts at that tolerance.

    Returns
    -------
    dict
        ``"<ms>ms" -> {"S1", "S2", "f1", "sensitivity", "ppv", "timing_error_ms_median"}``,
        ``S1``/``S2`` holding ``sensitivity``, ``ppv``, ``f1``, ``tp``, ``fp``, ``fn``
        (:func:`~heartsound.evaluation.metrics.pool_scores`).
    """
    keys = ("sensitivity", "ppv", "f1", "tp", "fp", "fn")
    out: dict[str, Any] = {}
    for tol, scores in per_tol.items():
        p = pool_scores(scores)
        out[f"{int(round(tol * 1000))}ms"] = {
            "S1": {k: p["S1"][k] for k in keys}, "S2": {k: p["S2"][k] for k in keys},
            "f1": p["f1"], "sensitivity": p["sensitivity"], "ppv": p["ppv"],
            "timing_error_ms_median": p["timing_error_ms_median"]}
    return out


#: The name :func:`summary` had before it was public (kept for existing callers).


def _headline(scores: dict[float, dict[str, Any]], tolerances: Sequence[float]
              ) -> dict[str, Any]:
    return scores.get(_HEADLINE_S, scores[tolerances[0]])


def _evaluate_circor(root: str | Path, records: Sequence[Record] | None,
                     events_of: Callable[..., list[Any]], tolerances: Sequence[float],
                     progress: bool) -> dict[str, Any]:
    recs = list(records) if records is not None else circor2022.read(root)
    per_tol: dict[float, list[dict[str, Any]]] = {t: [] for t in tolerances}
    items = circor_items(recs, with_features=False, progress=progress)
    for it in items:
        for tol, sc in score_circor(it["rows"], events_of(it), tolerances).items():
            per_tol[tol].append(sc)
    return {"n_recordings": len(items), "by_tolerance": summary(per_tol)}


def _evaluate_pascal(root: str | Path, segment_fn: Callable[[np.ndarray, float], Any],
                     events_of: Callable[..., list[Any]], tolerances: Sequence[float]
                     ) -> dict[str, Any]:
    per_tol: dict[float, list[dict[str, Any]]] = {t: [] for t in tolerances}
    gaps_tol: dict[float, list[dict[str, Any]]] = {t: [] for t in tolerances}
    per_rec = []
    for it in pascal_items(root):
        seg = segment_fn(it["y"], it["sr"])
        ev = events_of(it, seg)
        scores = score_pascal(it["ref"], ev, tolerances)
        scores_ng = score_pascal(it["ref"], ev, tolerances, exclude_gaps=True)
        n_gap = unannotated_beats(it["ref"], ev, _HEADLINE_S)["n_in_gaps"]
        for tol in tolerances:
            per_tol[tol].append(scores[tol])
            gaps_tol[tol].append(scores_ng[tol])
        s = _headline(scores, tolerances)
        s1 = np.sort([t for snd, t in it["ref"] if snd == "S1"])
        ref_hr = 60.0 / float(np.median(np.diff(s1))) if s1.size > 1 else _NAN
        per_rec.append({"id": it["id"], "heart_rate_bpm": round(seg.heart_rate_bpm, 1),
                        "reference_heart_rate_bpm": round(ref_hr, 1),
                        "f1": s["f1"], "tp": s["tp"], "fp": s["fp"], "fn": s["fn"],
                        "timing_error_ms_median": s["timing_error_ms_median"],
                        "n_in_gaps": n_gap})
    return {"n_recordings": len(per_rec), "per_recording": per_rec,
            "n_estimated_in_annotation_gaps": sum(r["n_in_gaps"] for r in per_rec),
            "by_tolerance_gaps_excluded": summary(gaps_tol),
            "by_tolerance": summary(per_tol)}


def evaluate(dataset: str, root: str | Path,
             segment_fn: Callable[[np.ndarray, float], Any], *,
             tolerances: Sequence[float] = TOLERANCES_S, progress: bool = False,
             records: Sequence[Record] | None = None,
             event_time: str = "centre") -> dict[str, Any]:
    """Score a segmenter on a whole annotated corpus (treated as test data).

    Parameters
    ----------
    dataset : {"circor2022", "pascal2011"}
        One of :data:`~heartsound.evaluation.SEGMENTATION_DATASETS`.
    root : path
        Corpus folder.
    segment_fn : callable
        ``(y, sr) -> Segmentation``.
    tolerances : sequence of float
        Seconds.
    records : sequence of Record, optional
        CirCor only: the recordings to score (default: every annotated one).
    event_time : {"centre", "peak"}
        Which instant of an estimated sound is compared with the reference: the centre
        of the decoded segment (CirCor's convention), or the envelope peak inside it
        (:func:`heartsound.segmentation.peaks.sound_peaks`; PASCAL marks peaks).

    Returns
    -------
    dict
        ``dataset``, ``event_time``, ``n_recordings``, ``seconds`` (wall time),
        ``by_tolerance`` (:func:`summary`) and, for PASCAL, ``per_recording`` (at 60 ms),
        ``n_estimated_in_annotation_gaps`` and ``by_tolerance_gaps_excluded``.
    """
    if event_time not in EVENT_TIMES:
        raise ParameterError(f"unknown event_time {event_time!r}; valid: {', '.join(EVENT_TIMES)}")

    def events_of(it: dict[str, Any], seg: Any = None) -> list[Any]:
        seg = segment_fn(it["y"], it["sr"]) if seg is None else seg
        ev = seg.events()
        return sound_peaks(ev, it["y"], it["sr"]) if event_time == "peak" else ev

    t0 = time.perf_counter()
    out: dict[str, Any] = {"dataset": dataset, "event_time": event_time}
    if dataset == "circor2022":
        out.update(_evaluate_circor(root, records, events_of, tolerances, progress))
    elif dataset == "pascal2011":
        out.update(_evaluate_pascal(root, segment_fn, events_of, tolerances))
    else:
        raise ParameterError(f"unknown dataset {dataset!r}; "
                             f"valid: {', '.join(SEGMENTATION_DATASETS)}")
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def cross_validate_circor(root: str | Path, *, k: int = 5, seed: int = 0,
                          make_segmenter: Callable[[], Any] | None = None,
                          tolerances: Sequence[float] = TOLERANCES_S,
                          progress: bool = False) -> dict[str, Any]:
    """Patient-independent ``k``-fold cross-validation of the Springer segmenter on CirCor.

    For each fold of :func:`~heartsound.datasets.splits.circor_folds`, a fresh segmenter
    (``make_segmenter()``, default :class:`~heartsound.segmentation.springer.SpringerSegmenter`
    with default parameters) is fitted on the other folds' ``training_features``
    (augmented copies included) and ``.tsv`` states, and the held-out recordings, as
    recorded, are decoded and scored with :func:`score_circor`. Single process.

    Returns
    -------
    dict
        ``folds`` (per fold: ``n_recordings`` and ``by_tolerance``), ``pooled``
        (``by_tolerance`` over all held-out recordings), ``heart_rate``
        (:func:`heart_rate_agreement` of the decoded rate with
        :func:`reference_heart_rate`), ``per_recording`` (id, fold, F1/TP/FP/FN at 60 ms,
        estimated and reference heart rate), ``k``, ``seed``, ``n_recordings``,
        ``seconds``.
    """
    t0 = time.perf_counter()
    make = make_segmenter or SpringerSegmenter
    records = circor2022.read(root)
    folds = circor_folds(records, k=k, seed=seed)
    idx_all = np.concatenate([te for _, te in folds])
    items = dict(zip(idx_all.tolist(),
                     circor_items([records[i] for i in idx_all], segmenter=make(),
                                  progress=progress)))
    for it in items.values():
        del it["y"]
    pooled: dict[float, list[dict[str, Any]]] = {t: [] for t in tolerances}
    fold_out = []
    per_rec: list[dict[str, Any]] = []
    for f, (tr, te) in enumerate(folds):
        feats = [x for i in tr for x in items[i]["train_features"]]
        states = [items[i]["states"] for i in tr for _ in items[i]["train_features"]]
        model = make().fit(feats, states)
        per_tol: dict[float, list[dict[str, Any]]] = {t: [] for t in tolerances}
        for i in te:
            it = items[int(i)]
            st, hr, si, info = model.decode(it["features"], FRAME_RATE)
            seg = Segmentation(st, FRAME_RATE, SPRINGER, hr, si, info=info)
            scores = score_circor(it["rows"], seg.events(), tolerances)
            for tol, sc in scores.items():
                per_tol[tol].append(sc)
                pooled[tol].append(sc)
            head = _headline(scores, tolerances)
            per_rec.append({"id": it["id"], "fold": f, "f1": head["f1"], "tp": head["tp"],
                            "fp": head["fp"], "fn": head["fn"],
                            "heart_rate_bpm": round(float(hr), 2),
                            "reference_heart_rate_bpm": round(reference_heart_rate(it["rows"]), 2)})
        fold_out.append({"fold": f, "n_recordings": int(len(te)),
                         "n_train_recordings": int(len(tr)), "by_tolerance": summary(per_tol)})
        logger.info("fold %d: F1@60ms %.4f", f, fold_out[-1]["by_tolerance"].get("60ms", {})
                    .get("f1", _NAN))
    return {"dataset": "circor2022", "k": k, "seed": seed, "n_recordings": int(idx_all.size),
            "folds": fold_out, "pooled": summary(pooled),
            "heart_rate": heart_rate_agreement([r["heart_rate_bpm"] for r in per_rec],
                                               [r["reference_heart_rate_bpm"] for r in per_rec]),
            "per_recording": per_rec,
            "seconds": round(time.perf_counter() - t0, 2)}
