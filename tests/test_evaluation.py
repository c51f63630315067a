"""The evaluation package: one scoring path per task, with worked-out answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heartsound.classification.tasks import patient_groups, patient_id
from heartsound.datasets.base import Record
from heartsound.errors import ParameterError
from heartsound.evaluation import classification as C
from heartsound.evaluation import segmentation as S
from heartsound.segmentation.result import Event


def _rec(rid: str, corpus: str, label: str | None, group: str | None = None,
         **labels) -> Record:
    return Record(id=rid, corpus=corpus, audio_path=f"{rid}.flac", group=group or rid,
                  label=label, labels=labels)


# --------------------------------------------------------------------------- patients


def test_patient_id_is_circor_patient_else_recording():
    recs = [_rec("9979_AV", "circor2022", "Present", group="9979", patient_id="9979"),
            _rec("9979_PV", "circor2022", "Present", group="9979", patient_id="9979"),
            # a second-campaign visit: its own patient id, merged only for splits
            _rec("50001_AV", "circor2022", "Absent", group="9979", patient_id="50001",
                 additional_id="9979"),
            _rec("a0001", "physionet2016", "abnormal", database="a"),
            _rec("103_1305031931979_B", "pascal2011", "murmur", group="B_103")]
    assert [patient_id(r) for r in recs] == ["9979", "9979", "50001", "a0001",
                                             "103_1305031931979_B"]
    assert patient_groups(recs) == {"9979": [0, 1], "50001": [2], "a0001": [3],
                                    "103_1305031931979_B": [4]}


# --------------------------------------------------------------------------- folds


def _lodo_records() -> list[Record]:
    return [_rec("a1", "physionet2016", "normal", database="a"),
            _rec("c1", "circor2022", "Present", patient_id="1"),
            _rec("b1", "physionet2016", "abnormal", database="b"),
            _rec("x1", "physionet2016", "unsure", database="b"),   # no target: dropped
            _rec("a2", "physionet2016", "abnormal", database="a"),
            _rec("c2", "circor2022", "Unknown", patient_id="2"),   # no abnormal target
            _rec("c3", "circor2022", "Absent", patient_id="3")]


def test_lodo_folds_hold_out_each_database_and_keep_circor_in_training():
    folds = C.lodo_folds("abnormal", _lodo_records())
    # kept (in order): a1 c1 b1 a2 c3 -> indices 0..4
    assert folds == [([1, 2, 4], [0, 3]),   # test database a
                     ([0, 1, 3, 4], [2])]   # test database b
    with pytest.raises(ParameterError, match="PhysioNet"):
        C.lodo_folds("abnormal", [r for r in _lodo_records() if r.corpus == "circor2022"])


def test_summarize_cv_pools_and_averages_folds():
    folds = [{"fold": 0, "truth": ["abnormal", "normal", "normal"],
              "pred": ["abnormal", "abnormal", "normal"],
              "probs": [[0.2, 0.8], [0.4, 0.6], [0.9, 0.1]],
              "test_ids": ["physionet2016/a0001", "physionet2016/a0002", "physionet2016/a0003"]},
             {"fold": 1, "truth": ["abnormal", "normal"], "pred": ["normal", "normal"],
              "probs": [[0.7, 0.3], [0.6, 0.4]],
              "test_ids": ["physionet2016/b0001", "physionet2016/b0002"]}]
    s = C.summarize_cv("abnormal", [], folds, lodo=True)
    assert s["n"] == 5 and [f["database"] for f in s["per_fold"]] == ["a", "b"]
    # fold 0: Se 1/1, Sp 1/2 -> MAcc 0.75; fold 1: Se 0/1, Sp 1/1 -> 0.5
    assert [f["macc"] for f in s["per_fold"]] == pytest.approx([0.75, 0.5])
    assert s["mean_macc"] == pytest.approx(0.625)
    # pooled: Se 1/2, Sp 2/3
    assert s["pooled"]["macc"] == pytest.approx((0.5 + 2 / 3) / 2)
    # AUC fold 0: positive 0.8 above both negatives -> 1; fold 1: 0.3 < 0.4 -> 0
    assert [f["auc"] for f in s["per_fold"]] == [1.0, 0.0]
    assert s["mean_auc"] == 0.5


def test_summarize_cv_murmur_headline_is_weighted_accuracy():
    folds = [{"fold": 0, "truth": ["Present", "Absent"], "pred": ["Present", "Present"],
              "probs": [], "test_ids": []}]
    s = C.summarize_cv("murmur", [], folds)
    # (5 * 1 + 1 * 0) / (5 + 1)
    assert s["mean_weighted_accuracy"] == pytest.approx(5 / 6)
    assert "mean_auc" not in s and "database" not in s["per_fold"][0]


def test_binary_auc_none_for_one_class():
    assert C.binary_auc([True, True], [0.1, 0.2]) is None
    assert C.binary_auc([True, False], [0.9, 0.2]) == 1.0


# --------------------------------------------------------------------------- segmentation


ROWS = [(0.0, 0.2, 4), (0.2, 0.3, 1), (0.3, 0.5, 2), (0.5, 0.6, 3), (0.6, 0.9, 4),
        (0.9, 1.0, 1)]   # S1 0.25, S2 0.55 kept; S1 0.95 touches the end: don't care


def test_score_circor_same_for_events_and_pairs():
    events = [Event("S1", 0.21, 0.31), Event("S2", 0.52, 0.62), Event("S1", 0.9, 1.0)]
    pairs = [("S1", 0.26), ("S2", 0.57), ("S1", 0.95)]
    a = S.score_circor(ROWS, events, (0.03, 0.06))
    b = S.score_circor(ROWS, pairs, (0.03, 0.06))
    assert list(a) == [0.03, 0.06]
    for tol in a:
        assert (a[tol]["tp"], a[tol]["fp"], a[tol]["fn"]) == (2, 0, 0)  # 0.95: don't care
        assert a[tol]["timing_errors_ms"] == pytest.approx(b[tol]["timing_errors_ms"])
        assert a[tol]["timing_errors_ms"] == pytest.approx([10.0, 20.0])


def test_score_pascal_span_and_annotation_gaps():
    # cycle 1 s (S1 every second), one cycle unannotated (2.0-3.0 missing)
    ref = [("S1", 0.0), ("S2", 0.3), ("S1", 1.0), ("S2", 1.3),
           ("S1", 3.0), ("S2", 3.3), ("S1", 4.0)]
    est = ref + [("S1", 2.0), ("S2", 2.3), ("S1", 9.0)]   # 9.0 outside the span
    res = S.score_pascal(ref, est, (0.06,))
    assert (res[0.06]["tp"], res[0.06]["fp"], res[0.06]["fn"]) == (7, 2, 0)
    assert S.unannotated_beats(ref, est, 0.06) == {"gaps": [(1.36, 2.94)], "n_in_gaps": 2}
    ng = S.score_pascal(ref, est, (0.06,), exclude_gaps=True)
    assert (ng[0.06]["tp"], ng[0.06]["fp"], ng[0.06]["fn"]) == (7, 0, 0)


def test_summary_pools_counts_per_tolerance():
    a = S.score_pascal([("S1", 1.0), ("S2", 1.3)], [("S1", 1.02)], (0.03, 0.1))
    b = S.score_pascal([("S1", 1.0), ("S2", 1.3)], [("S1", 1.05), ("S2", 1.3)], (0.03, 0.1))
    out = S.summary({t: [a[t], b[t]] for t in (0.03, 0.1)})
    assert list(out) == ["30ms", "100ms"]
    # 30 ms: S1 TP 1 (1.02), FP 1 (1.05), FN 1; S2 TP 1, FN 1
    assert (out["30ms"]["S1"]["tp"], out["30ms"]["S1"]["fp"], out["30ms"]["S1"]["fn"]) == (1, 1, 1)
    assert out["30ms"]["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert out["100ms"]["f1"] == pytest.approx(6 / 7)  # TP 3, FN 1
    assert out["100ms"]["timing_error_ms_median"] == pytest.approx(20.0)
    assert set(out["100ms"]) == {"S1", "S2", "f1", "sensitivity", "ppv",
                                 "timing_error_ms_median"}


def test_evaluate_unknown_dataset_lists_valid_names(tmp_path):
    with pytest.raises(ParameterError, match="circor2022, pascal2011"):
        S.evaluate("physionet2016", tmp_path, lambda y, sr: None)


def test_reference_heart_rate_and_agreement():
    rows = [(0.0, 0.1, 1), (0.1, 0.4, 2), (0.4, 0.5, 3), (0.5, 1.0, 4), (1.0, 1.1, 1),
            (1.1, 1.5, 0), (2.0, 2.1, 1), (2.1, 2.4, 2), (2.4, 2.5, 3), (2.5, 2.8, 4),
            (2.8, 2.9, 1)]
    # S1 onsets 0.0, 1.0 | state 0 | 2.0, 2.8 -> intervals 1.0, 0.8 -> median 0.9 s
    assert S.reference_heart_rate(rows) == pytest.approx(60 / 0.9)
    assert math.isnan(S.reference_heart_rate([(0.0, 0.1, 1)]))
    agree = S.heart_rate_agreement([70, 36, 140, 100, 50], [70, 70, 70, 70, float("nan")])
    assert agree == {"n": 4, "within_10pct": 0.25, "half": 0.25, "double": 0.25,
                     "other": 0.25}


@pytest.mark.corpus
@pytest.mark.slow
def test_cross_validate_circor_pools_its_folds(circor_root, monkeypatch):
    from heartsound.datasets import circor2022

    records = [r for r in circor2022.read(circor_root) if r.annotation_path is not None][:12]
    monkeypatch.setattr(circor2022, "read", lambda root, *a, **kw: list(records))
    res = S.cross_validate_circor(circor_root, k=2, seed=0, tolerances=(0.06,))
    assert res["n_recordings"] == 12 and len(res["per_recording"]) == 12
    for key in ("tp", "fp", "fn"):
        total = sum(r[key] for r in res["per_recording"])
        assert total == sum(f["by_tolerance"]["60ms"]["S1"][key]
                            + f["by_tolerance"]["60ms"]["S2"][key] for f in res["folds"])
        assert total == (res["pooled"]["60ms"]["S1"][key] + res["pooled"]["60ms"]["S2"][key])
    assert res["pooled"]["60ms"]["f1"] > 0.8
    assert np.isfinite(res["heart_rate"]["within_10pct"])
