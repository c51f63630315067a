"""Site calibration: fitting with known answers, the file and its checks, applying it to
results, and ``analyze`` / ``heartsound calibrate`` / ``analyze --calibration``."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from heartsound import bundle
from heartsound.calibration import (Calibration, apply, as_calibrations, fit, load,
                                    read_labels, save)
from heartsound.calibration.fitting import (balanced_accuracy, best_threshold,
                                            logistic_regression)
from heartsound.classification.inference import ClassificationResult
from heartsound.cli import main as cli_main
from heartsound.errors import ModelError, ParameterError
from heartsound.pipeline import analyze, example_path

SHA = bundle.REGISTRY["abnormal"].sha256


def _cal(method: str = "threshold", threshold: float = 0.5, task: str = "abnormal",
         **params) -> Calibration:
    prov = {"model_sha256": bundle.REGISTRY[task].sha256,
            "n_per_class": {"abnormal": 3, "normal": 4}}
    return Calibration(task, method, threshold, params, prov)


def _result(task: str, probs: dict[str, float], n_crops: int = 4) -> ClassificationResult:
    p = np.array(list(probs.values()))
    return ClassificationResult(task=task, label=None, probabilities=probs, model="m",
                                attention=np.ones(10) / 10, attention_times_s=np.arange(10.0),
                                crop_probabilities=np.tile(p, (n_crops, 1)))


def test_best_threshold_separates_separable_scores():
    s = np.array([0.1, 0.2, 0.3, 0.6, 0.7])
    y = np.array([False, False, False, True, True])
    t = best_threshold(s, y)
    assert 0.3 < t < 0.6
    assert balanced_accuracy(y, s >= t) == 1.0


def test_balanced_accuracy_known_value():
    y = np.array([True, True, False, False, False, False])
    pred = np.array([True, False, False, False, False, True])
    assert balanced_accuracy(y, pred) == pytest.approx(0.5 * (0.5 + 0.75))


def test_logistic_regression_recovers_known_coefficients(rng):
    x = rng.normal(size=(20000, 1))
    y = rng.random(20000) < 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0)))
    coef, b = logistic_regression(x, y)
    assert coef[0] == pytest.approx(2.0, abs=0.1)
    assert b == pytest.approx(-1.0, abs=0.08)


def test_platt_flips_an_inverted_score(rng):
    """At a site where the model ranks backwards, Platt learns a negative slope and the
    calibrated decision recovers the classes; a threshold alone cannot."""
    y = np.r_[np.ones(40, bool), np.zeros(60, bool)]
    raw = np.where(y, rng.uniform(0.05, 0.4, 100), rng.uniform(0.5, 0.95, 100))
    lab = np.where(y, "abnormal", "normal")
    platt = fit("abnormal", raw, lab, method="platt")
    assert platt.params["coef"][0] < 0
    assert platt.threshold == pytest.approx(0.4)  # the labelled share of abnormal
    assert balanced_accuracy(y, platt.calibrated(raw) >= platt.threshold) == 1.0
    thr = fit("abnormal", raw, lab, method="threshold")
    assert balanced_accuracy(y, thr.calibrated(raw) >= thr.threshold) <= 0.5


def test_isotonic_is_monotone_and_in_unit_interval(rng):
    raw = rng.random(60)
    lab = np.where(raw + rng.normal(0, 0.2, 60) > 0.5, "abnormal", "normal")
    cal = fit("abnormal", raw, lab, method="isotonic")
    q = cal.calibrated(np.linspace(0, 1, 50))
    assert np.all(np.diff(q) >= 0) and q.min() >= 0 and q.max() <= 1


def test_adapt_uses_the_profile_when_it_carries_the_class(rng):
    """Raw scores carry nothing; one profile dimension carries the class: ``adapt``
    separates the classes, ``platt`` cannot."""
    n = 80
    y = np.arange(n) < 30
    raw = rng.uniform(0.3, 0.7, n)
    prof = rng.normal(size=(n, 32))
    prof[:, 5] += np.where(y, 3.0, -3.0)
    lab = np.where(y, "abnormal", "normal")
    adapt = fit("abnormal", raw, lab, method="adapt", profiles=prof)
    platt = fit("abnormal", raw, lab, method="platt")
    assert balanced_accuracy(y, adapt.calibrated(raw, prof) >= adapt.threshold) > 0.95
    assert balanced_accuracy(y, platt.calibrated(raw) >= platt.threshold) < 0.8
    with pytest.raises(ParameterError, match="profiles"):
        adapt.calibrated(raw)


@pytest.mark.parametrize("kwargs, match", [
    ({"labels": ["abnormal", "normal", "normal"]}, "at least 2"),
    ({"labels": ["abnormal", "abnormal", "healthy"]}, "not classes"),
    ({"task": "severity"}, "supports tasks"),
    ({"method": "magic"}, "unknown calibration method"),
    ({"method": "adapt"}, "profiles"),
])
def test_fit_rejects_bad_input(kwargs, match):
    args = {"task": "abnormal", "labels": ["abnormal", "abnormal", "normal", "normal"]}
    args.update(kwargs)
    raw = np.linspace(0.1, 0.9, len(args["labels"]))
    with pytest.raises(ParameterError, match=match):
        fit(args["task"], raw, args["labels"], method=kwargs.get("method", "platt"))


def test_fit_records_provenance_and_skips_unknown_murmur():
    raw = [0.9, 0.8, 0.2, 0.1, 0.5]
    cal = fit("murmur", raw, ["Present", "Present", "Absent", "Absent", "Unknown"],
              method="threshold", provenance={"labels": "site.csv"})
    p = cal.provenance
    assert p["model_sha256"] == bundle.REGISTRY["murmur"].sha256
    assert p["n_per_class"] == {"Absent": 2, "Present": 2}
    assert p["labels"] == "site.csv" and p["method"] == "threshold"
    assert {"date", "heartsound_version"} <= set(p)
    assert 0.2 < cal.threshold < 0.8


def test_save_load_round_trip_and_checks(tmp_path):
    cal = fit("abnormal", [0.1, 0.2, 0.7, 0.9], ["normal", "normal", "abnormal", "abnormal"])
    path = save(cal, tmp_path / "site.json")
    back = load(path)
    assert back.task == "abnormal" and back.method == "platt"
    assert back.threshold == pytest.approx(cal.threshold)
    assert np.allclose(back.calibrated([0.3, 0.8]), cal.calibrated([0.3, 0.8]), atol=1e-5)
    assert back.sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    assert back.summary()["file"] == "site.json" and back.summary()["fitted_on"] == 4
    with pytest.raises(ParameterError, match="not 'murmur'"):
        back.check("murmur", SHA)
    with pytest.raises(ModelError, match="refit"):
        back.check("abnormal", "0" * 64)
    (tmp_path / "other.json").write_text(json.dumps({"task": "abnormal"}))
    with pytest.raises(ParameterError, match="not a heartsound calibration"):
        load(tmp_path / "other.json")
    with pytest.raises(ParameterError, match="cannot read"):
        load(tmp_path / "missing.json")


def test_as_calibrations_rejects_other_model_and_two_for_one_task(tmp_path):
    cal = _cal()
    wrong = replace(cal, provenance={**cal.provenance, "model_sha256": "f" * 64})
    with pytest.raises(ModelError):
        as_calibrations([save(wrong, tmp_path / "w.json")])
    with pytest.raises(ParameterError, match="two calibrations"):
        as_calibrations([cal, cal])
    assert as_calibrations(None) == {}


def test_apply_abnormal_relabels_and_reports():
    res = _result("abnormal", {"normal": 0.7, "abnormal": 0.3})
    out, info = apply(_cal(threshold=0.25), res)
    assert out.label == "abnormal"
    assert out.probabilities == pytest.approx({"normal": 0.7, "abnormal": 0.3})
    d = out.decision
    assert d.threshold == 0.25 and d.score == pytest.approx(0.3)
    assert d.rule.endswith("-> abnormal") and "site-calibrated" in d.rule
    assert d.interval == pytest.approx((0.3, 0.3)) and d.stability == 1.0
    assert info["raw_score"] == pytest.approx(0.3) and info["method"] == "threshold"
    out2, _ = apply(_cal(threshold=0.35), res)
    assert out2.label == "normal"


def test_apply_platt_murmur_keeps_probabilities_summing_to_one():
    res = _result("murmur", {"Present": 0.2, "Unknown": 0.6, "Absent": 0.2})
    cal = _cal("platt", 0.5, task="murmur", coef=[1.0], intercept=2.0)
    out, _ = apply(cal, res)
    q = 1 / (1 + np.exp(-(np.log(0.2 / 0.8) + 2.0)))
    assert out.probabilities["Present"] == pytest.approx(q)
    assert sum(out.probabilities.values()) == pytest.approx(1.0)
    assert out.probabilities["Unknown"] == pytest.approx(3 * out.probabilities["Absent"])
    assert out.label == "Present"
    low, _ = apply(_cal("threshold", 0.9, task="murmur"), res)
    assert low.label == "Unknown"  # below the threshold: the model's own t_unknown rule
    with pytest.raises(ParameterError):
        apply(_cal(), res)  # an abnormal calibration on a murmur result


def test_read_labels(tmp_path):
    (tmp_path / "l.csv").write_text("file,label\na.wav,normal\nsub/b.wav,abnormal\n")
    rows = read_labels(tmp_path / "l.csv", "abnormal", audio=tmp_path / "audio")
    assert rows == [(tmp_path / "audio" / "a.wav", "normal"),
                    (tmp_path / "audio" / "sub" / "b.wav", "abnormal")]
    (tmp_path / "bad.csv").write_text("file,label\na.wav,normal\nb.wav,sick\n")
    with pytest.raises(ParameterError, match="line 3"):
        read_labels(tmp_path / "bad.csv", "abnormal")
    (tmp_path / "cols.csv").write_text("name,class\na.wav,normal\n")
    with pytest.raises(ParameterError, match="columns"):
        read_labels(tmp_path / "cols.csv", "abnormal")


@pytest.mark.slow
def test_analyze_applies_and_reports_the_calibration(tmp_path):
    path = save(_cal(threshold=0.0), tmp_path / "always.json")
    d = analyze(example_path(), tasks=("abnormal",), evidence=False,
                calibration=path).to_dict()
    c = d["classification"]["abnormal"]
    assert c["label"] == "abnormal"  # every score is >= 0
    assert c["calibration"]["file"] == "always.json"
    assert c["calibration"]["sha256"] == load(path).sha256
    assert c["calibration"]["fitted_on"] == 7
    assert c["decision"]["rule"].endswith("(always.json) -> abnormal")
    plain = analyze(example_path(), tasks=("abnormal",), evidence=False).to_dict()
    assert "calibration" not in plain["classification"]["abnormal"]
    assert c["calibration"]["raw_score"] == pytest.approx(
        plain["classification"]["abnormal"]["probabilities"]["abnormal"], abs=1e-6)
    with pytest.raises(ParameterError, match="not analysed"):
        analyze(example_path(), tasks=("abnormal",), calibration=_cal(task="murmur"))


@pytest.mark.slow
def test_cli_calibrate_then_analyze(tmp_path, capsys):
    audio = tmp_path / "site"
    audio.mkdir()
    rows = ["file,label"]
    for i, lab in enumerate(["normal", "abnormal", "normal", "abnormal"]):
        shutil.copy(example_path(), audio / f"r{i}.wav")
        rows.append(f"r{i}.wav,{lab}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "cal.json"
    assert cli_main(["calibrate", "--task", "abnormal", "--labels",
                     str(tmp_path / "labels.csv"), "--audio", str(audio), "--out",
                     str(out), "--method", "threshold"]) == 0
    cal = load(out)
    assert cal.input_scale is None  # per-band input normalisation only when asked
    assert cal.provenance["n_per_class"] == {"abnormal": 2, "normal": 2}
    assert cal.provenance["labels"] == "labels.csv"
    err = capsys.readouterr().err  # not a terminal: one progress line per file, no \r
    assert "\r" not in err and [ln for ln in err.splitlines() if ln.startswith("scored")] \
        == [f"scored {i}/4" for i in range(1, 5)]
    # 2 recordings of a class: too few for a cross-validated estimate, and it says so
    assert "no cross-validated estimate: needs at least 3" in err
    assert cal.provenance["estimate"]["available"] is False
    assert cli_main(["analyze", str(audio / "r0.wav"), "--tasks", "abnormal",
                     "--calibration", str(out), "--json", "--no-plots",
                     "--out", str(tmp_path / "res")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["classification"]["abnormal"]["calibration"]["file"] == "cal.json"


@pytest.mark.slow
def test_batch_applies_calibration_and_resumes_only_with_the_same(tmp_path):
    from heartsound.batch import run_batch

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(example_path(), src / "r.wav")
    cal = save(_cal(threshold=0.0), tmp_path / "always.json")
    out = tmp_path / "out"
    kw = dict(jobs=0, tasks=("abnormal",), plots=False, progress=False)
    res = run_batch(src, out, calibration=[cal], **kw)
    assert res.n_ok == 1 and res.n_resumed == 0
    d = json.loads((out / "r.heartsound.json").read_text())
    assert d["classification"]["abnormal"]["calibration"]["file"] == "always.json"
    assert d["batch"]["key"]["calibration"]["sha256"] == [load(cal).sha256]
    assert run_batch(src, out, calibration=[cal], **kw).n_resumed == 1
    assert run_batch(src, out, **kw).n_resumed == 0  # without it: redone
    d = json.loads((out / "r.heartsound.json").read_text())
    assert "calibration" not in d["classification"]["abnormal"]
