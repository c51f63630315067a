"""Stages computed in bounded blocks (issue 14, item 9) give the numbers of the
whole-array computations they replaced."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import get_window, hilbert

from heartsound.classification import frontend
from heartsound import features
from heartsound.features import hilbert_envelope, psd_envelope
from heartsound.segmentation import neural


def _band_energies_whole(x: np.ndarray, n_frames: int) -> np.ndarray:
    """The whole-array band energies of heartsound 20b1f64 (x at 1000 Hz)."""
    hop, win, half = 20, features._BAND_WIN, features._BAND_WIN // 2
    need = n_frames * hop + win
    xp = np.zeros(need)
    seg = x[: max(0, need - half)]
    xp[half:half + seg.size] = seg
    idx = np.arange(n_frames)[:, None] * hop + np.arange(win)[None, :]
    power = np.abs(np.fft.rfft(xp[idx] * np.hanning(win), n=features._BAND_NFFT, axis=1)) ** 2
    freqs = np.fft.rfftfreq(features._BAND_NFFT, 1.0 / 1000)
    w = np.stack([(freqs >= lo) & (freqs < hi) for lo, hi in features.NEURAL_BANDS_HZ], axis=1)
    bands = power @ w.astype(np.float64)
    out = np.log10(bands + 1e-10 + 1e-6 * bands.mean(axis=0, keepdims=True))
    out -= out.mean(axis=0, keepdims=True)
    sd = out.std(axis=0, keepdims=True)
    out /= np.where(sd > 1e-8, sd, 1.0)
    return out.astype(np.float32)


@pytest.mark.parametrize("n, n_frames", [(5000, 250), (183_337, 9167), (200_000, 10_050)])
def test_band_energies_blocks_equal_whole(n: int, n_frames: int,
                                          rng: np.random.Generator) -> None:
    x = rng.standard_normal(n)
    assert np.array_equal(features.band_energies(x, 1000, n_frames),
                          _band_energies_whole(x, n_frames))


@pytest.mark.parametrize("n", [300, 60_007, 600_000])
def test_log_mel_blocks_equal_whole(n: int, rng: np.random.Generator) -> None:
    cfg = frontend.FrontendConfig()
    y = rng.standard_normal(n)
    yy = y
    k = frontend.n_frames(len(yy), cfg)
    idx = np.arange(cfg.n_fft)[None, :] + cfg.hop_length * np.arange(k)[:, None]
    spec = np.abs(np.fft.rfft(yy[idx] * get_window("hamming", cfg.n_fft), axis=1)) ** 2
    fb = frontend.mel_filterbank(cfg.sr, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    m = np.log(spec @ fb.T + 1e-10)
    want = ((m - m.mean()) / (m.std() + 1e-6)).astype(np.float32)
    assert np.array_equal(frontend.log_mel(y, 2000, cfg), want)


@pytest.mark.parametrize("n", [2, 3, 4096, 60_003])
def test_hilbert_envelope_matches_scipy(n: int, rng: np.random.Generator) -> None:
    y = rng.standard_normal(n)
    n_fft = 1 << int(np.ceil(np.log2(max(n, 2))))
    want = np.abs(hilbert(y, N=n_fft)[:n])
    np.testing.assert_allclose(hilbert_envelope(y), want, rtol=1e-12, atol=1e-12)


def test_psd_envelope_blocks(rng: np.random.Generator) -> None:
    y = rng.standard_normal(600_000)  # 24,000 windows: three blocks
    head = psd_envelope(y[:200_000], 1000)
    assert np.array_equal(psd_envelope(y, 1000)[:190_000], head[:190_000])


def test_segmenter_windows_equal_whole_recording(rng: np.random.Generator) -> None:
    try:
        model = neural.load_model()
    except Exception as exc:  # noqa: BLE001 - onnxruntime missing in a minimal install
        pytest.skip(f"segmenter unavailable: {exc}")
    n = neural._RUN_WINDOW * 2 + 1234          # three windows
    x = rng.standard_normal((n, model.n_features)).astype(np.float32)
    assert np.array_equal(model.run(x), model._run_whole(x))
