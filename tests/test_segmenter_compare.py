"""``heartsound.training.segmenter.compare_cv`` scores springer2016 like the Springer CV.

The noise-robustness comparison fits springer2016 per fold inside ``compare_cv``; its clean
figures must equal those of :func:`heartsound.evaluation.segmentation.cross_validate_circor`
(the shipped recipe, band-limited training copies included) on the same folds, and the
noisy audio must be a fixed function of the recording id and SNR.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from heartsound.training import segmenter as training_segmenter


@pytest.fixture(scope="module")
def circor_subset(circor_root):
    from heartsound.datasets import circor2022

    records = circor2022.read(circor_root)
    return [r for r in records if r.annotation_path is not None][:30]


def test_compare_cv_springer_matches_cross_validate_circor(circor_root, circor_subset,
                                                           monkeypatch, tmp_path) -> None:
    from heartsound.datasets import circor2022
    from heartsound.evaluation.segmentation import cross_validate_circor

    monkeypatch.setattr(circor2022, "read", lambda root, *a, **kw: list(circor_subset))
    out = tmp_path / "compare.json"
    res = training_segmenter.compare_cv(circor_root, tmp_path / "no_fold_models", out, k=2,
                                        snrs=(None, 10), methods=("springer2016",))
    ref = cross_validate_circor(circor_root, k=2, seed=0, tolerances=(0.06,))
    assert res["springer_params"]["augment_band_hz"] == [60.0, 250.0]
    assert json.loads(out.read_text())["conditions"] == ["clean", "10dB"]
    for fo, fr in zip(res["folds"], ref["folds"]):
        assert "neural" not in fo
        assert fo["springer2016"]["clean"]["f1"] == pytest.approx(fr["by_tolerance"]["60ms"]["f1"],
                                                                  abs=1e-12)
    clean = res["pooled"]["springer2016"]["clean"]
    assert clean["f1"] == pytest.approx(ref["pooled"]["60ms"]["f1"], abs=1e-12)
    assert clean["n_recordings"] == len(circor_subset)
    # 10 dB white noise costs something but the segmenter still works
    noisy = res["pooled"]["springer2016"]["10dB"]
    assert 0.5 < noisy["f1"] <= clean["f1"] + 0.02


def test_noisy_copy_is_seeded_by_record_and_snr() -> None:
    y = np.sin(np.linspace(0, 200, 4000))
    a = training_segmenter._noisy(y, 10, "1234_AV")
    assert np.array_equal(a, training_segmenter._noisy(y, 10, "1234_AV"))
    assert not np.array_equal(a, training_segmenter._noisy(y, 10, "1234_PV"))
    assert not np.array_equal(a, training_segmenter._noisy(y, 5, "1234_AV"))
    assert training_segmenter._noisy(y, None, "1234_AV") is y
    snr = 10 * np.log10(np.mean(y ** 2) / np.mean((a - y) ** 2))
    assert snr == pytest.approx(10, abs=0.5)
