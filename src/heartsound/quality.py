"""Signal-quality assessment of a heart-sound recording.

:func:`assess` computes a few signal-quality indices (SQIs) and turns them into a verdict
(usable or not), a score in [0, 1] and human-readable reasons:

* clipping: share of samples at full scale and flat-topped runs (:func:`clipping`);
* duration;
* near-silence: share of 20 ms frames far below the recording's loud frames;
* band power: share of the power in the 25-400 Hz heart-sound band versus high-frequency
  (400-1000 Hz) noise;
* envelope periodicity: the largest peak of the normalised autocorrelation of the
  25-400 Hz homomorphic envelope at lags 0.3-1.5 s (heart rates 40-200 bpm), the
  autocorrelation SQI of Springer et al. (2016), computed after Schmidt spike removal
  in 5 s windows and summarised by its median over the windows;
* impulsiveness and spikiness: kurtosis of the band-passed signal (heart sounds are
  impulsive; stationary noise and hum are not) and the share of 0.5 s windows holding a
  spike (window maximum over 3 times the median window maximum, the criterion of
  Schmidt et al. 2010 spike removal).

The thresholds were chosen on the corpora in ``../shared/data`` (PASCAL 2011 set A
``artifact`` recordings against its ``normal``/``murmur`` recordings, PhysioNet 2016 and
CirCor 2022 share flagged); ``docs/results/quality.md`` has the figures and the command
``heartsound quality --evaluate ../shared/data`` that reproduces them.

References
----------
D. B. Springer, T. Brennan, N. Ntusi, H. Y. Abdelrahman, L. J. Zühlke, B. M. Mayosi,
L. Tarassenko, G. D. Clifford. "Automated signal quality assessment of mobile
phone-recorded heart sound signals." J Med Eng Technol 40(7-8), 2016.
doi:10.1080/03091902.2016.1213902

S. E. Schmidt, C. Holst-Hansen, C. Graff, E. Toft, J. J. Struijk. "Segmentation of heart
sound recordings by a duration-dependent hidden Markov model." Physiol Meas 31(4), 2010.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import ParameterError, SilentAudioError
from .features import lagged_products
from .frontend import Frontend, as_frontend
from .quality_silence import quiet_of, signal_frames, signal_mask, spans_of
from .serialize import quality_dict
from .vocab import ANALYSIS_SR, FRAME_RATE, PASS_BAND_HZ, PREPROCESS_SR

__all__ = ["Quality", "assess", "clipping", "measure", "THRESHOLDS"]

# The band-power measures are computed at ANALYSIS_SR (2000 Hz; all corpora have at
# least that); the envelope, kurtosis and spike measures use the 1000 Hz
# (PREPROCESS_SR) segmentation front end, the envelope taken at FRAME_RATE (50 Hz).
#: Lags (s) searched for the autocorrelation peak: 40-200 bpm.
LAG_RANGE_S = (0.3, 1.5)
#: Window (s) of the periodicity measure; windows overlap by half.
PERIODICITY_WINDOW_S = 5.0

#: Decision thresholds (chosen on data, see docs/results/quality.md).
THRESHOLDS: dict[str, float] = {
    "min_duration_s": 2.0,          # two cardiac cycles at 60 bpm
    "max_clipped_share": 0.01,      # share of samples at full scale or in flat tops
    "max_quiet_share": 0.5,         # share of near-silent 20 ms frames
    "min_periodicity": 0.3,         # median autocorrelation peak of the envelope
    "min_band_share": 0.4,          # share of 25-1000 Hz power inside 25-400 Hz
    "max_spike_share": 0.25,        # share of 0.5 s windows with a spike
    "min_kurtosis": 3.0,            # Gaussian noise has 3; heart sounds are impulsive
}


@dataclass
class Quality:
    """Verdict of :func:`assess`.

    Attributes
    ----------
    usable : bool
        False when any reason was found.
    score : float
        In [0, 1]; higher is better. 0.5 is the usable/unusable boundary of the
        periodicity SQI; problems found cap it below 0.5.
    reasons : list of str
        Human-readable problems ("clipped: 4.1% of samples at full scale").
    measures : dict
        Every SQI computed (see :func:`measure`).
    flags : list of str
        One short code per reason (``too_short``, ``flat``, ``clipped``, ``silent``,
        ``aperiodic``, ``noisy``, ``not_impulsive``, ``spiky``), in the same order.
    """

    usable: bool
    score: float
    reasons: list[str] = field(default_factory=list)
    measures: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, by :func:`heartsound.serialize.quality_dict` (the one rounding rule;
        NaN, e.g. no period found, as None)."""
        return quality_dict(self)


