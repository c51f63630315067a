"""Measuring segmenters on annotated corpora: CirCor 2022 cross-validation and PASCAL 2011.

Scoring (:mod:`heartsound.evaluation.metrics`): an estimated S1 (S2) is a true positive when its
centre is within ``±tolerance`` of an unmatched reference S1 (S2) centre.

* **CirCor 2022** (``.tsv`` states as truth): :func:`heartsound.evaluation.metrics.score_against_rows`
  scores only inside annotated (non-zero) stretches; sounds touching a state-0 stretch are
  "don't care". :func:`circor_folds` is the one patient-independent fold assignment every
  segmenter is measured with (5 folds, seed 0, grouped by patient merged with its
  ``Additional ID``, stratified by murmur label).
* **PASCAL 2011 set A** (21 annotated normal recordings, never trained on): each
  recording is scored only within its annotated span, first to last annotated sound
  ``± tolerance`` (:func:`heartsound.evaluation.metrics.reference_span`). The annotations mark
  roughly the centre or peak of each sound, so the estimate's centre is compared.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.base import Record
from ..errors import DatasetError, ParameterError

__all__ = ["TOLERANCES_S", "circor_folds", "reference_heart_rate", "heart_rate_agreement", "circor_items", "pascal_items",
           "score_circor", "score_pascal", "evaluate", "cross_validate_circor",
           "unannotated_beats"]

logger = logging.getLogger(__name__)

#: Tolerances (s) every figure is reported at.
TOLERANCES_S = (0.03, 0.06, 0.1)


def circor_folds(records: Sequence[Record], k: int = 5, seed: int = 0
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Patient-independent folds of the annotated CirCor recordings.

    Only records with a segmentation (``annotation_path`` not None) take part. Folds come
    from :func:`heartsound.datasets.splits.grouped_stratified_kfold` with
    ``groups = Record.group`` (patient merged with its ``Additional ID``, so one child is
    never on both sides) and ``labels = Record.label`` (murmur), ``n_splits = k``,
    ``seed``. The same corpus, ``k`` and ``seed`` always give the same folds.

    Parameters
    ----------
    records : sequence of Record
        :func:`heartsound.datasets.circor2022.read` output (any order; indices refer to it).
    k : int
        Number of folds.
    seed : int
        Shuffle seed (0 for every published figure).

    Returns
    -------
    list of (train_idx, test_idx)
        ``k`` pairs of sorted index arrays into ``records``; the test sets partition the
        annotated records.
    """
    from ..datasets.splits import grouped_stratified_kfold

    annotated = np.array([i for i, r in enumerate(records) if r.annotation_path is not None])
    if annotated.size == 0:
        raise DatasetError("no CirCor record has a segmentation annotation")
    sub = [records[i] for i in annotated]
    folds = grouped_stratified_kfold(sub, [r.label for r in sub], [r.group for r in sub],
                                     n_splits=k, seed=seed)
    return [(annotated[tr], annotated[te]) for tr, te in folds]


