"""Pre-processing of a phonocardiogram before feature extraction.

The steps of Springer et al. (2016), Section II-B, in the order they are applied by
:func:`preprocess`:

1. resample to :data:`SR` = 1000 Hz (polyphase, :func:`heartsound.io.resample`);
2. band-pass 25-400 Hz, Butterworth, zero-phase (:func:`bandpass`);
3. spike removal after Schmidt et al. (2010) (:func:`schmidt_spike_removal`).

References
----------
D. B. Springer, L. Tarassenko, G. D. Clifford. "Logistic Regression-HSMM-Based Heart Sound
Segmentation." IEEE Trans. Biomed. Eng. 63(4):822-832, 2016. doi:10.1109/TBME.2015.2475278

S. E. Schmidt, C. Holst-Hansen, C. Graff, E. Toft, J. J. Struijk. "Segmentation of heart
sound recordings by a duration-dependent hidden Markov model." Physiol. Meas.
31(4):513-529, 2010. doi:10.1088/0967-3334/31/4/004
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = ["SR", "BAND_HZ", "preprocess", "bandpass", "schmidt_spike_removal", "Prepared"]

#: Sample rate (Hz) of the pre-processed signal.
SR = 1000
#: Pass band (Hz) of the band-pass filter.
BAND_HZ = (25.0, 400.0)


def bandpass(y: np.ndarray, sr: float, *, low_hz: float = BAND_HZ[0],
             high_hz: float = BAND_HZ[1], order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass filter.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Signal.
    sr : float
        Sample rate in Hz.
    low_hz, high_hz : float
        Cut-off frequencies (-3 dB of each pass of the filter) in Hz. ``high_hz`` is clipped
        to 0.45 ``sr`` for low rates.
    order : int
        Order of the Butterworth design; ``sosfiltfilt`` doubles it (forward-backward).

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    from scipy.signal import butter, sosfiltfilt

    nyq = 0.5 * float(sr)
    high = min(float(high_hz), 0.9 * nyq)
    if not 0 < low_hz < high:
        raise ParameterError(f"band-pass needs 0 < low_hz < high_hz < sr/2, got "
                             f"{low_hz}-{high_hz} Hz at {sr} Hz")
    sos = butter(order, [low_hz, high], btype="bandpass", fs=float(sr), output="sos")
    y = np.asarray(y, dtype=np.float64)
    padlen = min(3 * (2 * len(sos) + 1) * 4, y.size - 1)
    return sosfiltfilt(sos, y, padlen=max(padlen, 0))


def schmidt_spike_removal(y: np.ndarray, sr: float, *, window_s: float = 0.5,
                          threshold: float = 3.0, max_iter: int = 1000) -> np.ndarray:
    """Remove friction spikes (Schmidt et al. 2010, as used by Springer et al. 2016).

    The signal is cut into windows of ``window_s``. While the largest window maximum of
    ``|y|`` exceeds ``threshold`` times the median of the window maxima, the spike in that
    window is zeroed: from the zero crossing before its largest sample to the zero
    crossing after it. Samples after the last whole window are left as they are.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Band-passed signal (zero mean).
    sr : float
        Sample rate in Hz.
    window_s : float
        Window length in seconds (500 ms in the paper).
    threshold : float
        Spike threshold as a multiple of the median window maximum (3 in the paper).
    max_iter : int
        Safety bound on the number of spikes removed.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
        A copy with the spikes set to zero.

    Examples
    --------
    >>> y = np.sin(np.arange(5000) / 10.0) * 0.1
    >>> y[2500] = 5.0
    >>> float(np.abs(schmidt_spike_removal(y, 1000)).max()) < 0.2
    True
    """
    y = np.array(y, dtype=np.float64, copy=True)
    win = int(round(window_s * sr))
    n_win = y.size // win if win > 0 else 0
    if n_win < 2:
        return y
    frames = y[: n_win * win].reshape(n_win, win)  # a view: edits go to y
    maxima = np.abs(frames).max(axis=1)
    for _ in range(max_iter):
        med = np.median(maxima)
        k = int(np.argmax(maxima))
        if not maxima[k] > threshold * med or med <= 0:
            break
        w = frames[k]
        peak = int(np.argmax(np.abs(w)))
        sign = np.signbit(w)
        crossings = np.flatnonzero(sign[1:] != sign[:-1])  # crossing between c and c+1
        before = crossings[crossings < peak]
        after = crossings[crossings >= peak]
        start = int(before[-1]) + 1 if before.size else 0
        stop = int(after[0]) + 1 if after.size else win
        w[start:stop] = 0.0
        maxima[k] = np.abs(w).max()
    return y


def preprocess(y: np.ndarray, sr: float, *, target_sr: int = SR, band_hz: tuple[float, float] =
               BAND_HZ, remove_spikes: bool = True) -> tuple[np.ndarray, int]:
    """Resample, band-pass and de-spike a recording (Springer et al. 2016, Sec. II-B).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Validated mono signal (see :func:`heartsound.io.validate_audio`).
    sr : float
        Its sample rate in Hz.
    target_sr : int
        Output rate (1000 Hz).
    band_hz : (float, float)
        Band-pass cut-offs in Hz.
    remove_spikes : bool
        Apply :func:`schmidt_spike_removal`.

    Returns
    -------
    y_clean : np.ndarray [shape=(ceil(n * target_sr / sr),), dtype=float64]
        Sample ``k`` lies at time ``k / target_sr`` s, like sample ``k sr / target_sr``
        of the input.
    sr : int
        ``target_sr``.
    """
    from .io import resample

    if int(sr) != sr:
        raise ParameterError(f"sample rate must be a whole number of Hz, got {sr}")
    x = resample(np.asarray(y, dtype=np.float64), int(sr), int(target_sr))
    x = _bandpass_centred(x, target_sr, band_hz)
    if remove_spikes:
        x = schmidt_spike_removal(x, target_sr)
    return x, int(target_sr)


def _bandpass_centred(x: np.ndarray, sr: int, band_hz: tuple[float, float]) -> np.ndarray:
    """Mean removed, then :func:`bandpass` (step 2 of :func:`preprocess`)."""
    return bandpass(x - np.mean(x), sr, low_hz=band_hz[0], high_hz=band_hz[1])


class Prepared:
    """The signals that several stages derive from one recording, each computed once.

    :func:`heartsound.pipeline.analyze` builds one per recording and hands it to the
    quality check, the segmenter and the classifiers, so that the resampling, the
    band-pass, the spike removal and the envelopes are not recomputed by each of them.
    Every value is computed on first use with the same functions the stages call on
    their own (:func:`preprocess`, :func:`heartsound.features.hilbert_envelope`,
    :func:`heartsound.features.homomorphic_envelope`), so results are identical with or
    without it. Treat the returned arrays as read-only.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Validated mono samples (see :func:`heartsound.io.validate_audio`).
    sr : int
        Their sample rate in Hz (a whole number).
    """

    def __init__(self, y: np.ndarray, sr: int) -> None:
        if int(sr) != sr:
            raise ParameterError(f"sample rate must be a whole number of Hz, got {sr}")
        self.y = np.asarray(y, dtype=np.float64)
        self.sr = int(sr)
        self._memo: dict[Any, np.ndarray] = {}

    def matches(self, y: Any, sr: Any) -> bool:
        """True when this object was built from exactly these samples and rate."""
        return (y is self.y or (isinstance(y, np.ndarray) and y.shape == self.y.shape
                                and y.dtype == self.y.dtype and y.strides == self.y.strides
                                and y.__array_interface__["data"][0]
                                == self.y.__array_interface__["data"][0])) \
            and float(sr) == self.sr

    def release(self) -> None:
        """Forget every derived signal (recomputed if asked for again), to free memory
        once the stages that share them have run."""
        self._memo.clear()

    def _get(self, key: Any, make: Any) -> np.ndarray:
        v = self._memo.get(key)
        if v is None:
            v = self._memo[key] = make()
        return v

    def resampled(self, sr_out: int) -> np.ndarray:
        """``io.resample(y, sr, sr_out)`` [shape=(ceil(n sr_out / sr),)]."""
        from .io import resample

        return self._get(("resampled", int(sr_out)),
                         lambda: resample(self.y, self.sr, int(sr_out)))

    def bandpassed(self, *, target_sr: int = SR,
                   band_hz: tuple[float, float] = BAND_HZ) -> np.ndarray:
        """Steps 1-2 of :func:`preprocess`: resampled, mean removed, band-passed."""
        return self._get(("bandpassed", int(target_sr), tuple(band_hz)),
                         lambda: _bandpass_centred(self.resampled(target_sr),
                                                   int(target_sr), band_hz))

    def clean(self, *, target_sr: int = SR,
              band_hz: tuple[float, float] = BAND_HZ) -> np.ndarray:
        """:func:`preprocess` output (band-passed and de-spiked) at ``target_sr``."""
        return self._get(("clean", int(target_sr), tuple(band_hz)),
                         lambda: schmidt_spike_removal(
                             self.bandpassed(target_sr=target_sr, band_hz=band_hz),
                             int(target_sr)))

    def hilbert(self) -> np.ndarray:
        """:func:`heartsound.features.hilbert_envelope` of :meth:`clean` (1000 Hz)."""
        from .features import hilbert_envelope

        return self._get("hilbert", lambda: hilbert_envelope(self.clean()))

    def homomorphic(self) -> np.ndarray:
        """:func:`heartsound.features.homomorphic_envelope` of :meth:`clean` (1000 Hz)."""
        from .features import homomorphic_envelope

        return self._get("homomorphic", lambda: homomorphic_envelope(
            self.clean(), SR, hilbert=self.hilbert()))
