"""The cross-validated estimate ``heartsound calibrate`` prints: out-of-fold decisions of
the calibration against the model's own threshold, with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from heartsound.calibration.estimate import cross_validated, own_threshold
from heartsound.cli.calibrate import estimate_text


def _site(rng, n_pos=20, n_neg=40):
    """Scores that separate the classes perfectly around 0.25, all below the model's
    threshold 0.85: the model's own rule calls nothing abnormal at this site."""
    raw = np.concatenate([rng.uniform(0.3, 0.5, n_pos), rng.uniform(0.05, 0.2, n_neg)])
    lab = np.array(["abnormal"] * n_pos + ["normal"] * n_neg)
    return raw, lab


@pytest.mark.parametrize("method", ["threshold", "platt", "isotonic"])
def test_calibration_that_fixes_the_threshold_is_seen_to_help(rng, method):
    raw, lab = _site(rng)
    est = cross_validated("abnormal", raw, lab, 0.85, method=method)
    assert est["available"] and est["folds"] == 5 and est["n"] == 60
    assert est["calibrated"]["balanced_accuracy"] == 1.0
    assert est["uncalibrated"] == {"balanced_accuracy": 0.5, "sensitivity": 0.0,
                                   "specificity": 1.0}
    lo, hi = est["interval"]["difference"]
    assert 0 < lo <= hi <= 0.5 + 1e-9
    assert "calibrating helps at this site" in estimate_text(est, 60)


def test_uninformative_scores_cannot_show_a_gain(rng):
    raw = rng.uniform(0, 1, 60)  # no relation to the labels
    lab = np.array(["abnormal", "normal"] * 30)
    est = cross_validated("abnormal", raw, lab, 0.5, method="platt")
    lo, hi = est["interval"]["difference"]
    assert lo < 0 < hi
    assert 0.3 < est["calibrated"]["balanced_accuracy"] < 0.7


def test_out_of_fold_means_the_fit_never_saw_the_recording(rng):
    """Scores that are pure noise would be separated perfectly in-sample by isotonic
    regression (a step at every point); out of fold they are not."""
    raw = rng.uniform(0, 1, 40)
    lab = np.where(rng.random(40) < 0.5, "abnormal", "normal")
    lab[:3], lab[3:6] = "abnormal", "normal"
    est = cross_validated("abnormal", raw, lab, 0.5, method="isotonic")
    assert est["calibrated"]["balanced_accuracy"] < 0.8


def test_murmur_unknown_is_left_out_and_own_scores_are_the_baseline(rng):
    raw = np.concatenate([rng.uniform(0.6, 0.9, 10), rng.uniform(0.0, 0.2, 10), [0.5] * 5])
    lab = np.array(["Present"] * 10 + ["Absent"] * 10 + ["Unknown"] * 5)
    own = np.concatenate([np.zeros(10), np.ones(10), np.zeros(5)])  # all wrong
    est = cross_validated("murmur", raw, lab, 0.3, method="threshold", own_scores=own)
    assert est["n"] == 20
    assert est["calibrated"]["balanced_accuracy"] == 1.0
    assert est["uncalibrated"]["balanced_accuracy"] == 0.0


def test_too_few_of_a_class_says_so(rng):
    raw = rng.uniform(0, 1, 12)
    lab = np.array(["abnormal"] * 2 + ["normal"] * 10)
    est = cross_validated("abnormal", raw, lab, 0.5, method="platt")
    assert not est["available"] and "the fewest has 2" in est["reason"]
    assert estimate_text(est, 12).startswith("no cross-validated estimate")


def test_own_threshold_is_the_shipped_rule():
    from heartsound.classification.inference import load_bundle

    assert own_threshold("abnormal") == load_bundle("abnormal")["rules"]["threshold"]
    assert own_threshold("murmur") == load_bundle("murmur")["rules"]["t_present"]


@pytest.mark.slow
def test_cli_skips_unreadable_labelled_files_and_says_so(tmp_path, capsys):
    import json
    import shutil

    from heartsound.calibration import load
    from heartsound.cli import main as cli_main
    from heartsound.pipeline import example_path

    audio = tmp_path / "site"
    audio.mkdir()
    rows = ["file,label"]
    for i, lab in enumerate(["normal", "abnormal"] * 3):
        shutil.copy(example_path(), audio / f"r{i}.wav")
        rows.append(f"r{i}.wav,{lab}")
    (audio / "bad.wav").write_bytes(b"RIFF....WAVEnot audio")
    rows += ["bad.wav,abnormal", "gone.wav,normal"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "cal.json"
    code = cli_main(["calibrate", "--task", "abnormal", "--labels", str(tmp_path / "labels.csv"),
                     "--audio", str(audio), "--out", str(out), "--method", "platt"])
    cap = capsys.readouterr()
    assert code == 1  # written, but some labelled files were left out
    skipped = [ln for ln in cap.err.splitlines() if ln.startswith("heartsound: skipped: ")]
    assert len(skipped) == 2 and "bad.wav" in skipped[0] and "gone.wav" in skipped[1]
    assert "2 of 8 labelled files skipped; fitting on 6" in cap.err
    assert "Traceback" not in cap.err
    prov = load(out).provenance
    assert prov["n_per_class"] == {"abnormal": 3, "normal": 3}
    assert [s["file"].rsplit("/", 1)[-1] for s in prov["skipped"]] == ["bad.wav", "gone.wav"]
    assert prov["estimate"]["available"] and prov["estimate"]["folds"] == 3
    assert json.loads(cap.out)["provenance"]["estimate"] == prov["estimate"]


def test_calibrated_caveat_quotes_the_expected_accuracy(rng):
    from heartsound.calibration import fit

    raw, lab = _site(rng)
    est = cross_validated("abnormal", raw, lab, 0.85, method="threshold")
    cal = fit("abnormal", raw, lab, method="threshold", provenance={"estimate": est})
    s = cal.summary()
    assert s["expected"] == {"balanced_accuracy": 1.0, "interval": [1.0, 1.0]}
    assert "Site-calibrated on 60 labelled recordings" in cal.caveat()
    assert "expected balanced accuracy at that site 1.00 (1.00-1.00)" in cal.caveat()
    assert "recalibrate" not in cal.caveat()
    old = fit("abnormal", raw, lab, method="threshold")  # a file without an estimate
    assert old.summary()["expected"] is None and "expected" not in old.caveat()
