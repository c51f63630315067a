"""Envelope features for heart-sound segmentation (Springer et al. 2016, Sec. II-C).

Two public steps, one per segmenter: :func:`neural_features` (the neural segmenter's
input: these envelopes plus :func:`band_energies`) and :func:`springer_features`:
pre-process (:mod:`heartsound.preprocess`),
compute the envelopes at 1000 Hz, downsample them to :data:`FRAME_RATE` = 50 Hz and z-score
each per recording (over the frames outside its stretches without signal,
:mod:`heartsound.quality_silence`). Frame ``k`` of the result corresponds to time ``k / 50`` s, the same
convention as :func:`heartsound.segmentation.result.rows_to_states`, so CirCor ``.tsv``
rows label the frames directly.

Columns (:data:`FEATURE_NAMES`):

``homomorphic``
    ``exp(LPF_8Hz(log |H(y)|))``: the homomorphic envelope (Gupta et al. 2007), low-pass a
    first-order zero-phase Butterworth at 8 Hz.
``hilbert``
    ``|H(y)|``, the magnitude of the analytic signal.
``psd``
    Mean power spectral density between 40 and 60 Hz in 50 ms windows with 50 % overlap,
    interpolated to the signal's sample times.

The wavelet envelope of the paper (rbio3.9 detail coefficients) is not computed: it needs
PyWavelets, which is not a heartsound dependency, and the paper's reference setup leaves
it out. In its place ``springer_features(..., extended=True)`` appends four sub-band
log-envelopes (:func:`band_envelopes`, :data:`heartsound.vocab.SPRINGER_BANDS_HZ`), a
heartsound extension: the
wavelet envelope is itself a sub-band (62.5-125 Hz) envelope, and the sub-bands let the
logistic regressions tell S1 (lower pitched) from S2, which the three broadband envelopes
cannot. On CirCor cross-validation fold 0 this raised the S1/S2 F1 at 60 ms from 0.90 to
0.95 (``docs/results/segmentation.md``). :data:`EXTENDED_FEATURE_NAMES` lists the columns.

References
----------
D. B. Springer, L. Tarassenko, G. D. Clifford. "Logistic Regression-HSMM-Based Heart Sound
Segmentation." IEEE Trans. Biomed. Eng. 63(4):822-832, 2016. doi:10.1109/TBME.2015.2475278
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .filters import butter_ba, lfilter_zi, polyphase_taps
from .io import resample
from .preprocess import bandpass, preprocess, zero_phase
from .quality_silence import gaps_of, signal_frames
from .vocab import FRAME_RATE, NEURAL_BANDS_HZ, PREPROCESS_SR, SPRINGER_BANDS_HZ

if TYPE_CHECKING:  # pragma: no cover
    from .frontend import Frontend

__all__ = ["FRAME_RATE", "FEATURE_NAMES", "EXTENDED_FEATURE_NAMES", "SPRINGER_BANDS_HZ",
           "springer_features", "envelopes", "band_envelopes",
           "homomorphic_envelope", "hilbert_envelope", "psd_envelope", "zscore",
           "to_frames", "n_frames_for", "lagged_products", "neural_features", "band_energies", "band_powers"]

#: Feature columns returned by :func:`springer_features`, in order.
FEATURE_NAMES: tuple[str, ...] = ("homomorphic", "hilbert", "psd")
#: Columns of ``springer_features(..., extended=True)``.
EXTENDED_FEATURE_NAMES: tuple[str, ...] = FEATURE_NAMES + tuple(
    f"band_{int(lo)}_{int(hi)}" for lo, hi in SPRINGER_BANDS_HZ)

_BAND_SR = PREPROCESS_SR  # rate the neural band energies are computed at (Hz)
_BAND_WIN = 80            # their Hann window, samples at 1000 Hz (80 ms)
_BAND_NFFT = 128
_BAND_CHUNK = 4096        # frames per block of band_energies (bounded memory)
_INTERP_BLOCK = 1 << 16   # samples per block of elementwise steps (512 KiB)
_EPS = 1e-12
#: Odd-extension length of the homomorphic envelope's low-pass (``filtfilt``'s default for a
#: first-order filter, 3 x 2 coefficients).
LOG_LOWPASS_PADLEN = 6


def hilbert_envelope(y: np.ndarray) -> np.ndarray:
    """Magnitude of the analytic signal, ``np.ndarray [shape=(n,)]``: ``|hilbert(y, N)|``
    (``N`` the next power of two) from a one-sided spectrum, written over the inverse
    FFT's buffer, then shrunk to ``n``. ``numpy.fft`` (scipy.fft gives the same numbers
    but keeps every recent length's plan: 32 MB resident after an hour at 1000 Hz)."""
    y = np.asarray(y, dtype=np.float64)
    n_fft = 1 << int(np.ceil(np.log2(max(y.size, 2))))  # fast FFT length, trimmed after
    spec = np.fft.rfft(y, n_fft)
    spec *= -1j
    spec[0] = spec[-1] = 0.0
    h = np.fft.irfft(spec, n_fft)
    del spec
    np.hypot(y, h[: y.size], out=h[: y.size])
    if not (h.flags.owndata and h.base is None):
        return h[: y.size].copy()
    h.resize(y.size, refcheck=False)  # realloc in place: the padded tail is freed
    return h


