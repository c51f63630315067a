"""Pre-processing of a phonocardiogram before feature extraction.

The steps of Springer et al. (2016), Section II-B, in the order they are applied by
:func:`preprocess`:

1. resample to :data:`SR` = 1000 Hz (:data:`heartsound.vocab.PREPROCESS_SR`; polyphase,
   :func:`heartsound.io.resample`);
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

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import ParameterError
from .filters import butter_sos, sosfilt_zi
from .io import resample
from .quality_silence import no_signal_spans, signal_frames
from .vocab import PASS_BAND_HZ, PREPROCESS_SR

__all__ = ["SR", "BAND_HZ", "preprocess", "bandpass", "bandpass_centred",
           "schmidt_spike_removal", "remove_spikes_in_place", "zero_phase"]

#: Sample rate (Hz) of the pre-processed signal (:data:`heartsound.vocab.PREPROCESS_SR`).
SR = PREPROCESS_SR
#: Pass band (Hz) of the band-pass filter (:data:`heartsound.vocab.PASS_BAND_HZ`).
BAND_HZ = PASS_BAND_HZ
#: Samples per block of :func:`zero_phase` (512 KiB of float64).
BLOCK = 1 << 16


def zero_phase(step: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
               zi: np.ndarray, x: np.ndarray, padlen: int, *,
               pre: Callable[[np.ndarray], np.ndarray] | None = None,
               block: int = BLOCK) -> np.ndarray:
    """Forward-backward (zero-phase) IIR filtering in blocks, without full-length
    temporaries: ``scipy.signal.filtfilt`` / ``sosfiltfilt`` with ``padtype="odd"``.

    The filter state is carried from block to block (forward over the odd extension,
    then backward over the stored forward output, in place), so every output sample
    goes through the same operations as in the whole-array call: the result is equal
    to it sample for sample (``tests/test_blocked.py``), with no overlap needed.

    Parameters
    ----------
    step : callable
        ``step(x_block, z) -> (y_block, z_final)``, e.g. ``lambda v, z: sosfilt(sos, v,
        zi=z)`` or ``lambda v, z: lfilter(b, a, v, zi=z)``.
    zi : np.ndarray
        The filter's steady-state initial conditions per unit input (``sosfilt_zi`` or
        ``lfilter_zi``); scaled by the first sample of each pass as scipy does.
    x : np.ndarray [shape=(n,)]
        Input (any real dtype; filtered in float64).
    padlen : int
        Odd-extension length at both ends, ``0 <= padlen < n``.
    pre : callable, optional
        Elementwise transform applied to ``x`` block by block before filtering (e.g.
        removing a mean, taking a logarithm): the result is that of filtering
        ``pre(x)`` with no full-length ``pre(x)`` array.
    block : int
        Samples per block.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    f: Callable[[Any], np.ndarray] = ((lambda v: np.asarray(v, dtype=np.float64))
                                      if pre is None else pre)
    n = int(np.shape(x)[0])
    if not 0 <= padlen < n:
        raise ParameterError(f"zero-phase filter: padlen {padlen} must lie in [0, {n})")
    out = np.empty(n)
    head, tail = f(x[: padlen + 1]), f(x[n - padlen - 1:])
    left = 2 * head[:1] - head[padlen:0:-1]            # scipy.signal.odd_ext
    right = 2 * tail[-1:] - tail[-2::-1]
    z = zi * (left[:1] if padlen else head[:1])
    if padlen:
        _, z = step(left, z)
    for i in range(0, n, block):
        out[i:i + block], z = step(f(x[i:i + block]), z)
    y_right, _ = step(right, z) if padlen else (out[-1:], z)
    z = zi * y_right[-1:]
    if padlen:
        _, z = step(y_right[::-1], z)
    for j in range(n, 0, -block):
        i = max(0, j - block)
        seg, z = step(out[i:j][::-1], z)
        out[i:j] = seg[::-1]
    return out


def bandpass_padlen(sos: np.ndarray) -> int:
    """Odd-extension length of :func:`bandpass` for the sections ``sos`` (samples)."""
    return 3 * (2 * len(sos) + 1) * 4


