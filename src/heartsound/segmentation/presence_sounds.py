"""Per-sound measurements of the presence check: spectral shape and envelope time course.

Each decoded sound (S1 or S2) is measured in a short window around its centre, on the
25-400 Hz front-end signal at :data:`~heartsound.vocab.PREPROCESS_SR` (1000 Hz): the
share of its energy in the heart-sound band, how tonal its spectrum is, its log spectrum
(for :func:`heartsound.segmentation.run_evidence.spectral_consistency`), and how long
its envelope lasts. :func:`heartsound.segmentation.presence.measure` gathers them;
:mod:`heartsound.segmentation.run_evidence` turns them into per-run evidence.
"""

from __future__ import annotations

import numpy as np

from ..vocab import PREPROCESS_SR

__all__ = ["low_band_share", "sound_spectra", "spectral_evidence", "sound_shape"]

#: Spectral window of :func:`low_band_share` (samples at 1000 Hz) and its band edges (Hz).
_SPEC_N = 128
_LOW_BAND_HZ = (25.0, 150.0)
_SUB50_BAND_HZ = (25.0, 50.0)
_FULL_BAND_HZ = (25.0, 400.0)
#: :func:`sound_shape`: half-width of the window around a sound and the envelope
#: smoothing (samples at 1000 Hz).
_DUR_HALF = 200
_DUR_SMOOTH = 10


def low_band_share(x: np.ndarray, sounds: list[tuple[int, int]], frame_rate: float
                   ) -> np.ndarray:
    """25-150 Hz share of the 25-400 Hz energy around each sound (``low_share`` of
    :func:`spectral_evidence`)."""
    return spectral_evidence(x, sounds, frame_rate)["low_share"]


def sound_spectra(x: np.ndarray, sounds: list[tuple[int, int]], frame_rate: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(low_share, flatness)`` of :func:`spectral_evidence`."""
    d = spectral_evidence(x, sounds, frame_rate)
    return d["low_share"], d["flatness"]


def _windows(x: np.ndarray, centres: np.ndarray, n: int) -> np.ndarray:
    """``(len(centres), n)`` windows of ``x`` centred on ``centres`` (samples), zero
    outside ``x``, gathered without a padded copy."""
    idx = (np.clip(centres, 0, len(x)) - n // 2)[:, None] + np.arange(n)
    inside = (idx >= 0) & (idx < len(x))
    return np.where(inside, x[np.clip(idx, 0, max(len(x) - 1, 0))], 0.0)


def _centres(sounds: list[tuple[int, int]], frame_rate: float) -> np.ndarray:
    """Centre of each sound in samples at :data:`~heartsound.vocab.PREPROCESS_SR`."""
    step = PREPROCESS_SR / frame_rate
    return np.array([int(round((a + b) * step / 2)) for a, b in sounds], dtype=np.int64)


def spectral_evidence(x: np.ndarray, sounds: list[tuple[int, int]], frame_rate: float
                      ) -> dict[str, np.ndarray]:
    """Spectral shape around each sound, from a Hann-windowed 128 ms spectrum centred on it.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
        The 25-400 Hz signal at :data:`~heartsound.vocab.PREPROCESS_SR` (1000 Hz), e.g.
        :meth:`Frontend.clean`.
    sounds : list of (start, end)
        Frame ranges (:func:`~heartsound.segmentation.presence.sound_evidence`).
    frame_rate : float
        Frames per second of ``sounds``.

    Returns
    -------
    dict
        ``low_share`` [shape=(n_sounds,)]: 25-150 Hz share of the 25-400 Hz energy in
        [0, 1] (1.0 where the window holds no energy: no evidence against a heart sound).
        ``sub50_share`` [shape=(n_sounds,)]: 25-50 Hz share (1.0 without energy).
        ``flatness`` [shape=(n_sounds,)]: geometric over arithmetic mean of the 25-400 Hz
        power spectrum, in (0, 1]: near 0 for a tone (a musical note), higher for a
        transient or noise (1.0 without energy).
        ``log_spectrum`` [shape=(n_sounds, 48)]: natural log of the 25-400 Hz power
        (floored at 1e-12 of the window's band energy; 0 without energy), for
        :func:`~heartsound.segmentation.run_evidence.spectral_consistency`.
    """
    n = len(sounds)
    f = np.fft.rfftfreq(_SPEC_N, 1 / PREPROCESS_SR)
    in_band = (f >= _FULL_BAND_HZ[0]) & (f <= _FULL_BAND_HZ[1])
    out = {"low_share": np.ones(n), "sub50_share": np.ones(n), "flatness": np.ones(n),
           "log_spectrum": np.zeros((n, int(in_band.sum())))}
    if not sounds:
        return out
    frames = _windows(np.asarray(x, dtype=np.float64), _centres(sounds, frame_rate), _SPEC_N)
    spec = np.abs(np.fft.rfft(frames * np.hanning(_SPEC_N), axis=1)) ** 2
    band = spec[:, in_band]
    tot = band.sum(axis=1)
    ok = tot > 0
    for key, (lo, hi) in (("low_share", _LOW_BAND_HZ), ("sub50_share", _SUB50_BAND_HZ)):
        np.divide(spec[:, (f >= lo) & (f < hi)].sum(axis=1), tot, out=out[key], where=ok)
    logb = np.log(band[ok] + 1e-12 * tot[ok, None])
    out["log_spectrum"][ok] = logb
    out["flatness"][ok] = np.exp(logb.mean(axis=1)) / (tot[ok] / band.shape[1])
    return out


def sound_shape(hilb: np.ndarray, sounds: list[tuple[int, int]], frame_rate: float
                ) -> dict[str, np.ndarray]:
    """How long each sound's envelope lasts.

    Heart sounds are transients: S1 and S2 last ~80-160 ms in all, their envelope is
    above half its peak for ~15-50 ms. A musical note, a friction burst, a thump or a
    breath sustains its level for longer.

    Parameters
    ----------
    hilb : np.ndarray [shape=(n,)]
        25-400 Hz Hilbert envelope at 1000 Hz (:meth:`Frontend.hilbert`).
    sounds : list of (start, end)
        Frame ranges of the decoded sounds.
    frame_rate : float
        Frames per second of ``sounds``.

    Returns
    -------
    dict
        ``duration_ms`` [shape=(n_sounds,)]: around the maximum of the envelope
        smoothed over 10 ms within +-100 ms of the sound's centre, the contiguous
        stretch (at most +-200 ms) where that envelope is at least half the maximum,
        in ms (0 without energy).
    """
    n_s = len(sounds)
    if not sounds:
        return {"duration_ms": np.zeros(0)}
    n, sm, search = 2 * _DUR_HALF, _DUR_SMOOTH, _DUR_HALF // 2
    w = _windows(np.asarray(hilb, dtype=np.float64), _centres(sounds, frame_rate), n + sm)
    c = np.cumsum(w, axis=1)
    env = np.empty((n_s, n))  # moving sum (scale-free here), index k ~ centre - n/2 + k
    env[:, 0] = c[:, sm - 1]
    env[:, 1:] = c[:, sm:n + sm - 1] - c[:, :n - 1]
    am = search + env[:, search:n - search].argmax(axis=1)
    pk = env[np.arange(n_s), am]
    below = env < 0.5 * pk[:, None]
    idx = np.arange(n)
    lo = np.where(below & (idx < am[:, None]), idx, -1).max(axis=1) + 1
    hi = np.where(below & (idx > am[:, None]), idx, n).min(axis=1)
    return {"duration_ms": np.where(pk > 0, (hi - lo) * 1000.0 / PREPROCESS_SR, 0.0)}
