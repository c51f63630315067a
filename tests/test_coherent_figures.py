"""scripts/coherent_figures.py: the coherent murmur/severity decision scored from stored
out-of-fold probabilities, on tiny synthetic folds with worked-out answers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from heartsound.datasets.base import Record

_PATH = Path(__file__).resolve().parents[1] / "scripts" / "coherent_figures.py"
_spec = importlib.util.spec_from_file_location("coherent_figures", _PATH)
cf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cf)

MUR = {"t_present": 0.5, "t_unknown": 0.5}
SEV = {"t_murmur": 0.5, "bias": 0.0}


def _rec(rid: str, label: str, grade: str | None = None, at: bool = True) -> Record:
    pid = rid.split("_")[0]
    return Record(id=rid, corpus="circor2022", audio_path=f"{rid}.flac", group=pid,
                  label=label, labels={"patient_id": pid, "systolic_murmur_grading": grade,
                                       "murmur_at_location": at})


def test_recording_decision_grades_only_a_present_murmur():
    ps = np.array([0.1, 0.1, 0.8])  # the severity model alone: moderate_severe
    assert cf.recording_decision(np.array([0.9, 0.05, 0.05]), ps, MUR, SEV) == (
        "Present", "moderate_severe")  # P(ms | murmur) = 0.8 / 0.9 >= 0.5
    assert cf.recording_decision(np.array([0.1, 0.1, 0.8]), ps, MUR, SEV) == (
        "Absent", "normal")
    assert cf.recording_decision(np.array([0.1, 0.7, 0.2]), ps, MUR, SEV) == (
        "Unknown", None)
    # the alternative policy: murmur Unknown -> the severity model's own rule
    assert cf.recording_decision(np.array([0.1, 0.7, 0.2]), ps, MUR, SEV,
                                 "severity_model") == ("Unknown", "moderate_severe")


def test_worst_label_order():
    assert cf.worst("severity", [None, "normal"]) is None
    assert cf.worst("severity", ["normal", "mild", None]) == "mild"
    assert cf.worst("murmur", ["Absent", "Unknown"]) == "Unknown"


def test_patient_rules_project_and_worst():
    Pm = np.array([[0.2, 0.1, 0.7], [0.6, 0.1, 0.3]])
    Ps = np.array([[0.9, 0.05, 0.05], [0.3, 0.5, 0.2]])
    # grade of the most murmur-like recording (row 1): P(ms | murmur) 0.2 / 0.7 < 0.5
    assert cf.patient_decision(Pm, Ps, MUR, SEV, "project") == ("Present", "mild")
    assert cf.patient_decision(Pm, Ps, MUR, SEV, "worst") == ("Present", "mild")
    # mean P(Unknown) 0.45 < 0.5: the patient is Absent; one recording alone is Unknown
    Pm = np.array([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    assert cf.patient_decision(Pm, Ps, MUR, SEV, "project") == ("Absent", "normal")
    assert cf.patient_decision(Pm, Ps, MUR, SEV, "worst") == ("Unknown", None)


def test_severity_uar_counts_not_assessable_as_a_miss():
    truth = ["normal", "mild", "mild", "moderate_severe"]
    assert cf.severity_uar(truth, ["normal", None, "mild", "moderate_severe"]) == (
        pytest.approx((1 + 0.5 + 1) / 3))


def _folds():
    """Two folds of two patients each; patient 3 is Present without a grade (no
    severity target), patient 4 Unknown: both are left out of the severity UAR."""
    recs = [_rec("1_AV", "Present", "II/VI"), _rec("1_PV", "Present", "II/VI", at=False),
            _rec("2_AV", "Absent"), _rec("3_AV", "Present"), _rec("4_AV", "Unknown"),
            _rec("5_AV", "Absent")]
    mur = [{"test_ids": ["circor2022/1_AV", "circor2022/1_PV", "circor2022/2_AV"],
            "probs": [[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.6, 0.1, 0.3]], "rules": MUR},
           {"test_ids": ["circor2022/3_AV", "circor2022/4_AV", "circor2022/5_AV"],
            "probs": [[0.1, 0.1, 0.8], [0.1, 0.8, 0.1], [0.1, 0.7, 0.2]], "rules": MUR}]
    sev = [{"test_ids": ["circor2022/1_AV", "circor2022/1_PV"],
            "probs": [[0.1, 0.2, 0.7], [0.9, 0.05, 0.05]], "rules": SEV},
           {"test_ids": ["circor2022/2_AV", "circor2022/5_AV"],
            "probs": [[0.2, 0.6, 0.2], [0.3, 0.1, 0.6]], "rules": SEV}]
    return recs, cf.oof(mur), cf.oof(sev)


def test_oof_keeps_each_records_fold_and_rules():
    _, mo, so = _folds()
    assert mo["circor2022/4_AV"][2] == 1 and mo["circor2022/4_AV"][1] == MUR
    assert so["circor2022/1_PV"][0] == pytest.approx([0.9, 0.05, 0.05])
    assert len(mo) == 6 and len(so) == 4


@pytest.mark.filterwarnings("ignore:A single label was found")
def test_patient_rows_and_summary():
    recs, mo, so = _folds()
    rows = {r["patient"]: r for r in cf.patient_rows(recs, mo, so)}
    assert set(rows) == {"1", "2", "3", "4", "5"}
    assert (rows["1"]["murmur"], rows["1"]["coherent"], rows["1"]["alone"]) == (
        "Present", "moderate_severe", "moderate_severe")
    # patient 2: murmur Present (0.6) -> graded mild (0.2 / 0.8); alone also mild
    assert (rows["2"]["murmur"], rows["2"]["coherent"], rows["2"]["alone"]) == (
        "Present", "mild", "mild")
    # patient 5: murmur Unknown -> not assessable; the severity model alone: ms
    assert (rows["5"]["murmur"], rows["5"]["coherent"], rows["5"]["alone"]) == (
        "Unknown", None, "moderate_severe")
    assert "coherent" not in rows["3"] and rows["3"]["murmur"] == "Absent"
    s = cf.summarise(list(rows.values()))
    assert s["n_severity"] == 3 and s["n_murmur"] == 5
    # severity fold 0: patient 1 only (right) -> 1.0; fold 1: patients 2, 5, both normal,
    # both wrong -> 0.0; pooled: recall normal 0, moderate_severe 1 -> 0.5
    assert s["severity_uar_coherent"]["per_fold"] == [1.0, 0.0]
    assert s["severity_uar_coherent"]["pooled"] == 0.5
    assert s["not_assessable"] == 1
    assert s["murmur_free_graded_coherent"] == {"n": 2, "mild": 1, "moderate_severe": 0}
    assert s["murmur_free_graded_alone"] == {"n": 2, "mild": 1, "moderate_severe": 1}
    # murmur fold 0: 1 Present right (5), 2 Absent called Present (0) -> 5 / 6;
    # fold 1: 3 Present called Absent (0 of 5), 4 Unknown right (3), 5 Absent wrong (0)
    assert s["murmur_weighted_accuracy"]["per_fold"] == pytest.approx([5 / 6, 3 / 9])


def test_gate_and_bias_replace_the_fold_rules():
    recs, mo, so = _folds()
    rows = {r["patient"]: r for r in cf.patient_rows(recs, mo, so, gate=0.7, bias=2.0)}
    assert rows["2"]["murmur"] == "Absent" and rows["2"]["coherent"] == "normal"
    # P(ms | murmur) 0.7 / 0.9 = 0.78 < 1 / (1 + e^-2) = 0.88 -> mild
    assert rows["1"]["coherent"] == "mild"


def test_paired_difference_of_identical_decisions_is_zero():
    truth = ["normal", "mild", "moderate_severe"] * 4
    pred = ["normal", None, "mild"] * 4
    assert cf.paired_uar_difference(truth, pred, pred, n=50) == (0.0, 0.0, 0.0)
    d, lo, hi = cf.paired_uar_difference(truth, pred, truth, n=200)
    assert d == pytest.approx(1 - 1 / 3) and lo <= d <= hi


def test_severity_alone_patient_rules():
    # recording 0 is the most murmur-like (0.6) and mild; recording 1 (0.55) is ms
    Ps = np.array([[0.4, 0.5, 0.1], [0.45, 0.05, 0.5]])
    assert cf.severity_alone(Ps, SEV, "project") == "mild"
    assert cf.severity_alone(Ps, SEV, "worst") == "moderate_severe"
