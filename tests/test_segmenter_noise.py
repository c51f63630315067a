"""The noise-robustness comparison (``heartsound.training.segmenter.compare_cv``) adds
white noise that is a fixed function of the recording id and the SNR.

(Its scores come from :mod:`heartsound.evaluation.segmentation`, the one scoring path,
tested in ``test_evaluation.py``.)
"""

from __future__ import annotations

import numpy as np
import pytest

from heartsound.training import segmenter as training_segmenter


def test_noisy_copy_is_seeded_by_record_and_snr() -> None:
    y = np.sin(np.linspace(0, 200, 4000))
    a = training_segmenter._noisy(y, 10, "1234_AV")
    assert np.array_equal(a, training_segmenter._noisy(y, 10, "1234_AV"))
    assert not np.array_equal(a, training_segmenter._noisy(y, 10, "1234_PV"))
    assert not np.array_equal(a, training_segmenter._noisy(y, 5, "1234_AV"))
    assert training_segmenter._noisy(y, None, "1234_AV") is y
    snr = 10 * np.log10(np.mean(y ** 2) / np.mean((a - y) ** 2))
    assert snr == pytest.approx(10, abs=0.5)