def bandpass(y: np.ndarray, sr: float, *, low_hz: float = BAND_HZ[0],
             high_hz: float = BAND_HZ[1], order: int = 4,
             pre: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Zero-phase Butterworth band-pass filter.

    ``scipy.signal.sosfiltfilt`` (odd padding of ``3 (2 n_sections + 1) 4`` samples),
    computed in blocks by :func:`zero_phase` (the same numbers, bounded temporaries).

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
    pre : callable, optional
        Elementwise transform of ``y`` applied block by block first (see
        :func:`zero_phase`).

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    from scipy.signal import sosfilt  # slow to import

    nyq = 0.5 * float(sr)
    high = min(float(high_hz), 0.9 * nyq)
    if not 0 < low_hz < high:
        raise ParameterError(f"band-pass needs 0 < low_hz < high_hz < sr/2, got "
                             f"{low_hz}-{high_hz} Hz at {sr} Hz")
    band = (float(low_hz), float(high))
    sos = butter_sos(order, band, float(sr))
    y = np.asarray(y)
    padlen = max(min(bandpass_padlen(sos), y.size - 1), 0)
    return zero_phase(lambda v, z: sosfilt(sos, v, zi=z), sosfilt_zi(order, band, float(sr)),
                      y, padlen,
                      pre=pre)


def schmidt_spike_removal(y: np.ndarray, sr: float, *, window_s: float = 0.5,
                          threshold: float = 3.0, max_iter: int = 1000,
                          no_signal: list[tuple[float, float]] | None = None) -> np.ndarray:
    """Remove friction spikes (Schmidt et al. 2010, as used by Springer et al. 2016).

    The signal is cut into windows of ``window_s``. While the largest window maximum of
    ``|y|`` exceeds ``threshold`` times the median of the window maxima, the spike in that
    window is zeroed: from the zero crossing before its largest sample to the zero
    crossing after it. Samples after the last whole window are left as they are. Windows
    centred in a stretch without signal (``no_signal``,
    :func:`heartsound.quality_silence.no_signal_spans`) are left out of the median.

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
    remove_spikes_in_place(y, sr, window_s=window_s, threshold=threshold, max_iter=max_iter,
                           no_signal=no_signal)
    return y


def remove_spikes_in_place(y: np.ndarray, sr: float, *, window_s: float = 0.5,
                           threshold: float = 3.0, max_iter: int = 1000,
                           no_signal: list[tuple[float, float]] | None = None
                           ) -> list[tuple[int, np.ndarray]]:
    """:func:`schmidt_spike_removal` done on ``y`` itself (float64, writeable).

    Returns
    -------
    list of (int, np.ndarray)
        Each zeroed stretch, in the order zeroed: its first sample and the values it had
        before. Writing them back in reverse order restores ``y`` exactly (a later
        stretch may overlap an earlier one).
    """
    removed: list[tuple[int, np.ndarray]] = []
    win = int(round(window_s * sr))
    n_win = y.size // win if win > 0 else 0
    if n_win < 2:
        return removed
    frames = y[: n_win * win].reshape(n_win, win)  # a view: edits go to y
    maxima = np.abs(frames).max(axis=1)
    keep = signal_frames((np.arange(n_win) + 0.5) * win / sr, no_signal)  # the median's
    for _ in range(max_iter):
        med = np.median(maxima if keep is None else maxima[keep])
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
        removed.append((k * win + start, w[start:stop].copy()))
        w[start:stop] = 0.0
        maxima[k] = np.abs(w).max()
    return removed


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
    if int(sr) != sr:
        raise ParameterError(f"sample rate must be a whole number of Hz, got {sr}")
    x = resample(np.asarray(y, dtype=np.float64), int(sr), int(target_sr))
    x = bandpass_centred(x, target_sr, band_hz)
    if remove_spikes:
        x = schmidt_spike_removal(x, target_sr, no_signal=no_signal_spans(y, sr))
    return x, int(target_sr)


def bandpass_centred(x: np.ndarray, sr: int, band_hz: tuple[float, float]) -> np.ndarray:
    """Mean removed, then :func:`bandpass` (step 2 of :func:`preprocess`).

    Returns
    -------
    np.ndarray [shape=x.shape, dtype=float64]
    """
    m = np.mean(x)  # removed block by block: the values of ``x - m``, no full-length copy
    return bandpass(x, sr, low_hz=band_hz[0], high_hz=band_hz[1],
                    pre=lambda v: np.asarray(v, dtype=np.float64) - m)
