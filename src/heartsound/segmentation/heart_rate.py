"""Heart rate and systolic interval from the autocorrelation of the homomorphic envelope.

Springer et al. (2016), Sec. II-D: the heart cycle is the lag of the largest peak of the
envelope's autocorrelation between 0.5 and 2 s (30-120 bpm), the systolic interval the lag
of the largest peak between 0.2 s and half the cycle. CirCor holds children with heart
rates up to ~200 bpm, so the cycle is searched over ``60/max_bpm .. 60/min_bpm`` s
(40-200 bpm by default), and the autocorrelation is averaged over 4 s windows
(:func:`windowed_autocorrelation`) so that loud artefacts do not dominate it.

Two failure modes of a plain "largest peak" rule are guarded against:

* **double period** (half rate): the peak at two cycles can beat the one at one cycle
  when beats are irregular or noisy. If a peak at about half the chosen lag is almost as
  high (:data:`HALF_LAG_RATIO`), the shorter lag is taken.
* **half period** (double rate): when systole and diastole are about equally long the
  S1-S2 lag produces a peak at half the cycle. :func:`heart_rate_candidates` returns
  the competing lags so the segmenter can let the HSMM decide between them
  (:class:`heartsound.segmentation.springer.SpringerSegmenter` decodes each candidate
  and keeps the most likely path).

References
----------
D. B. Springer, L. Tarassenko, G. D. Clifford. "Logistic Regression-HSMM-Based Heart Sound
Segmentation." IEEE Trans. Biomed. Eng. 63(4):822-832, 2016. doi:10.1109/TBME.2015.2475278
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import ParameterError
from ..features import lagged_products

__all__ = ["autocorrelation", "windowed_autocorrelation", "estimate_heart_rate",
           "heart_rate_candidates", "decode_candidates", "systolic_interval",
           "typical_systolic_interval", "MIN_BPM", "MAX_BPM"]

MIN_BPM = 40.0
MAX_BPM = 200.0
#: A peak at half the chosen lag at least this high (relative) replaces it.
HALF_LAG_RATIO = 0.8
#: (heart rate bpm, systolic interval s) medians of the CirCor 2022 annotations.
_TYPICAL_SI = ((50.0, 60.0, 80.0, 100.0, 120.0, 140.0, 160.0, 200.0),
               (0.33, 0.32, 0.28, 0.26, 0.24, 0.22, 0.19, 0.18))
#: Shortest systolic interval searched (s).
MIN_SYSTOLE_S = 0.2
#: Windows of :func:`windowed_autocorrelation` transformed at once (bounds memory).
_WINDOW_CHUNK = 256


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Biased autocorrelation of ``x - mean(x)``, normalised to 1 at lag 0 (all zeros for
    a constant signal).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)] or [shape=(m, n)]
        One signal, or ``m`` signals (rows), each on its own: the same numbers as row by
        row.

    Returns
    -------
    np.ndarray [shape=(n,)] or [shape=(m, n)]
        Lags ``0 .. n-1`` samples.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x if x.ndim == 2 else x.ravel()
    acf = lagged_products(x - x.mean(axis=-1, keepdims=True))
    lag0 = acf[..., :1]
    return np.divide(acf, lag0, out=np.zeros_like(acf), where=lag0 > 0)


def windowed_autocorrelation(x: np.ndarray, frame_rate: float, *, window_s: float = 4.0,
                             hop_s: float = 1.0, clip_percentile: float | None = 95.0
                             ) -> np.ndarray:
    """Mean of the normalised autocorrelations of overlapping windows.

    Each window of ``window_s`` (hop ``hop_s``) is clipped at its ``clip_percentile``-th
    percentile, autocorrelated (:func:`autocorrelation`, normalised to 1 at lag 0) and the
    results are averaged. A loud artefact (crying, movement, friction) then weighs as much
    as one window instead of dominating the whole-recording autocorrelation: on 300 CirCor
    recordings this raised the share of heart rates within 10 % of the annotation-derived
    rate from 72 % to 86 %.

    Returns
    -------
    np.ndarray [shape=(min(n, window),)]
        Lags ``0 .. window-1`` frames (the whole signal if it is shorter than a window).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    w = int(round(window_s * frame_rate))
    h = max(1, int(round(hop_s * frame_rate)))
    if x.size <= w:
        starts = [0]
        w = x.size
    else:
        starts = list(range(0, x.size - w + 1, h))
        if starts[-1] + w < x.size:
            starts.append(x.size - w)
    acc = np.zeros(w)
    windows = np.lib.stride_tricks.sliding_window_view(x, w)
    for c in range(0, len(starts), _WINDOW_CHUNK):  # a chunk of windows at once
        seg = windows[starts[c:c + _WINDOW_CHUNK]]
        if clip_percentile is not None:
            seg = np.minimum(seg, np.percentile(seg, clip_percentile, axis=1,
                                                keepdims=True))
        for acf in autocorrelation(seg):            # added in order, as window by window
            acc += acf
    return acc / len(starts)