def clipping(y: Any, *, full_scale: float = 1.0) -> dict[str, Any]:
    """Clipping measures of a recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples, full scale ``±full_scale`` (1.0 for audio read by :func:`heartsound.io.load`).
    full_scale : float
        Amplitude of full scale.

    Returns
    -------
    dict
        ``n_full_scale`` (samples with ``|y| >= 0.999 full_scale``), ``full_scale_share``,
        ``n_full_scale_runs`` (runs of >= 2 consecutive such samples) and
        ``longest_full_scale_run``; ``peak`` (max ``|y|``); ``plateau_share``: the share
        of samples in flat tops (runs of >= 3 equal samples at >= 0.98 of the peak),
        which finds clipping that happened before a gain change.
    """
    a = np.abs(np.asarray(y, dtype=np.float64).ravel())
    n = max(1, a.size)
    at_fs = a >= 0.999 * full_scale
    runs = _runs(at_fs)
    peak = float(a.max()) if a.size else 0.0
    plateau = 0
    if peak > 0:
        near = a >= 0.98 * peak
        same = np.zeros(a.size, bool)
        same[1:] = np.diff(np.asarray(y, dtype=np.float64).ravel()) == 0
        flat = near & (same | np.roll(same, -1))
        plateau = int(sum(r for r in _runs(flat) if r >= 3))
    return {"n_full_scale": int(at_fs.sum()), "full_scale_share": float(at_fs.sum() / n),
            "n_full_scale_runs": int(sum(1 for r in runs if r >= 2)),
            "longest_full_scale_run": int(max(runs, default=0)),
            "peak": peak, "plateau_share": float(plateau / n)}