def homomorphic_envelope(y: np.ndarray, sr: float, *, lpf_hz: float = 8.0,
                         hilbert: np.ndarray | None = None) -> np.ndarray:
    """Homomorphic envelope ``exp(LPF(log |H(y)|))``.

    ``filtfilt(b, a, log_env, padlen=6)`` computed in blocks, log and exp included
    (:func:`heartsound.preprocess.zero_phase`: the same numbers, no full-length temporary).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Pre-processed signal.
    sr : float
        Sample rate in Hz.
    lpf_hz : float
        Cut-off of the first-order zero-phase Butterworth low-pass (8 Hz in the paper).
    hilbert : np.ndarray [shape=(n,)], optional
        ``hilbert_envelope(y)`` when the caller already has it (not recomputed).

    Returns
    -------
    np.ndarray [shape=(n,)]
    """
    h = hilbert_envelope(y) if hilbert is None else np.asarray(hilbert, dtype=np.float64)
    out = _log_lowpass(h, sr, lpf_hz, padlen=min(LOG_LOWPASS_PADLEN, h.size - 1))
    for i in range(0, out.size, _INTERP_BLOCK):  # exp of a reversed view, as of
        seg = out[i:i + _INTERP_BLOCK]           # filtfilt's output: same last bits
        seg[:] = np.exp(seg[::-1])[::-1]
    return out


def _log_lowpass(env: np.ndarray, sr: float, lpf_hz: float, padlen: int) -> np.ndarray:
    """``filtfilt(b, a, log(env + 1e-12), padlen=padlen)`` with a first-order
    Butterworth low-pass at ``lpf_hz``, in blocks (no full-length temporary)."""
    from scipy.signal import lfilter

    b, a = butter_ba(1, float(lpf_hz), float(sr))
    zi = lfilter_zi(1, float(lpf_hz), float(sr))
    return zero_phase(lambda v, z: lfilter(b, a, v, zi=z), zi, env,
                      max(padlen, 0), pre=lambda v: np.log(v + _EPS))


def psd_envelope(y: np.ndarray, sr: float, *, band_hz: tuple[float, float] = (40.0, 60.0),
                 window_s: float = 0.05) -> np.ndarray:
    """Mean power spectral density in ``band_hz`` over time.

    Hann windows of ``window_s`` with 50 % overlap; the power at 1 Hz spacing inside the
    band (the bins of a spectrogram zero-padded to ``sr`` points, computed directly as a
    small DFT so the cost stays linear in the length) is averaged and linearly
    interpolated from the window centres to every sample. Equal, up to floating point,
    to ``scipy.signal.spectrogram(..., scaling="density")`` averaged over the band.

    Returns
    -------
    np.ndarray [shape=(n,)]
        Power per Hz, in (signal units)^2 / Hz.
    """
    y = np.asarray(y, dtype=np.float64)
    nper = max(int(round(window_s * sr)), 8)
    if y.size < nper:
        return np.full(y.size, float(np.mean(y ** 2)))
    hop = nper - nper // 2
    basis, scale = _psd_basis(nper, float(sr), float(band_hz[0]), float(band_hz[1]))
    frames = sliding_window_view(y, nper)[::hop]                   # (n_win, nper)
    p = np.empty(frames.shape[0])
    for i in range(0, frames.shape[0], 8192):  # blocks: no full-length complex temporary
        p[i:i + 8192] = (np.abs(frames[i:i + 8192] @ basis) ** 2 * scale).mean(axis=1)
    t = (np.arange(frames.shape[0]) * hop + nper / 2) / sr
    out = np.empty(y.size)
    for i in range(0, y.size, _INTERP_BLOCK):  # sample times block by block
        j = min(i + _INTERP_BLOCK, y.size)
        out[i:j] = np.interp(np.arange(i, j) / sr, t, p)
    return out


