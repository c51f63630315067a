"""Stages computed in bounded blocks (issue 14, item 9) give the numbers of the
whole-array computations they replaced."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import (butter, correlate, filtfilt, get_window, hilbert, lfilter,
                          lfilter_zi, sosfiltfilt)

from heartsound.classification import crops, frontend
from heartsound import features
from heartsound.features import hilbert_envelope, psd_envelope
from heartsound.preprocess import bandpass_centred, zero_phase
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
@pytest.mark.parametrize("norm", ["recording", "recording_bins"])
def test_log_mel_blocks_equal_whole(n: int, norm: str, rng: np.random.Generator) -> None:
    cfg = frontend.FrontendConfig(normalize=norm)
    y = rng.standard_normal(n)
    yy = y
    k = frontend.n_frames(len(yy), cfg)
    idx = np.arange(cfg.n_fft)[None, :] + cfg.hop_length * np.arange(k)[:, None]
    spec = np.abs(np.fft.rfft(yy[idx] * get_window("hamming", cfg.n_fft), axis=1)) ** 2
    fb = frontend.mel_filterbank(cfg.sr, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    m = np.log(spec @ fb.T + 1e-10)
    mu = m.mean() if norm == "recording" else m.mean(axis=0, keepdims=True)
    want = ((m - mu) / (m.std() + 1e-6)).astype(np.float32)
    assert np.array_equal(frontend.log_mel(y, 2000, cfg), want)


def test_blocked_std_equals_numpy(rng: np.random.Generator) -> None:
    m = 3.0 * rng.standard_normal((5000, 64)) + 7.0
    assert frontend._std(m) == pytest.approx(m.std(), rel=1e-14)
    assert frontend._std(np.full((3, 2), 5.0)) == 0.0


@pytest.mark.parametrize("n", [10, 64, 65, 100, 1000])
def test_crop_rows_equal_stacked_crops(n: int) -> None:
    cfg = frontend.FrontendConfig()
    f = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    L = cfg.crop_frames
    if n <= L:  # tiled
        want, want_st = np.tile(f, (-(-L // n), 1))[None, :L], [0]
    else:
        want_st = list(range(0, n - L + 1, cfg.crop_hop))
        want_st += [] if want_st[-1] == n - L else [n - L]
        want = np.stack([f[s:s + L] for s in want_st])
    batch, st = crops.crops(f, cfg)
    assert st.tolist() == want_st and np.array_equal(batch, want)
    assert np.array_equal(f[crops.crop_rows(st, n, L)], want)


def test_occlusion_masked_by_batch_equals_whole_masks(rng: np.random.Generator) -> None:
    """Masking crop batch by crop batch (``score_masked``) gives the scores of the whole
    masked copies (``mask_phase``) bit for bit."""
    from heartsound.classification.evidence import blend, mask_phase, occlusion_by_phase

    class _Seg:
        states = np.tile(np.repeat([1, 2, 3, 4], [5, 15, 5, 25]), 8)
        frame_rate = 50.0

    cfg = frontend.FrontendConfig(crop_frames=16, crop_hop=8)
    feat = rng.standard_normal((120, cfg.n_mels)).astype(np.float32)
    st = crops.crop_starts(len(feat), cfg)
    weights = rng.standard_normal(cfg.n_mels)

    def score(f: np.ndarray) -> float:  # a fixed, order-sensitive function of the crops
        return float(np.tanh((f[crops.crop_rows(st, len(f), 16)] * weights).sum(-1)).mean())

    def score_masked(w: np.ndarray, bg: np.ndarray) -> float:
        vals = [np.tanh((blend(feat[r], w[r], bg, cfg.n_mels) * weights).sum(-1))
                for r in np.array_split(crops.crop_rows(st, len(feat), 16), 3)]
        return float(np.concatenate(vals).mean())

    whole = occlusion_by_phase(feat, _Seg(), cfg, score, "s")
    batched = occlusion_by_phase(feat, _Seg(), cfg, score, "s", score_masked=score_masked)
    assert whole == batched and whole["systole"]["masked"] != whole["full"]
    shares = frontend.phase_shares(_Seg.states, 50.0, len(feat), cfg)
    assert score(mask_phase(feat, shares, 1, cfg.n_mels)) == whole["systole"]["masked"]


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


@pytest.mark.parametrize("n", [2, 7, 50, 65_536, 200_003])
def test_bandpass_blocks_equal_sosfiltfilt(n: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal(n)
    sos = butter(4, [25.0, 400.0], btype="bandpass", fs=1000.0, output="sos")
    want = sosfiltfilt(sos, x - x.mean(), padlen=min(3 * (2 * len(sos) + 1) * 4, n - 1))
    assert np.array_equal(bandpass_centred(x, 1000, (25.0, 400.0)), want)


@pytest.mark.parametrize("n, block", [(3, 2), (1000, 7), (200_003, 1 << 16)])
def test_zero_phase_equals_filtfilt(n: int, block: int, rng: np.random.Generator) -> None:
    b, a = butter(1, 8.0, btype="low", fs=1000.0)
    h = np.abs(rng.standard_normal(n)) + 0.1
    want = filtfilt(b, a, np.log(h + 1e-12), padlen=min(6, n - 1))
    got = zero_phase(lambda v, z: lfilter(b, a, v, zi=z), lfilter_zi(b, a), h,
                     min(6, n - 1), pre=lambda v: np.log(v + 1e-12), block=block)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("n", [7, 1000, 200_003])
def test_homomorphic_envelope_equals_whole(n: int, rng: np.random.Generator) -> None:
    y = rng.standard_normal(n)
    h = hilbert_envelope(y)
    b, a = butter(1, 8.0, btype="low", fs=1000.0)
    want = np.exp(filtfilt(b, a, np.log(h + 1e-12), padlen=min(6, n - 1)))
    assert np.array_equal(features.homomorphic_envelope(y, 1000, hilbert=h), want)


def test_psd_envelope_interpolation_blocks(rng: np.random.Generator) -> None:
    y = rng.standard_normal(150_001)  # three interpolation blocks
    nper, hop = 50, 25
    win = get_window("hann", nper)
    f = np.arange(40, 61)
    basis = np.exp(-2j * np.pi * np.outer(np.arange(nper), f) / 1000) * win[:, None]
    frames = np.lib.stride_tricks.sliding_window_view(y, nper)[::hop]
    p = (np.abs(frames @ basis) ** 2 * 2.0 / (1000 * np.sum(win ** 2))).mean(axis=1)
    t = (np.arange(frames.shape[0]) * hop + nper / 2) / 1000
    want = np.interp(np.arange(y.size) / 1000, t, p)
    np.testing.assert_allclose(psd_envelope(y, 1000), want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("n", [1, 2, 250, 3001, 180_000])
def test_lagged_products_equal_scipy_correlate(n: int, rng: np.random.Generator) -> None:
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    assert np.array_equal(features.lagged_products(a, b),
                          correlate(b, a, mode="full", method="fft")[n - 1:])
