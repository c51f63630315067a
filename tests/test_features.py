"""50 Hz envelope features: shapes, alignment, normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from heartsound.features import (FEATURE_NAMES, FRAME_RATE, homomorphic_envelope,
                                 n_frames_for, psd_envelope, springer_features)


def _bursts(sr: int, times: list[float], dur: float = 8.0, f_hz: float = 60.0) -> np.ndarray:
    t = np.arange(int(dur * sr)) / sr
    y = np.zeros_like(t)
    for c in times:
        y += np.exp(-0.5 * ((t - c) / 0.02) ** 2) * np.sin(2 * np.pi * f_hz * (t - c))
    return y


@pytest.mark.parametrize("sr", [2000, 4000, 44100])
def test_shape_and_zscore(sr: int, rng: np.random.Generator) -> None:
    y = rng.standard_normal(int(5.5 * sr))
    x, fr = springer_features(y, sr)
    assert fr == FRAME_RATE == 50.0
    assert x.shape == (n_frames_for(y.size, sr), len(FEATURE_NAMES)) == (275, 3)
    assert np.allclose(x.mean(axis=0), 0, atol=1e-9)
    assert np.allclose(x.std(axis=0), 1, atol=1e-9)


@pytest.mark.parametrize("sr", [2000, 44100])
def test_envelope_peaks_at_burst_times(sr: int, rng: np.random.Generator) -> None:
    # a burst every 0.43 s (S1/S2-like spacing) so no burst looks like a spike
    times = list(np.round(np.arange(0.5, 7.6, 0.43), 3))
    y = _bursts(sr, times)
    y += 0.01 * rng.standard_normal(y.size)
    x, fr = springer_features(y, sr)
    for col in range(x.shape[1]):
        for c in times[1:-1]:
            k = int(round(c * fr))
            win = x[k - 10:k + 11, col]
            assert abs(int(np.argmax(win)) - 10) <= 1, (FEATURE_NAMES[col], c)


def test_homomorphic_smoother_than_hilbert() -> None:
    sr = 1000
    y = _bursts(sr, [1.0, 2.0], dur=3.0)
    h = homomorphic_envelope(y, sr)
    assert np.all(h > 0)
    assert np.abs(np.diff(h)).max() < 0.05


def test_psd_envelope_band_selective() -> None:
    sr = 1000
    t = np.arange(2 * sr) / sr
    assert psd_envelope(np.sin(2 * np.pi * 50 * t), sr).mean() > \
        100 * psd_envelope(np.sin(2 * np.pi * 150 * t), sr).mean()


def test_psd_envelope_matches_scipy_spectrogram(rng: np.random.Generator) -> None:
    from scipy.signal import spectrogram

    sr = 1000
    x = rng.standard_normal(5000)
    f, t, sxx = spectrogram(x, fs=sr, window="hann", nperseg=50, noverlap=25, nfft=1000,
                            detrend=False, scaling="density", mode="psd")
    band = (f >= 40) & (f <= 60)
    ref = np.interp(np.arange(x.size) / sr, t, sxx[band].mean(axis=0))
    assert np.allclose(psd_envelope(x, sr), ref, rtol=1e-9)


@pytest.mark.parametrize("n", [1, 7, 64, 1000])
def test_lagged_products_is_the_direct_sum(n: int, rng: np.random.Generator) -> None:
    from heartsound.features import lagged_products

    a, b = rng.standard_normal(n), rng.standard_normal(n)
    direct = np.array([np.dot(a[: n - k], b[k:]) for k in range(n)])
    np.testing.assert_allclose(lagged_products(a, b), direct, atol=1e-9)
    np.testing.assert_allclose(lagged_products(a), lagged_products(a, a.copy()), atol=1e-9)