def _runs(mask: Any) -> list[int]:
    """Lengths of the runs of True in a boolean array."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return (d[1::2] - d[::2]).tolist()


def _welch(x: Any, sr: float, nperseg: int) -> tuple[Any, Any]:
    """Welch power spectral density: Hann (periodic) windows of ``nperseg`` samples, 50 %
    overlap, each segment's mean removed, one-sided, density scaling, mean over segments.

    The same estimate as ``scipy.signal.welch(x, fs=sr, nperseg=nperseg)`` (its
    defaults), computed with one batched FFT; ``tests/test_quality.py`` checks the two
    agree.

    Returns
    -------
    f : np.ndarray [shape=(nperseg // 2 + 1,)]
        Frequencies in Hz.
    p : np.ndarray [shape=(nperseg // 2 + 1,)]
        Power per Hz.
    """
    x = np.asarray(x, dtype=np.float64)
    step = nperseg - nperseg // 2
    win = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nperseg) / nperseg)
    segs = sliding_window_view(x, nperseg)[::step]
    p = np.zeros(nperseg // 2 + 1)
    for i in range(0, len(segs), 4096):  # blocks of segments: bounded memory
        seg = segs[i:i + 4096]
        seg = seg - seg.mean(axis=1, keepdims=True)
        p += (np.abs(np.fft.rfft(seg * win, axis=1)) ** 2).sum(axis=0)
    p = p / len(segs) / (float(sr) * np.sum(win ** 2))
    p[1:-1 if nperseg % 2 == 0 else None] *= 2.0
    return np.fft.rfftfreq(nperseg, 1.0 / float(sr)), p


def _decimate_pick(env: Any, sr: int, out_sr: float) -> Any:
    """Every ``sr / out_sr``-th sample (nearest), ``floor(n out_sr / sr)`` of them.

    Not :func:`heartsound.features.to_frames` (the segmenters' anti-aliased polyphase
    framing) on purpose: the periodicity thresholds were tuned on this measure, and
    framing the envelope the segmenters' way moves the periodicity by up to ~0.003 and
    the score of 12 of the 21 reference recordings beyond 1e-3 (measured 2026-12-04).
    """
    step = sr / out_sr
    idx = np.round(np.arange(int(len(env) / step)) * step).astype(int)
    return env[idx]


def _autocorr_peak(env: Any, env_sr: float) -> tuple[float, float]:
    """Largest local maximum of the normalised (unbiased) autocorrelation of ``env`` at
    lags in :data:`LAG_RANGE_S`, and its lag in seconds (0.0, nan when there is none).
    Lags are limited to half the length of ``env`` so that every lag averages over at
    least half of it."""
    x = np.asarray(env, dtype=np.float64)
    x = x - x.mean()
    n = x.size
    if n < 3 or not np.any(x):
        return 0.0, float("nan")
    r = lagged_products(x)
    r = r / (n - np.arange(n))      # unbiased: each lag averaged over its overlap
    r = r / r[0]
    lo = max(1, int(np.ceil(LAG_RANGE_S[0] * env_sr)))
    hi = min(int(LAG_RANGE_S[1] * env_sr), n // 2, n - 2)
    if hi < lo:
        return 0.0, float("nan")
    k = np.arange(lo, hi + 1)
    peak = (r[k] >= r[k - 1]) & (r[k] >= r[k + 1])
    if not peak.any():
        return 0.0, float("nan")
    kk = k[peak][np.argmax(r[k[peak]])]
    return float(max(r[kk], 0.0)), float(kk / env_sr)


def _windowed_periodicity(env: Any, env_sr: float, no_signal: Any = None
                          ) -> tuple[float, float, int]:
    """Median over 5 s windows (hop 2.5 s) of :func:`_autocorr_peak`, the median lag, and
    the number of windows. Windows make the measure robust to a heart rate that drifts
    (children, breathing) and to a stretch of artefact; a recording shorter than one
    window is measured whole. Windows mostly in the stretches ``no_signal`` are left out
    (unless every window is)."""
    wl = int(PERIODICITY_WINDOW_S * env_sr)
    hop = wl // 2
    n = len(env)
    starts = range(0, n - wl + 1, hop) if n >= wl else [0]
    if no_signal:
        sig = signal_mask(np.arange(n) / env_sr, no_signal)
        starts = [i for i in starts if sig[i: i + wl].mean() >= 0.5] or starts
    peaks, lags = [], []
    for i in starts:
        p, lag = _autocorr_peak(env[i: i + wl], env_sr)
        peaks.append(p)
        lags.append(lag)
    ok = [x for x in lags if np.isfinite(x)]
    return (float(np.median(peaks)), float(np.median(ok)) if ok else float("nan"),
            len(peaks))


def measure(y: Any, sr: int, *, frontend: Frontend | None = None) -> dict[str, Any]:
    """Every SQI of a recording (no verdict).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples in [-1, 1].
    sr : int
        Sample rate (Hz), at least 500.
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end, shared with segmentation and classification (the
        2000 Hz resampled signal, the 1000 Hz band-passed and de-spiked signals and the
        homomorphic envelope); built (and the samples validated) here when not given.
       

    Returns
    -------
    dict
        ``duration_s``; the :func:`clipping` measures; ``flat`` (every sample equal: a
        constant, which is not clipping); ``quiet_share`` (20 ms frames with
        RMS below 1/1000 of the 95th-percentile frame RMS, or digital zero);
        ``band_share`` (power 25-400 Hz over power 25-1000 Hz) and ``hf_share`` (power
        400-1000 Hz over power 25-1000 Hz), both from a Welch spectrum at 2000 Hz;
        ``lf_share`` (power below 25 Hz over total power); ``periodicity`` and
        ``period_s``: median over 5 s windows (hop 2.5 s) of the largest autocorrelation
        peak of the homomorphic envelope at lags 0.3-1.5 s, and the median lag of those
        peaks; ``n_periodicity_windows``; ``periodicity_whole``, the same peak over the
        whole recording; ``kurtosis`` (Pearson, 3 for Gaussian noise) of the 25-400 Hz
        signal; ``spike_share`` (0.5 s windows with a spike). The periodicity windows
        and the spike windows (and their median) leave out the stretches without signal
        (:func:`heartsound.quality_silence.no_signal_spans`); ``quiet_share`` counts them.

    Notes
    -----
    The envelope, kurtosis and spike measures use the signals of the segmentation
    front end (:class:`heartsound.frontend.Frontend`: 1000 Hz, 25-400 Hz band-pass,
    Schmidt spike removal, :func:`heartsound.features.homomorphic_envelope`), the
    envelope taken every 20 ms (50 Hz).
    """
    fe = as_frontend(y, sr, frontend, min_duration_s=0.0)
    y, sr = fe.y, fe.sr
    gaps = spans_of(fe)  # left out of the periodicity and spike measures
    out: dict[str, Any] = {"duration_s": float(y.size / sr)}
    out.update(clipping(y))
    out["flat"] = bool(np.ptp(y) == 0)
    quiet = quiet_of(fe)[1]  # near-silence on 20 ms frames at the original rate
    out["quiet_share"] = float(np.mean(quiet)) if quiet.size else 0.0
    # spectra at the analysis rate
    x = fe.resampled(ANALYSIS_SR) if sr > ANALYSIS_SR else y
    xsr = ANALYSIS_SR if sr > ANALYSIS_SR else sr
    f, p = _welch(x, xsr, min(len(x), 1024))
    tot = p.sum()
    lo, hi = PASS_BAND_HZ
    p25 = p[f >= lo].sum()
    out["lf_share"] = float(p[f < lo].sum() / tot) if tot > 0 else 0.0
    out["band_share"] = float(p[(f >= lo) & (f <= hi)].sum() / p25) if p25 > 0 else 0.0
    out["hf_share"] = float(p[f > hi].sum() / p25) if p25 > 0 else 0.0
    # envelope periodicity on the 25-400 Hz signal, spikes removed
    env = _decimate_pick(fe.homomorphic(), PREPROCESS_SR, FRAME_RATE)
    (out["periodicity"], out["period_s"],
     out["n_periodicity_windows"]) = _windowed_periodicity(env, FRAME_RATE, gaps)
    out["periodicity_whole"] = _autocorr_peak(env, FRAME_RATE)[0]
    # spikiness (before spike removal)
    b = fe.bandpassed()
    sd = b.std()
    out["kurtosis"] = float(np.mean((b - b.mean()) ** 4) / sd ** 4) if sd > 0 else 0.0
    wl = int(0.5 * PREPROCESS_SR)
    nw = len(b) // wl
    if nw >= 2:
        mx = np.abs(b[: nw * wl]).reshape(nw, wl).max(axis=1)
        sig = signal_frames((np.arange(nw) + 0.5) * wl / PREPROCESS_SR, gaps)
        mx = mx if sig is None else mx[sig]
        out["spike_share"] = float(np.mean(mx > 3 * np.median(mx)))
    else:
        out["spike_share"] = 0.0
    return out


def assess(y: Any, sr: int, *, thresholds: dict[str, float] | None = None,
           frontend: Frontend | None = None) -> Quality:
    """Assess whether a recording is good enough to analyse.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples in [-1, 1] (as read by :func:`heartsound.io.load`).
    sr : int
        Sample rate in Hz (at least 500).
    thresholds : dict, optional
        Overrides of :data:`THRESHOLDS`.
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end (see :func:`measure`); trusted, not validated again.
       

    Returns
    -------
    Quality

    Raises
    ------
    AudioError
        Empty, non-finite or badly shaped samples, or an unsupported rate. An all-zero
        recording is not an error: it is reported unusable ("silent").

    Examples
    --------
    >>> import numpy as np
    >>> q = assess(np.random.default_rng(0).normal(0, 0.1, 20000), 2000)
    >>> q.usable, q.reasons[0]  # doctest: +ELLIPSIS
    (False, 'irregular envelope...')
    """
    th = dict(THRESHOLDS)
    if thresholds:
        unknown = set(thresholds) - set(THRESHOLDS)
        if unknown:
            raise ParameterError(f"unknown quality thresholds {sorted(unknown)}; "
                                 f"valid: {', '.join(THRESHOLDS)}")
        th.update(thresholds)
    try:
        fe = as_frontend(y, sr, frontend, min_duration_s=0.0)
    except SilentAudioError:
        n = int(np.asarray(y).size)
        return Quality(False, 0.0, ["silent: all samples are zero"],
                       {"duration_s": n / float(sr)}, ["silent"])
    m = measure(fe.y, fe.sr, frontend=fe)
    reasons: list[str] = []
    flags: list[str] = []
    if m["duration_s"] < th["min_duration_s"]:
        flags.append("too_short")
        reasons.append(f"too short: {m['duration_s']:.1f} s "
                       f"(at least {th['min_duration_s']:g} s needed)")
    clip = max(m["full_scale_share"], m["plateau_share"])
    if m["flat"]:
        flags.append("flat")
        reasons.append("flat: the signal is constant (DC), it holds no sound")
    elif clip > th["max_clipped_share"]:
        what = "at full scale" if m["full_scale_share"] >= m["plateau_share"] else \
            "in flat-topped peaks"
        flags.append("clipped")
        reasons.append(f"clipped: {100 * clip:.1f}% of samples {what}")
    if m["quiet_share"] > th["max_quiet_share"]:
        flags.append("silent")
        reasons.append(f"mostly silent: {100 * m['quiet_share']:.0f}% of the recording "
                       "is near zero")
    if m["periodicity"] < th["min_periodicity"]:
        flags.append("aperiodic")
        reasons.append(f"irregular envelope: autocorrelation peak {m['periodicity']:.2f} < "
                       f"{th['min_periodicity']:g} (noise, a loud murmur or an irregular "
                       "rhythm)")
    if m["band_share"] < th["min_band_share"]:
        flags.append("noisy")
        reasons.append(f"noisy: only {100 * m['band_share']:.0f}% of the power is in the "
                       "25-400 Hz heart-sound band")
    if m["kurtosis"] < th["min_kurtosis"]:
        flags.append("not_impulsive")
        reasons.append(f"not impulsive: the 25-400 Hz signal is no more "
                       f"impulsive than noise (kurtosis {m['kurtosis']:.1f} < "
                       f"{th['min_kurtosis']:g})")
    if m["spike_share"] > th["max_spike_share"]:
        flags.append("spiky")
        reasons.append(f"spiky: {100 * m['spike_share']:.0f}% of 0.5 s windows hold a "
                       "spike (knocks, friction)")
    score = float(np.clip(m["periodicity"] / (2 * th["min_periodicity"]), 0.0, 1.0))
    if reasons:
        score = min(score, 0.49)
    return Quality(not reasons, score, reasons, m, flags)
