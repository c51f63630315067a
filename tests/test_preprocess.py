"""Pre-processing: resampling, band-pass and Schmidt spike removal."""

from __future__ import annotations

import numpy as np
import pytest

from heartsound.errors import ParameterError
from heartsound.preprocess import SR, bandpass, preprocess, schmidt_spike_removal


def test_spike_removed_and_rest_kept(rng: np.random.Generator) -> None:
    sr = 1000
    t = np.arange(10 * sr) / sr
    y = 0.1 * np.sin(2 * np.pi * 50 * t) + 0.001 * rng.standard_normal(t.size)
    spike = np.zeros_like(y)
    spike[4200:4206] = [0.5, 1.5, 3.0, 2.0, 1.0, 0.4]  # one-sided friction spike
    out = schmidt_spike_removal(y + spike, sr)
    assert np.abs(out[4000:4500]).max() < 0.15           # spike gone
    assert np.allclose(out[:4000], y[:4000])             # far samples untouched
    assert np.allclose(out[5000:], y[5000:])
    assert np.count_nonzero(out[4150:4250] == 0) < 30    # only the spike region zeroed


def test_no_spike_no_change(rng: np.random.Generator) -> None:
    y = rng.standard_normal(6000) * 0.1
    y = np.clip(y, -0.25, 0.25)
    assert np.array_equal(schmidt_spike_removal(y, 1000), y)


@pytest.mark.parametrize("f_hz, expect_pass", [(10.0, False), (100.0, True), (200.0, True),
                                                (600.0, False)])
def test_bandpass_response(f_hz: float, expect_pass: bool) -> None:
    sr = 2000
    t = np.arange(4 * sr) / sr
    y = np.sin(2 * np.pi * f_hz * t)
    out = bandpass(y, sr)
    gain = out[sr:-sr].std() / y[sr:-sr].std()
    assert (gain > 0.9) if expect_pass else (gain < 0.1)


def test_bandpass_zero_phase() -> None:
    sr = 1000
    y = np.zeros(4000)
    y[2000] = 1.0
    out = bandpass(y, sr)
    assert abs(int(np.argmax(np.abs(out))) - 2000) <= 1


@pytest.mark.parametrize("sr", [2000, 4000, 44100, 1000])
def test_preprocess_rate_and_length(sr: int) -> None:
    y = np.sin(2 * np.pi * 80 * np.arange(3 * sr) / sr)
    out, out_sr = preprocess(y, sr)
    assert out_sr == SR
    assert abs(out.size - 3 * SR) <= 1


def test_bad_band_raises() -> None:
    with pytest.raises(ParameterError):
        bandpass(np.zeros(100), 1000, low_hz=300, high_hz=200)
