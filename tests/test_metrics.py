"""Metric oracles: small examples whose answers are worked out by hand in each test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heartsound import metrics as M
from heartsound.errors import ParameterError
from heartsound.segmentation.result import Event


# --------------------------------------------------------------------------- match_events


def test_match_events_basic_and_double_detection():
    # ref 1.0 has estimates 1.03 (30 ms) and 1.05 (50 ms): the nearer one matches,
    # the other is a double detection (FP). 2.5 is 500 ms from 2.0: no match.
    matches, un_r, un_e = M.match_events([1.0, 2.0], [1.03, 1.05, 2.5], 0.06)
    assert matches == [(0, 0)]
    assert un_r == [1]
    assert un_e == [1, 2]


def test_match_events_is_optimal_not_greedy():
    # refs A = 0.00, B = 0.10; ests x = 0.06, y = 0.15; tolerance 0.065.
    # Distances: x-A 0.06, x-B 0.04, y-B 0.05, y-A 0.15 (too far).
    # Greedy nearest-first takes x-B (0.04) first; y can then only go to B (taken): 1 pair.
    # The optimum is x-A (0.06) and y-B (0.05): 2 pairs.
    matches, un_r, un_e = M.match_events([0.00, 0.10], [0.06, 0.15], 0.065)
    assert matches == [(0, 0), (1, 1)]
    assert un_r == [] and un_e == []
    # estimates given out of order: indices refer to the input order
    matches, _, _ = M.match_events([0.00, 0.10], [0.15, 0.06], 0.065)
    assert matches == [(0, 1), (1, 0)]


def test_match_events_prefers_smaller_total_error_among_maximum_matchings():
    # one ref 1.0, ests 0.97 (30 ms) and 1.01 (10 ms): 1.01 wins.
    matches, _, un_e = M.match_events([1.0], [0.97, 1.01], 0.06)
    assert matches == [(0, 1)] and un_e == [0]


@pytest.mark.parametrize("est, expected", [
    (1.06, 1),   # exactly at the tolerance (1.06 - 1.0 = 0.06 up to rounding): inclusive
    (0.94, 1),
    (1.0601, 0),  # 60.1 ms: outside
    (0.9399, 0),
])
def test_match_events_tolerance_boundary(est, expected):
    matches, _, _ = M.match_events([1.0], [est], 0.06)
    assert len(matches) == expected


def test_match_events_empty_inputs():
    assert M.match_events([], [1.0]) == ([], [], [0])
    assert M.match_events([1.0, 2.0], []) == ([], [0, 1], [])
    assert M.match_events([], []) == ([], [], [])


@pytest.mark.parametrize("tol", [-0.01, float("nan")])
def test_match_events_bad_tolerance(tol):
    with pytest.raises(ParameterError):
        M.match_events([1.0], [1.0], tol)


def test_match_events_bad_times():
    with pytest.raises(ParameterError):
        M.match_events([[1.0, 2.0]], [1.0])
    with pytest.raises(ParameterError):
        M.match_events([float("nan")], [1.0])


# --------------------------------------------------------------------------- event_scores


def test_event_scores_hand_example():
    ref = [("S1", 1.00), ("S2", 1.30), ("S1", 2.00), ("S2", 2.30)]
    est = [("S1", 1.02),            # TP S1, error +20 ms
           ("S1", 1.04),            # double detection of the same S1: FP
           ("S2", 1.27),            # TP S2, error -30 ms
           ("S1", 2.30),            # wrong sound at the S2 position: FP S1, and S2 2.30 -> FN
           ("S1", 1.99)]            # TP S1, error -10 ms
    s = M.event_scores(ref, est, 0.06)
    # S1: TP 2 (1.02, 1.99), FP 2 (1.04, 2.30), FN 0
    assert (s["S1"]["tp"], s["S1"]["fp"], s["S1"]["fn"]) == (2, 2, 0)
    assert s["S1"]["sensitivity"] == pytest.approx(2 / 2)
    assert s["S1"]["ppv"] == pytest.approx(2 / 4)
    assert s["S1"]["f1"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 0))  # 4/6
    # S2: TP 1 (1.27), FP 0, FN 1 (2.30)
    assert (s["S2"]["tp"], s["S2"]["fp"], s["S2"]["fn"]) == (1, 0, 1)
    assert s["S2"]["f1"] == pytest.approx(2 * 1 / (2 + 0 + 1))  # 2/3
    # pooled: TP 3, FP 2, FN 1 -> F1 = 6 / (6 + 2 + 1) = 2/3
    assert (s["tp"], s["fp"], s["fn"]) == (3, 2, 1)
    assert s["f1"] == pytest.approx(6 / 9)
    assert s["sensitivity"] == pytest.approx(3 / 4)
    assert s["ppv"] == pytest.approx(3 / 5)
    # |errors| 20, 10, 30 ms -> median 20 ms
    assert sorted(np.round(s["timing_errors_ms"], 6)) == [-30.0, -10.0, 20.0]
    assert s["timing_error_ms_median"] == pytest.approx(20.0)


def test_event_scores_accepts_event_objects():
    ref = [Event("S1", 0.95, 1.05), Event("S2", 1.25, 1.35)]  # centres 1.00, 1.30
    est = [Event("S1", 0.98, 1.10), ("S2", 1.33)]              # centres 1.04, 1.33
    s = M.event_scores(ref, est)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 0, 0)
    assert s["timing_error_ms_median"] == pytest.approx((40 + 30) / 2)


def test_event_scores_no_estimates_and_no_references():
    s = M.event_scores([("S1", 1.0), ("S2", 1.3)], [])
    assert (s["tp"], s["fp"], s["fn"]) == (0, 0, 2)
    assert s["sensitivity"] == 0.0 and s["f1"] == 0.0
    assert math.isnan(s["ppv"])  # 0 / 0
    assert math.isnan(s["timing_error_ms_median"])
    s = M.event_scores([], [("S1", 1.0)])
    assert (s["tp"], s["fp"], s["fn"]) == (0, 1, 0)
    assert s["ppv"] == 0.0 and math.isnan(s["sensitivity"])
    s = M.event_scores([], [])
    assert math.isnan(s["f1"])


def test_event_scores_span_restriction():
    ref = [("S1", 1.0), ("S2", 1.3), ("S1", 2.0)]
    est = [("S1", 0.2),   # outside span (0.94, 1.36) -> ignored, not an FP
           ("S1", 1.01), ("S2", 1.31),
           ("S1", 5.0)]   # outside -> ignored
    # reference S1 2.0 outside the span -> not a FN
    s = M.event_scores(ref, est, span=(0.94, 1.36))
    assert (s["tp"], s["fp"], s["fn"]) == (2, 0, 0)
    # without the span: 0.2 and 5.0 are FPs, 2.0 is a FN
    s = M.event_scores(ref, est)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 2, 1)
    # several spans
    s = M.event_scores(ref, est, span=[(0.9, 1.1), (4.9, 5.1)])
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0)


def test_event_inputs_pairs_mapping_and_objects_agree():
    pairs = [("S1", 1.0), ("S2", 1.3), ("S1", 2.0)]
    est = {"S1": np.array([1.01, 2.03]), "S2": [1.6]}  # S2 300 ms off -> FP and FN
    a = M.event_scores(pairs, est)
    b = M.event_scores({"S1": [1.0, 2.0], "S2": [1.3]},
                       [Event("S1", 0.96, 1.06), Event("S1", 2.0, 2.06), ("S2", 1.6)])
    assert (a["tp"], a["fp"], a["fn"]) == (b["tp"], b["fp"], b["fn"]) == (2, 1, 1)
    assert a["timing_errors_ms"] == pytest.approx([10.0, 30.0])
    assert b["timing_errors_ms"] == pytest.approx([10.0, 30.0])
    # the reference sounds read from rows are themselves (sound, time) pairs
    ev = M.events_from_rows(ROWS)
    assert [tuple(e) for e in ev] == [(e.sound, e.centre_s) for e in ev]
    assert M.as_pairs(ev) == ev


def test_metrics_module_does_not_import_segmentation():
    import subprocess
    import sys

    code = ("import sys, heartsound.evaluation.metrics; "
            "print(any(m.startswith('heartsound.segmentation') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_reference_span():
    # first centre 1.0, last 3.3, widened by 0.06 each side
    assert M.reference_span([("S2", 3.3), ("S1", 1.0)], 0.06) == pytest.approx((0.94, 3.36))
    assert M.reference_span([]) is None


def test_event_scores_bad_sound():
    with pytest.raises(ParameterError, match="S3"):
        M.event_scores([("S3", 1.0)], [])
    with pytest.raises(ParameterError):
        M.event_scores([1.0], [])


def test_pool_scores_sums_counts():
    a = M.event_scores([("S1", 1.0), ("S2", 1.3)], [("S1", 1.01)])   # S1 TP (10 ms), S2 FN
    b = M.event_scores([("S1", 1.0)], [("S1", 1.04), ("S2", 2.0)])   # S1 TP (40 ms), S2 FP
    p = M.pool_scores([a, b])
    assert (p["S1"]["tp"], p["S1"]["fp"], p["S1"]["fn"]) == (2, 0, 0)
    assert (p["S2"]["tp"], p["S2"]["fp"], p["S2"]["fn"]) == (0, 1, 1)
    # pooled: TP 2, FP 1, FN 1 -> F1 = 4 / (4 + 1 + 1) = 2/3
    assert p["f1"] == pytest.approx(4 / 6)
    assert p["timing_error_ms_median"] == pytest.approx(25.0)  # median(10, 40)
    assert p["n_recordings"] == 2
    assert math.isnan(M.pool_scores([])["f1"])


# --------------------------------------------------------------------------- CirCor rows

ROWS = [
    (0.0, 1.0, 0),      # unannotated
    (1.0, 1.1, 1),      # S1 touching state 0 -> dropped (don't care)
    (1.1, 1.3, 2),
    (1.3, 1.4, 3),      # S2 centre 1.35 -> kept
    (1.4, 1.8, 4),
    (1.8, 1.9, 1),      # S1 centre 1.85 -> kept
    (1.9, 2.1, 2),
    (2.1, 2.2, 3),      # S2 touching state 0 -> dropped
    (2.2, 3.0, 0),
    (3.0, 3.0, 0),      # zero-length row: ignored
    (3.0, 3.1, 4),
    (3.1, 3.2, 1),      # S1 centre 3.15, neighbours annotated -> kept
    (3.2, 3.4, 2),
    (3.4, 3.5, 3),      # S2 at the recording's end -> dropped
]


def test_events_from_rows_and_spans():
    ev = M.events_from_rows(ROWS)
    assert [(e.sound, round(e.centre_s, 6)) for e in ev] == [
        ("S2", 1.35), ("S1", 1.85), ("S1", 3.15)]
    assert M.annotated_spans(ROWS) == [(1.0, 2.2), (3.0, 3.5)]


def test_events_from_rows_tolerates_small_gaps():
    # 20 ms gap between systole and S2 (as in a few CirCor files): still contiguous;
    # a 100 ms gap is not.
    rows = [(0.0, 0.2, 4), (0.2, 0.3, 1), (0.3, 0.5, 2), (0.52, 0.6, 3), (0.6, 0.9, 4),
            (1.0, 1.1, 1), (1.1, 1.3, 2)]
    ev = M.events_from_rows(rows)
    assert [(e.sound, round(e.centre_s, 6)) for e in ev] == [("S1", 0.25), ("S2", 0.56)]
    assert M.annotated_spans(rows) == [(0.0, 0.9), (1.0, 1.3)]


def test_score_against_rows():
    est = [("S1", 0.5),    # in the state-0 stretch -> ignored
           ("S1", 1.06),   # matches the dropped S1 (1.05) -> don't care
           ("S2", 1.36),   # TP (10 ms)
           ("S1", 1.84),   # TP (10 ms)
           ("S2", 2.15),   # matches the dropped S2 (2.15) -> don't care
           ("S1", 2.6),    # unannotated -> ignored
           ("S2", 3.25)]   # inside annotation, no S2 near -> FP
    # S1 3.15 has no estimate -> FN
    s = M.score_against_rows(ROWS, est, 0.06)
    assert (s["S1"]["tp"], s["S1"]["fp"], s["S1"]["fn"]) == (1, 0, 1)
    assert (s["S2"]["tp"], s["S2"]["fp"], s["S2"]["fn"]) == (1, 1, 0)
    assert s["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert s["timing_error_ms_median"] == pytest.approx(10.0)


@pytest.mark.corpus
def test_score_against_rows_real_annotation_self_score(circor_root):
    from heartsound.datasets.circor2022 import read_tsv

    rows = read_tsv(circor_root / "recordings" / "9979_AV.tsv")
    ref = M.events_from_rows(rows)
    assert len(ref) > 5
    s = M.score_against_rows(rows, ref)
    assert s["f1"] == 1.0 and s["fp"] == 0 and s["fn"] == 0
    # Shifting every estimate by 100 ms (beyond 60 ms) loses them all.
    shifted = [(e.sound, e.centre_s + 0.1) for e in ref]
    assert M.score_against_rows(rows, shifted)["tp"] == 0


@pytest.mark.corpus
def test_pascal_annotations_scored_with_reference_span(pascal_root):
    from heartsound.datasets.pascal2011 import read_seg

    seg = read_seg(pascal_root)
    ref = seg["normal__201102081321"]
    span = M.reference_span(ref, 0.06)
    # estimates 50 ms late, plus one S1 before the annotated stretch (ignored by the span)
    est = [(s, t + 0.05) for s, t in ref] + [("S1", span[0] - 0.5)]
    s = M.event_scores(ref, est, 0.06, span=span)
    assert s["tp"] == len(ref) and s["fp"] == 0 and s["fn"] == 0
    assert s["timing_error_ms_median"] == pytest.approx(50.0)
    # without the span the extra S1 is a false positive
    assert M.event_scores(ref, est, 0.06)["fp"] == 1


# --------------------------------------------------------------------------- states


def test_state_accuracy():
    ref = [0, 0, 1, 1, 2, 2, 3, 4]
    est = [1, 2, 1, 2, 2, 2, 3, 3]
    # scored samples (ref != 0): 6; correct: idx 2, 4, 5, 6 -> 4/6
    assert M.state_accuracy(ref, est) == pytest.approx(4 / 6)
    # all 8: correct 4/8
    assert M.state_accuracy(ref, est, ignore=None) == pytest.approx(4 / 8)
    assert math.isnan(M.state_accuracy([0, 0], [1, 1]))
    with pytest.raises(ParameterError):
        M.state_accuracy([1, 2, 3], [1, 2])


# --------------------------------------------------------------------------- classification


def test_confusion_accuracy_uar():
    t = ["a", "a", "a", "b", "b", "c"]
    p = ["a", "b", "a", "b", "c", "c"]
    cm = M.confusion_matrix(t, p, ["a", "b", "c"])
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert M.accuracy(t, p) == pytest.approx(4 / 6)
    # recalls a 2/3, b 1/2, c 1/1 -> UAR (2/3 + 1/2 + 1) / 3 = 13/18
    assert M.uar(t, p) == pytest.approx(13 / 18)
    # label d has no support: left out of the mean
    assert M.uar(t, p, labels=["a", "b", "c", "d"]) == pytest.approx(13 / 18)
    with pytest.raises(ParameterError):
        M.confusion_matrix(t, p, ["a", "b"])
    with pytest.raises(ParameterError):
        M.accuracy(["a"], ["a", "b"])


def test_sensitivity_specificity_macc():
    t = ["abnormal"] * 4 + ["normal"] * 6
    p = ["abnormal", "abnormal", "abnormal", "normal",      # Se 3/4
         "normal", "normal", "normal", "normal", "abnormal", "abnormal"]  # Sp 4/6
    se, sp = M.sensitivity_specificity(t, p)
    assert se == pytest.approx(0.75) and sp == pytest.approx(4 / 6)
    assert M.macc(t, p) == pytest.approx((0.75 + 4 / 6) / 2)
    # PhysioNet 2016 codes
    assert M.macc([1, 1, -1, -1], [1, -1, -1, -1], positive=1) == pytest.approx((0.5 + 1) / 2)


def test_roc_auc_and_curve():
    # positives 0.8, 0.4; negatives 0.5, 0.1. Pairs (pos > neg): 0.8>0.5, 0.8>0.1,
    # 0.4>0.1, 0.4<0.5 -> 3 of 4 -> AUC 0.75
    y = [1, 1, 0, 0]
    s = [0.8, 0.4, 0.5, 0.1]
    assert M.roc_auc(y, s) == pytest.approx(0.75)
    assert M.roc_auc(["ab", "ab", "n", "n"], s, positive="ab") == pytest.approx(0.75)
    fpr, tpr, thr = M.roc_curve(y, s)
    assert np.trapezoid(tpr, fpr) == pytest.approx(0.75)
    with pytest.raises(ParameterError):
        M.roc_auc([1, 1], [0.2, 0.3])


def test_murmur_weighted_accuracy():
    t = ["Present", "Present", "Unknown", "Absent", "Absent", "Absent"]
    p = ["Present", "Absent", "Unknown", "Absent", "Present", "Absent"]
    # correct: 1 Present, 1 Unknown, 2 Absent -> 5*1 + 3*1 + 1*2 = 10
    # totals: 2 Present, 1 Unknown, 3 Absent -> 5*2 + 3*1 + 1*3 = 16
    assert M.murmur_weighted_accuracy(t, p) == pytest.approx(10 / 16)
    with pytest.raises(ParameterError, match="present"):
        M.murmur_weighted_accuracy(["present"], ["Present"])


def test_outcome_cost():
    t = ["Abnormal", "Abnormal", "Normal", "Normal"]
    p = ["Abnormal", "Normal", "Abnormal", "Normal"]
    # n 4, TP 1, FP 1, FN 1; r = 2/4 = 0.5
    # expert = (25 + 397*0.5 - 1718*0.25 + 11296*0.0625) * 4 = (25 + 198.5 - 429.5 + 706) * 4
    #        = 500 * 4 = 2000
    # total = 10*4 + 2000 + 10000*1 + 50000*1 = 62040 -> per patient 15510
    assert M.outcome_cost(t, p) == pytest.approx(15510.0)


# --------------------------------------------------------------------------- scikit-learn


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_equal_sklearn_and_definitions(seed):
    from sklearn import metrics as skm

    rng = np.random.default_rng(seed)
    labels = ["Present", "Unknown", "Absent"]
    t = rng.choice(labels, 60, p=[0.2, 0.1, 0.7]).tolist()
    p = rng.choice(labels, 60).tolist()
    assert M.uar(t, p) == pytest.approx(skm.balanced_accuracy_score(t, p))
    assert M.uar(t, p, labels) == pytest.approx(skm.recall_score(t, p, average="macro"))
    assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    np.testing.assert_array_equal(M.confusion_matrix(t, p, labels),
                                  skm.confusion_matrix(t, p, labels=labels))
    # the challenge formula, written out with the weights
    w = M.MURMUR_WEIGHTS
    num = sum(w[a] for a, b in zip(t, p) if a == b)
    assert M.murmur_weighted_accuracy(t, p) == pytest.approx(num / sum(w[a] for a in t))
    yb = [x == "Present" for x in t]
    pb = [x == "Present" for x in p]
    se, sp = M.sensitivity_specificity(t, p, positive="Present")
    assert se == pytest.approx(skm.recall_score(yb, pb))
    assert sp == pytest.approx(skm.recall_score(yb, pb, pos_label=False))
    s = rng.random(60)
    assert M.roc_auc(yb, s) == pytest.approx(skm.roc_auc_score(yb, s))


def test_classification_metrics_empty_and_one_class():
    assert math.isnan(M.uar([], []))
    assert math.isnan(M.accuracy([], []))
    assert math.isnan(M.murmur_weighted_accuracy([], []))
    assert math.isnan(M.outcome_cost([], []))
    np.testing.assert_array_equal(M.confusion_matrix([], [], ["a", "b"]), np.zeros((2, 2)))
    se, sp = M.sensitivity_specificity(["abnormal"] * 2, ["abnormal", "normal"])
    assert se == 0.5 and math.isnan(sp)
    # a predicted class absent from y_true adds no recall to the mean (no warning either)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert M.uar(["a", "a"], ["a", "b"]) == 0.5

