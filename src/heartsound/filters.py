"""Filter designs, made once per set of parameters.

Every recording goes through the same few filters (the 25-400 Hz band-pass, the
homomorphic envelope's low-pass, polyphase resampling between the same rates), and a
live stream (:mod:`heartsound.streaming`) filters a short window several times a
second. Designing a Butterworth filter or an anti-aliasing FIR costs more than applying
it to a second of audio, so the designs are cached here (:func:`functools.lru_cache`):
the coefficients are exactly those scipy returns, computed once.

Treat the returned arrays as read-only: they are shared (not flagged read-only, as
scipy's compiled filters do not accept read-only coefficients).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["butter_ba", "butter_sos", "lfilter_zi", "polyphase_taps", "sosfilt_zi"]


@lru_cache(maxsize=64)
def butter_sos(order: int, band_hz: tuple[float, float], sr: float) -> np.ndarray:
    """``scipy.signal.butter(order, band_hz, btype="bandpass", fs=sr, output="sos")``
    [shape=(order, 6)]."""
    from scipy.signal import butter

    return _array(butter(order, list(band_hz), btype="bandpass", fs=float(sr), output="sos"))


@lru_cache(maxsize=64)
def sosfilt_zi(order: int, band_hz: tuple[float, float], sr: float) -> np.ndarray:
    """``scipy.signal.sosfilt_zi`` of :func:`butter_sos` [shape=(order, 2)]."""
    from scipy.signal import sosfilt_zi as zi

    return _array(zi(butter_sos(order, band_hz, sr)))


@lru_cache(maxsize=64)
def butter_ba(order: int, cutoff_hz: float, sr: float, btype: str = "low"
              ) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.butter(order, cutoff_hz, btype=btype, fs=sr)``: ``(b, a)``."""
    from scipy.signal import butter

    b, a = butter(order, cutoff_hz, btype=btype, fs=float(sr))
    return _array(b), _array(a)


@lru_cache(maxsize=64)
def lfilter_zi(order: int, cutoff_hz: float, sr: float, btype: str = "low") -> np.ndarray:
    """``scipy.signal.lfilter_zi`` of :func:`butter_ba`."""
    from scipy.signal import lfilter_zi as zi

    return _array(zi(*butter_ba(order, cutoff_hz, sr, btype)))


@lru_cache(maxsize=64)
def polyphase_taps(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR filter ``scipy.signal.resample_poly(x, up, down)`` designs
    by default (``firwin`` of ``20 max(up, down) + 1`` taps, cut-off ``1 / max(up,
    down)``, Kaiser window with beta 5), before its scaling by ``up``: passed as
    ``window=`` it gives the same output without designing it again."""
    from scipy.signal import firwin

    max_rate = max(int(up), int(down))
    return _array(firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0)))


def _array(a: np.ndarray) -> np.ndarray:
    # left writeable: scipy's Cython filters refuse read-only coefficient buffers
    return np.asarray(a)