def _peaks(acf: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Indices of local maxima of ``acf`` within ``[lo, hi]`` (edges included if rising)."""
    hi = min(hi, acf.size - 2)
    if hi < lo:
        return np.zeros(0, dtype=int)
    k = np.arange(max(lo, 1), hi + 1)
    is_peak = (acf[k] >= acf[k - 1]) & (acf[k] >= acf[k + 1])
    return k[is_peak]


def _refine(acf: np.ndarray, k: int) -> float:
    """Parabolic interpolation of a peak position (sub-frame lag)."""
    if 0 < k < acf.size - 1:
        a, b, c = acf[k - 1], acf[k], acf[k + 1]
        den = a - 2 * b + c
        if den < 0:
            return k + 0.5 * (a - c) / den
    return float(k)


def typical_systolic_interval(heart_rate_bpm: float) -> float:
    """Median S1-onset-to-S2-onset interval (s) at a heart rate, CirCor 2022 annotations.

    Piecewise-linear through the medians of 1,931 annotated recordings binned by rate
    (0.32 s at 60 bpm, 0.26 s at 100, 0.22 s at 140, 0.19 s at 160 and above), constant
    outside 50-200 bpm. Used to choose between the two mirror-image autocorrelation peaks.
    """
    return float(np.interp(float(heart_rate_bpm), _TYPICAL_SI[0], _TYPICAL_SI[1]))


def systolic_interval(acf: np.ndarray, frame_rate: float, cycle_s: float) -> float:
    """Systolic interval (s, S1 onset to S2 onset) from the envelope autocorrelation.

    Springer et al. take the largest peak between 0.2 s and half the cycle, which assumes
    systole shorter than diastole. In children above ~150 bpm systole is the longer of
    the two, and the autocorrelation cannot tell lag ``L`` (S1 on S2) from its mirror
    ``cycle - L`` (S2 on the next S1). So the largest peak is searched between
    ``min(0.2 s, 0.35 cycle)`` and the cycle minus that, and of ``L`` and ``cycle - L``
    the one closer to :func:`typical_systolic_interval` is returned (below ~130 bpm this
    is Springer's rule). Without a peak, the typical interval is returned.
    """
    lo_s = min(MIN_SYSTOLE_S, 0.35 * cycle_s)
    hi_s = cycle_s - lo_s
    prior = min(typical_systolic_interval(60.0 / cycle_s), hi_s)
    lo = int(np.ceil(lo_s * frame_rate))
    hi = int(np.floor(hi_s * frame_rate))
    pk = _peaks(acf, lo, hi)
    if pk.size == 0:
        return float(np.clip(prior, lo_s, hi_s))
    k = int(pk[np.argmax(acf[pk])])
    lag = _refine(acf, k) / frame_rate
    best = min((lag, cycle_s - lag), key=lambda v: abs(v - prior))
    return float(np.clip(best, lo_s, hi_s))


def heart_rate_candidates(envelope: np.ndarray, frame_rate: float, *, min_bpm: float = MIN_BPM,
                          max_bpm: float = MAX_BPM, n: int = 3
                          ) -> list[tuple[float, float, float]]:
    """Competing (heart rate, systolic interval) estimates, best first.

    Parameters
    ----------
    envelope : np.ndarray [shape=(n_frames,)]
        Homomorphic envelope at ``frame_rate`` (column 0 of
        :func:`heartsound.features.springer_features`).
    frame_rate : float
        Frames per second.
    min_bpm, max_bpm : float
        Search range of the heart rate.
    n : int
        Largest number of candidates.

    Returns
    -------
    list of (heart_rate_bpm, systolic_interval_s, acf_peak)
        The first is the :func:`estimate_heart_rate` estimate; the others are the next
        highest autocorrelation peaks in the range, including double and half the rate
        when such peaks exist.
    """
    x = np.asarray(envelope, dtype=np.float64).ravel()
    if x.size < 4 or not np.all(np.isfinite(x)):
        raise ParameterError(f"envelope must be finite with at least 4 frames, got {x.size}")
    if not 0 < min_bpm < max_bpm:
        raise ParameterError(f"need 0 < min_bpm < max_bpm, got {min_bpm}, {max_bpm}")
    acf = windowed_autocorrelation(x, frame_rate)
    lo = int(np.floor(60.0 / max_bpm * frame_rate))
    hi = int(np.ceil(60.0 / min_bpm * frame_rate))
    pk = _peaks(acf, lo, hi)
    if pk.size == 0:  # monotone autocorrelation (very short or aperiodic): middle of range
        cycle = 60.0 / np.sqrt(min_bpm * max_bpm)
        return [(60.0 / cycle, systolic_interval(acf, frame_rate, cycle), float("nan"))]
    order = pk[np.argsort(-acf[pk])]
    first = int(order[0])
    # double-period guard: a nearly as high peak at about half the lag wins
    half = [int(k) for k in pk if abs(k - first / 2) <= max(1.0, 0.1 * first / 2)]
    if half:
        k2 = max(half, key=lambda k: acf[k])
        if acf[k2] >= HALF_LAG_RATIO * acf[first]:
            first = k2
    lags = [first] + [int(k) for k in order if int(k) != first]
    out = []
    for k in lags[:max(1, n)]:
        cycle = _refine(acf, k) / frame_rate
        cycle = float(np.clip(cycle, 60.0 / max_bpm, 60.0 / min_bpm))
        out.append((60.0 / cycle, systolic_interval(acf, frame_rate, cycle), float(acf[k])))
    return out


def decode_candidates(candidates: Sequence[tuple[float, float, float]],
                      decode: Callable[[float, float], tuple[np.ndarray, float]], *,
                      ambiguity: float | None = None, typical_systole: bool = False
                      ) -> tuple[np.ndarray, float, float, list[tuple[float, float, float]]]:
    """Decode every competing heart rate and keep the best-scoring state path.

    The autocorrelation may leave the true heart rate as its second or third peak
    (noise, children's fast rates), so both segmenters decode each candidate duration
    model and keep the path whose score is highest (the first one on ties).

    Parameters
    ----------
    candidates : sequence of (heart_rate_bpm, systolic_interval_s, acf_peak)
        Best first, as :func:`heart_rate_candidates` returns them.
    decode : callable
        ``decode(heart_rate_bpm, systolic_interval_s) -> (states, score)``: the HSMM
        decoding under that duration model and the score it is compared by.
    ambiguity : float, optional
        Keep a later candidate only when its ``acf_peak`` is at least ``ambiguity``
        times the first one's (both finite); default: keep all.
    typical_systole : bool
        Also decode, for each heart rate, :func:`typical_systolic_interval` when it lies
        in ``[0.12 s, 0.7 cycle]`` and is more than 20 ms from the intervals already
        listed for that rate.

    Returns
    -------
    states : np.ndarray [shape=(n_frames,)]
    heart_rate_bpm, systolic_interval_s : float
        The candidate of the best path.
    tried : list of (heart_rate_bpm, systolic_interval_s, score)
        Every candidate decoded, in order.
    """
    if not candidates:
        raise ParameterError("no heart-rate candidate to decode")
    top = candidates[0][2]
    if ambiguity is not None:
        candidates = [candidates[0]] + [
            c for c in candidates[1:]
            if np.isfinite(top) and np.isfinite(c[2]) and c[2] >= ambiguity * top]
    pairs: list[tuple[float, float]] = []
    for hr, si, _ in candidates:
        pairs.append((hr, si))
        alt = typical_systolic_interval(hr)
        if (typical_systole and 0.12 <= alt <= 0.7 * 60.0 / hr
                and all(abs(alt - p[1]) > 0.02 for p in pairs if p[0] == hr)):
            pairs.append((hr, alt))
    best: tuple[float, np.ndarray, float, float] | None = None
    tried = []
    for hr, si in pairs:
        states, score = decode(hr, si)
        tried.append((hr, si, score))
        if best is None or score > best[0]:
            best = (score, states, hr, si)
    assert best is not None
    return best[1], best[2], best[3], tried


def estimate_heart_rate(envelope: np.ndarray, frame_rate: float, *, min_bpm: float = MIN_BPM,
                        max_bpm: float = MAX_BPM) -> tuple[float, float]:
    """Heart rate (bpm) and systolic interval (s) of a recording.

    Parameters
    ----------
    envelope : np.ndarray [shape=(n_frames,)]
        Homomorphic envelope at ``frame_rate``.
    frame_rate : float
        Frames per second (50 Hz).
    min_bpm, max_bpm : float
        Search range (40-200 bpm).

    Returns
    -------
    heart_rate_bpm : float
    systolic_interval_s : float
        S1 onset to S2 onset.

    Examples
    --------
    >>> t = np.arange(0, 10, 0.02)
    >>> env = np.exp(-((t % 0.8) / 0.03) ** 2) + 0.6 * np.exp(-(((t - 0.3) % 0.8) / 0.03) ** 2)
    >>> hr, si = estimate_heart_rate(env, 50.0)
    >>> round(hr), round(si, 2)
    (75, 0.3)
    """
    hr, si, _ = heart_rate_candidates(envelope, frame_rate, min_bpm=min_bpm,
                                      max_bpm=max_bpm, n=1)[0]
    return hr, si