@lru_cache(maxsize=8)
def _psd_basis(nper: int, sr: float, lo: float, hi: float) -> tuple[np.ndarray, float]:
    """:func:`psd_envelope`'s windowed DFT basis [nper, n_bins] and density scale (made
    once: a live stream computes the envelope several times a second)."""
    from scipy.signal import get_window

    nfft = max(int(round(sr)), nper)
    win = get_window("hann", nper)
    freqs = np.arange(nfft // 2 + 1) * sr / nfft
    f = freqs[(freqs >= lo) & (freqs <= hi)]
    basis = np.exp(-2j * np.pi * np.outer(np.arange(nper), f) / sr) * win[:, None]
    return basis, 2.0 / (sr * np.sum(win ** 2))


def zscore(x: np.ndarray, axis: int = 0, rows: np.ndarray | None = None) -> np.ndarray:
    """``(x - mean) / std`` along ``axis``; a constant column becomes zeros. ``rows``
    (bool, along axis 0): the mean and std of those rows only (all when None)."""
    x = np.asarray(x, dtype=np.float64)
    s = x if rows is None or not np.any(rows) else x[np.asarray(rows, bool)]
    sd = s.std(axis=axis, keepdims=True)
    return (x - s.mean(axis=axis, keepdims=True)) / np.where(sd > 0, sd, 1.0)


def _signal_frames(n: int, y: Any, sr: float, fe: Frontend | None) -> np.ndarray | None:
    """Which of ``n`` frames (``k / FRAME_RATE`` s) lie outside the recording's stretches
    without signal [shape=(n,), bool]; None when it has none (or nothing is outside)."""
    return signal_frames(np.arange(n) / FRAME_RATE, gaps_of(y, sr, fe))


def n_frames_for(n_samples: int, sr: float, frame_rate: float = FRAME_RATE) -> int:
    """Number of frames covering ``n_samples`` at ``sr``: ``ceil(n frame_rate / sr)``."""
    return int(np.ceil(n_samples * frame_rate / sr - 1e-9))


def to_frames(x: np.ndarray, sr: int, frame_rate: float = FRAME_RATE) -> np.ndarray:
    """Anti-aliased polyphase downsampling so that output ``k`` lies at time ``k / frame_rate``.

    Parameters
    ----------
    x : np.ndarray [shape=(n,) or (n, m)]
    sr : int
        Input rate in Hz (an integer multiple of ``frame_rate`` is exact).

    Returns
    -------
    np.ndarray [shape=(n_frames_for(n, sr), ...)]
    """
    from scipy.signal import resample_poly

    frac = Fraction(frame_rate).limit_denominator(1000) / Fraction(int(sr))
    up, down = frac.numerator, frac.denominator
    out = resample_poly(np.asarray(x, dtype=np.float64), up, down, axis=0, padtype="line",
                        window=polyphase_taps(up, down))
    return out[: n_frames_for(np.shape(x)[0], sr, frame_rate)]


def envelopes(y_clean: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """The three envelopes of a pre-processed signal at its own rate (not normalised).

    Returns
    -------
    dict
        :data:`FEATURE_NAMES` -> ``np.ndarray [shape=(n,)]``.
    """
    hil = hilbert_envelope(y_clean)
    return {"homomorphic": homomorphic_envelope(y_clean, sr, hilbert=hil),
            "hilbert": hil,
            "psd": psd_envelope(y_clean, sr)}


def band_envelopes(y_clean: np.ndarray, sr: int, *,
                   bands: tuple[tuple[float, float], ...] = SPRINGER_BANDS_HZ,
                   lpf_hz: float = 8.0) -> np.ndarray:
    """Log homomorphic envelope of each sub-band: ``LPF_8Hz(log |H(BP_band(y))|)``.

    Parameters
    ----------
    y_clean : np.ndarray [shape=(n,)]
        Pre-processed signal.
    sr : int
        Its rate in Hz.
    bands : tuple of (low_hz, high_hz)
        Zero-phase Butterworth band-passes (order 4, forward-backward).

    Returns
    -------
    np.ndarray [shape=(n, len(bands))]
        Log-amplitude (natural log of signal units), not normalised.
    """
    cols = []
    for lo, hi in bands:
        env = hilbert_envelope(bandpass(y_clean, sr, low_hz=lo, high_hz=hi))
        cols.append(_log_lowpass(env, sr, lpf_hz, padlen=min(LOG_LOWPASS_PADLEN, env.size - 1)))
    return np.column_stack(cols)


def springer_features(y: np.ndarray, sr: float, *, preprocessed: bool = False,
                      extended: bool = False, frontend: Frontend | None = None) -> tuple[np.ndarray, float]:
    """Springer's envelope features at 50 Hz, z-scored per recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono recording (already validated; see :func:`heartsound.io.validate_audio`).
    sr : float
        Sample rate in Hz (at least 500 Hz).
    preprocessed : bool
        ``y`` is already the output of :func:`heartsound.preprocess.preprocess` (1000 Hz,
        band-passed, de-spiked); otherwise that is applied first.
    extended : bool
        Append the four :func:`band_envelopes` (heartsound extension, used by the shipped
        ``springer2016`` model).
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end: the pre-processed signal and its Hilbert and
        homomorphic envelopes are taken from it (its own samples, not ``y``). Ignored
        when ``preprocessed``.

    Returns
    -------
    features : np.ndarray [shape=(n_frames, 3) or (n_frames, 7), dtype=float64]
        Columns :data:`FEATURE_NAMES` (or :data:`EXTENDED_FEATURE_NAMES`), each with zero
        mean and unit variance. Frame ``k``
        lies at time ``k / 50`` s; ``n_frames = ceil(duration_s * 50)``.
    frame_rate : float
        50.0.

    Examples
    --------
    >>> sr = 2000
    >>> y = np.random.default_rng(0).standard_normal(3 * sr)
    >>> x, fr = springer_features(y, sr)
    >>> x.shape, fr
    ((150, 3), 50.0)
    """
    if not preprocessed and frontend is not None:
        x, x_sr = frontend.clean(), PREPROCESS_SR
        env = {"homomorphic": frontend.homomorphic(), "hilbert": frontend.hilbert(),
               "psd": psd_envelope(x, x_sr)}
    else:
        if preprocessed:
            x, x_sr = np.asarray(y, dtype=np.float64), int(sr)
        else:
            x, x_sr = preprocess(y, sr, target_sr=PREPROCESS_SR)
        env = envelopes(x, x_sr)
    # column by column (the same numbers as one 2-D call) to avoid a full-rate stack
    cols = [to_frames(env.pop(k), x_sr, FRAME_RATE) for k in FEATURE_NAMES]
    if extended:
        bands = band_envelopes(x, x_sr)
        cols += [to_frames(bands[:, i], x_sr, FRAME_RATE) for i in range(bands.shape[1])]
    sig = None if preprocessed else _signal_frames(len(cols[0]), y, sr, frontend)
    return zscore(np.column_stack(cols), axis=0, rows=sig), FRAME_RATE


def band_powers(y: np.ndarray, sr: float, n_frames: int) -> np.ndarray:
    """Power of :data:`~heartsound.vocab.NEURAL_BANDS_HZ` in 80 ms Hann frames at 50 Hz.

    The un-normalised step of :func:`band_energies` (the streaming front end,
    :mod:`heartsound.streaming`, normalises it with running statistics instead).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio samples.
    sr : float
        Sample rate of ``y`` in Hz (>= 1000 keeps every band).
    n_frames : int
        Number of frames wanted; frame ``k`` is centred on ``k / 50`` s.

    Returns
    -------
    np.ndarray [shape=(n_frames, len(NEURAL_BANDS_HZ)), dtype=float64]
        Summed ``|rfft|^2`` of the band's bins (signal units squared).
    """
    x = resample(np.asarray(y, dtype=np.float64), int(round(sr)), _BAND_SR)
    hop = int(_BAND_SR / FRAME_RATE)
    half = _BAND_WIN // 2
    win, weights = _band_kernel()
    bands = np.empty((n_frames, len(NEURAL_BANDS_HZ)))
    for i in range(0, n_frames, _BAND_CHUNK):  # frame k: x[k hop - half : k hop + half]
        j = min(n_frames, i + _BAND_CHUNK)
        lo = i * hop - half
        xp = np.zeros((j - i - 1) * hop + _BAND_WIN)
        seg = x[max(0, lo): max(0, lo + xp.size)]
        xp[max(0, -lo):max(0, -lo) + seg.size] = seg
        frames = np.lib.stride_tricks.sliding_window_view(xp, _BAND_WIN)[::hop] * win
        power = np.abs(np.fft.rfft(frames, n=_BAND_NFFT, axis=1)) ** 2
        bands[i:j] = power @ weights
    return bands


@lru_cache(maxsize=1)
def _band_kernel() -> tuple[np.ndarray, np.ndarray]:
    """:func:`band_powers`' Hann window [_BAND_WIN] and bin-to-band weights
    [_BAND_NFFT // 2 + 1, n_bands] (made once)."""
    freqs = np.fft.rfftfreq(_BAND_NFFT, 1.0 / _BAND_SR)
    weights = np.stack([(freqs >= lo) & (freqs < hi) for lo, hi in NEURAL_BANDS_HZ], axis=1)
    return np.hanning(_BAND_WIN), weights.astype(np.float64)


def band_energies(y: np.ndarray, sr: float, n_frames: int,
                  signal: np.ndarray | None = None) -> np.ndarray:
    """Log energies of :data:`~heartsound.vocab.NEURAL_BANDS_HZ` at 50 Hz, z-scored per
    recording (parameters: those of :func:`band_powers`).

    Returns
    -------
    np.ndarray [shape=(n_frames, len(NEURAL_BANDS_HZ)), dtype=float32]
        ``log10`` of the power in each band of an 80 ms Hann-windowed frame
        (:func:`band_powers`), each column then standardised to zero mean and unit
        variance over the recording (over the frames where ``signal`` [shape=(n_frames,),
        bool] is True, when given).
    """
    bands = band_powers(y, sr, n_frames)
    ref = bands if signal is None else bands[signal]
    out = np.log10(bands + 1e-10 + 1e-6 * ref.mean(axis=0, keepdims=True))
    out -= (out if signal is None else out[signal]).mean(axis=0, keepdims=True)
    sd = (out if signal is None else out[signal]).std(axis=0, keepdims=True)
    out /= np.where(sd > 1e-8, sd, 1.0)
    return out.astype(np.float32)


def neural_features(y: Any, sr: float, *, frontend: Frontend | None = None) -> tuple[np.ndarray, float]:
    """The network's input: Springer envelopes plus log band energies, at 50 Hz.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Validated audio samples (ignored when ``frontend`` is given).
    sr : float
        Sample rate in Hz.
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end: the 1 kHz resampled and pre-processed signals and the
        envelopes are taken from it (computed once, shared by the envelopes and the band
        energies).

    Returns
    -------
    features : np.ndarray [shape=(n_frames, n_env + 5), dtype=float32]
        Columns: the envelopes of :func:`heartsound.features.springer_features`
        (z-scored per recording), then :func:`band_energies`.
    frame_rate : float
        50.0 Hz.
    """
    fe = frontend
    if fe is not None:
        env, _ = springer_features(fe.y, fe.sr, frontend=fe)
        x, x_sr = fe.resampled(_BAND_SR), _BAND_SR
    else:  # the same values, with the 1 kHz resampling done twice
        env, _ = springer_features(y, sr)
        x, x_sr = y, sr
    env = np.asarray(env, dtype=np.float32)
    bands = band_energies(x, x_sr, env.shape[0], _signal_frames(env.shape[0], y, sr, fe))
    return np.concatenate([env, bands], axis=1), FRAME_RATE


def lagged_products(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """``r[l] = sum_t a[t] b[t + l]`` for lags ``l = 0 .. n-1``, by FFT.

    The one correlation of heartsound (heart-rate autocorrelation, the posteriors'
    S1-S2 lag, the quality periodicity); callers remove means and normalise. The
    non-negative lags of ``scipy.signal.correlate(b, a, method="fft")`` (it replaced
    three hand-written power-of-two FFT correlations; on 120 CirCor recordings, PASCAL
    and the reference analyses the states and heart rates are unchanged, and the
    quality periodicity differs in the last bits only).

    Parameters
    ----------
    a : np.ndarray [shape=(n,)] or [shape=(m, n)]
        One signal, or ``m`` signals (rows) correlated each with itself (or its row of
        ``b``) at once: the same numbers as row by row.
    b : np.ndarray [shape=a.shape], optional
        Default ``a`` (autocorrelation).

    Returns
    -------
    np.ndarray [shape=a.shape, dtype=float64]
    """
    from scipy.fft import next_fast_len

    a = np.asarray(a, dtype=np.float64)
    n = a.shape[-1]
    b = a if b is None else np.asarray(b, dtype=np.float64)
    # correlate's steps with numpy.fft: same numbers, no resident scipy.fft plan
    n_fft = next_fast_len(2 * n - 1, True)
    spec = np.fft.rfft(b, n_fft, axis=-1)
    spec *= np.fft.rfft(a[..., ::-1], n_fft, axis=-1)
    return np.fft.irfft(spec, n_fft, axis=-1)[..., n - 1:2 * n - 1]
