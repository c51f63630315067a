"""Cached filter designs give exactly the numbers of scipy's own designs."""

from __future__ import annotations

import numpy as np
from scipy import signal

from heartsound import filters
from heartsound.features import to_frames
from heartsound.io import resample


def test_designs_equal_scipy_and_are_shared():
    sos = filters.butter_sos(4, (25.0, 400.0), 1000.0)
    assert np.array_equal(sos, signal.butter(4, [25, 400], btype="bandpass", fs=1000.0,
                                             output="sos"))
    assert filters.butter_sos(4, (25.0, 400.0), 1000.0) is sos
    assert np.array_equal(filters.sosfilt_zi(4, (25.0, 400.0), 1000.0), signal.sosfilt_zi(sos))
    b, a = filters.butter_ba(1, 8.0, 1000.0)
    b0, a0 = signal.butter(1, 8.0, btype="low", fs=1000.0)
    assert np.array_equal(b, b0) and np.array_equal(a, a0)
    assert np.array_equal(filters.lfilter_zi(1, 8.0, 1000.0), signal.lfilter_zi(b0, a0))


def test_resampling_equals_resample_poly_default_design():
    x = np.random.default_rng(0).normal(size=4001)
    # ratios below resampling.TWO_STAGE_RATIO (44.1 kHz: tests/test_resampling.py)
    for sr_in, sr_out in ((2000, 1000), (4000, 1000), (8000, 1000), (44100, 8000),
                          (1000, 2000)):
        up, down = sr_out, sr_in
        g = np.gcd(up, down)
        assert np.array_equal(resample(x, sr_in, sr_out),
                              signal.resample_poly(x, up // g, down // g))
    assert np.array_equal(to_frames(x, 1000),
                          signal.resample_poly(x, 1, 20, padtype="line")[:201])