def reference_heart_rate(rows: Sequence[tuple[float, float, int]]) -> float:
    """Heart rate (bpm) of a CirCor annotation: 60 / median interval between consecutive
    S1 onsets with no unannotated (state 0) row between them; NaN without such a pair."""
    rr: list[float] = []
    last = None
    for a, b, st in rows:
        if st == 0:
            last = None
        elif st == 1 and b > a:
            if last is not None:
                rr.append(a - last)
            last = a
    return float(60.0 / np.median(rr)) if rr else float("nan")


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
    return {"n": n, "within_10pct": float(np.mean(within)) if n else float("nan"),
            "half": float(np.mean(half)) if n else float("nan"),
            "double": float(np.mean(double)) if n else float("nan"),
            "other": float(np.mean(~(within | half | double))) if n else float("nan")}


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
    from ..datasets.circor2022 import read_tsv
    from ..features import FRAME_RATE, springer_features
    from ..io import load
    from ..segmentation.result import rows_to_states

    it: Any = records
    if progress:
        from tqdm import tqdm

        it = tqdm(records, desc="loading", unit="rec")
    out = []
    for r in it:
        if r.annotation_path is None:
            continue
        rec = load(r.audio_path)
        item: dict[str, Any] = {"id": r.id, "group": r.group, "rows": read_tsv(r.annotation_path),
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
    from ..datasets import pascal2011
    from ..io import load

    seg = pascal2011.read_seg(root)
    recs = {r.id: r for r in pascal2011.read(root, sets="A")}
    out = []
    for rid, ref in sorted(seg.items()):
        if rid not in recs:
            raise DatasetError(f"{root}: annotated recording {rid} has no audio")
        rec = load(recs[rid].audio_path)
        out.append({"id": rid, "y": rec.y, "sr": rec.sr, "ref": list(ref)})
    return out


def unannotated_beats(ref: Sequence[tuple[str, float]], est_events: Sequence[Any],
                      tolerance_s: float) -> dict[str, Any]:
    """Estimated sounds inside the annotated span that fall in an annotation gap.

    A gap is a stretch between consecutive annotated sounds (of either kind) longer than
    0.85 times the recording's cycle, the median interval between consecutive annotated
    S1. Systole and diastole are both shorter than that, so such a stretch means the
    annotator skipped at least one sound. Estimates inside a gap (more than
    ``tolerance_s`` from its ends) count as false positives although they may be real
    sounds.

    Returns
    -------
    dict
        ``gaps`` (list of ``(start_s, end_s)``) and ``n_in_gaps`` (estimated sounds in them).
    """
    t = np.sort(np.array([x[1] for x in ref], dtype=float))
    s1 = np.sort(np.array([x[1] for x in ref if x[0] == "S1"], dtype=float))
    if t.size < 3 or s1.size < 2:
        return {"gaps": [], "n_in_gaps": 0}
    cycle = float(np.median(np.diff(s1)))
    d = np.diff(t)
    gaps = [(float(t[i] + tolerance_s), float(t[i + 1] - tolerance_s))
            for i in np.flatnonzero(d > 0.85 * cycle)]
    n = sum(1 for e in est_events
            if any(a < (e.centre_s if hasattr(e, "centre_s") else e[1]) < b for a, b in gaps))
    return {"gaps": gaps, "n_in_gaps": int(n)}


def score_circor(rows: Sequence[tuple[float, float, int]], events: Sequence[Any],
                 tolerances: Sequence[float] = TOLERANCES_S) -> dict[float, dict[str, Any]]:
    """Per-tolerance :func:`heartsound.evaluation.metrics.score_against_rows` of one recording."""
    from .metrics import score_against_rows

    return {tol: score_against_rows(rows, events, tol) for tol in tolerances}


def score_pascal(ref: Sequence[tuple[str, float]], events: Sequence[Any],
                 tolerances: Sequence[float] = TOLERANCES_S, *,
                 exclude_gaps: bool = False) -> dict[float, dict[str, Any]]:
    """Per-tolerance :func:`heartsound.evaluation.metrics.event_scores` within the annotated span.

    With ``exclude_gaps`` estimated sounds in annotation gaps (:func:`unannotated_beats`)
    are dropped before scoring.
    """
    from .metrics import event_scores, reference_span

    out = {}
    for tol in tolerances:
        est = list(events)
        if exclude_gaps:
            gaps = unannotated_beats(ref, est, tol)["gaps"]
            est = [e for e in est if not any(a < e.centre_s < b for a, b in gaps)]
        out[tol] = event_scores(ref, est, tol, span=reference_span(ref, tol))
    return out


def _summary(per_tol: dict[float, list[dict[str, Any]]]) -> dict[str, Any]:
    from .metrics import pool_scores

    out: dict[str, Any] = {}
    for tol, scores in per_tol.items():
        p = pool_scores(scores)
        out[f"{int(round(tol * 1000))}ms"] = {
            "S1": {k: p["S1"][k] for k in ("sensitivity", "ppv", "f1", "tp", "fp", "fn")},
            "S2": {k: p["S2"][k] for k in ("sensitivity", "ppv", "f1", "tp", "fp", "fn")},
            "f1": p["f1"], "sensitivity": p["sensitivity"], "ppv": p["ppv"],
            "timing_error_ms_median": p["timing_error_ms_median"]}
    return out


def evaluate(dataset: str, root: str | Path,
             segment_fn: Callable[[np.ndarray, float], Any], *,
             tolerances: Sequence[float] = TOLERANCES_S, progress: bool = False,
             records: Sequence[Record] | None = None,
             event_time: str = "centre") -> dict[str, Any]:
    """Score a segmenter on a whole annotated corpus (treated as test data).

    Parameters
    ----------
    dataset : {"circor2022", "pascal2011"}
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
        ``n_recordings``, ``seconds`` (CPU-independent wall time), ``by_tolerance``
        (pooled S1/S2 sensitivity, PPV, F1, median timing error per tolerance) and, for
        PASCAL, ``per_recording`` and ``by_tolerance_gaps_excluded``.
    """
    if event_time not in ("centre", "peak"):
        raise ParameterError(f"unknown event_time {event_time!r}; valid: centre, peak")
    from ..segmentation.peaks import sound_peaks

    def events_of(seg: Any, y: np.ndarray, sr: float) -> list[Any]:
        ev = seg.events()
        return sound_peaks(ev, y, sr) if event_time == "peak" else ev

    t0 = time.perf_counter()
    per_tol: dict[float, list[dict[str, Any]]] = {t: [] for t in tolerances}
    out: dict[str, Any] = {"dataset": dataset, "event_time": event_time}
    if dataset == "circor2022":
        from ..datasets import circor2022

        recs = list(records) if records is not None else circor2022.read(root)
        items = circor_items(recs, with_features=False, progress=progress)
        for it in items:
            seg = segment_fn(it["y"], it["sr"])
            ev = events_of(seg, it["y"], it["sr"])
            for tol, sc in score_circor(it["rows"], ev, tolerances).items():
                per_tol[tol].append(sc)
        out["n_recordings"] = len(items)
    elif dataset == "pascal2011":
        gaps_tol: dict[float, list[dict[str, Any]]] = {t: [] for t in tolerances}
        per_rec = []
        n_gap_beats = 0
        for it in pascal_items(root):
            seg = segment_fn(it["y"], it["sr"])
            ev = events_of(seg, it["y"], it["sr"])
            scores = score_pascal(it["ref"], ev, tolerances)
            scores_ng = score_pascal(it["ref"], ev, tolerances, exclude_gaps=True)
            gap = unannotated_beats(it["ref"], ev, 0.06)
            n_gap_beats += gap["n_in_gaps"]
            for tol in tolerances:
                per_tol[tol].append(scores[tol])
                gaps_tol[tol].append(scores_ng[tol])
            s60 = scores.get(0.06, scores[tolerances[0]])
            s1 = np.sort([t for snd, t in it["ref"] if snd == "S1"])
            ref_hr = 60.0 / float(np.median(np.diff(s1))) if s1.size > 1 else float("nan")
            per_rec.append({"id": it["id"], "heart_rate_bpm": round(seg.heart_rate_bpm, 1),
                            "reference_heart_rate_bpm": round(ref_hr, 1),
                            "f1": s60["f1"], "tp": s60["tp"], "fp": s60["fp"], "fn": s60["fn"],
                            "timing_error_ms_median": s60["timing_error_ms_median"],
                            "n_in_gaps": gap["n_in_gaps"]})
        out["n_recordings"] = len(per_rec)
        out["per_recording"] = per_rec
        out["n_estimated_in_annotation_gaps"] = n_gap_beats
        out["by_tolerance_gaps_excluded"] = _summary(gaps_tol)
    else:
        raise ParameterError(f"unknown dataset {dataset!r}; valid: circor2022, pascal2011")
    out["by_tolerance"] = _summary(per_tol)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def cross_validate_circor(root: str | Path, *, k: int = 5, seed: int = 0,
                          make_segmenter: Callable[[], Any] | None = None,
                          tolerances: Sequence[float] = TOLERANCES_S,
                          progress: bool = False) -> dict[str, Any]:
    """Patient-independent ``k``-fold cross-validation of the Springer segmenter on CirCor.

    For each fold of :func:`circor_folds`, a fresh segmenter (``make_segmenter()``,
    default :class:`~heartsound.segmentation.springer.SpringerSegmenter` with default
    parameters) is fitted on the other folds' ``training_features`` (augmented copies
    included) and ``.tsv`` states, and the held-out recordings, as recorded, are decoded
    and scored with :func:`score_circor`. Single process.

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
    from ..datasets import circor2022
    from ..features import FRAME_RATE
    from ..segmentation.result import Segmentation
    from ..segmentation.springer import METHOD, SpringerSegmenter

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
            states, hr, si, info = model.decode(it["features"], FRAME_RATE)
            seg = Segmentation(states, FRAME_RATE, METHOD, hr, si, info=info)
            scores = score_circor(it["rows"], seg.events(), tolerances)
            for tol, sc in scores.items():
                per_tol[tol].append(sc)
                pooled[tol].append(sc)
            head = scores.get(0.06, scores[tolerances[0]])
            per_rec.append({"id": it["id"], "fold": f, "f1": head["f1"], "tp": head["tp"],
                            "fp": head["fp"], "fn": head["fn"],
                            "heart_rate_bpm": round(float(hr), 2),
                            "reference_heart_rate_bpm": round(reference_heart_rate(it["rows"]), 2)})
        fold_out.append({"fold": f, "n_recordings": int(len(te)),
                         "n_train_recordings": int(len(tr)), "by_tolerance": _summary(per_tol)})
        logger.info("fold %d: F1@60ms %.4f", f, fold_out[-1]["by_tolerance"].get("60ms", {})
                    .get("f1", float("nan")))
    return {"dataset": "circor2022", "k": k, "seed": seed, "n_recordings": int(idx_all.size),
            "folds": fold_out, "pooled": _summary(pooled),
            "heart_rate": heart_rate_agreement([r["heart_rate_bpm"] for r in per_rec],
                                               [r["reference_heart_rate_bpm"] for r in per_rec]),
            "per_recording": per_rec,
            "seconds": round(time.perf_counter() - t0, 2)}
