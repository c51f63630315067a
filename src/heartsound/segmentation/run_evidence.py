"""Evidence that a run of decoded sounds is a beating heart, not a repeating artifact.

A *run* is a stretch of consecutive decoded sounds (S1, S2, S1, ...) that each stand out
from their surroundings (:func:`heartsound.segmentation.presence.keep_mask`). Loud,
repeating and low-pitched bursts are not yet a heart: knocks, friction or handling noise
through a chest piece are all three. What a heart has beyond that, measured per run:

* **periodicity**: the envelope repeats at the decoded cycle length. The Pearson
  correlation of the 50 Hz frame envelope with itself shifted by one cycle (best lag
  within +-15% of the run's median cycle, over the run and half a cycle either side).
  Bursts at irregular times (friction, handling, random knocks) decorrelate.
* **S1/S2 alternation**: the two sounds of a cycle differ in a consistent way. For each
  cycle the log ratio of the S1 and S2 envelope peaks, and the difference of their
  25-150 Hz shares; the alternation is the larger of ``|mean| / sd`` of the two
  (0 when every cycle is alike, large when S1 and S2 keep their roles).
* **interval ratio**: median systole (S1 to S2) over median diastole (S2 to S1), from
  the sound onsets.

Which of these the presence decision uses, and with which thresholds, is in
:data:`heartsound.segmentation.presence.THRESHOLDS` and docs/results/no_beats.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..vocab import PREPROCESS_SR, S1

__all__ = ["low_band_share", "sound_spectra", "runs_of", "periodicity", "alternation", "run_features", "RUN_FEATURES",
           "RUN_MODELS", "run_vector", "heart_score", "N_SOUNDS_CAP"]

#: Spectral window of :func:`low_band_share` (samples at 1000 Hz) and its band edges (Hz).
_SPEC_N = 128
_LOW_BAND_HZ = (25.0, 150.0)
_FULL_BAND_HZ = (25.0, 400.0)

#: Lag search of :func:`periodicity`, as a fraction of the cycle length.
_LAG_TOL = 0.15
#: Envelope smoothing (frames) and window length (cycles) of :func:`periodicity`.
_SMOOTH = 5
_WINDOW_CYCLES = 4


def low_band_share(x: np.ndarray, sounds: list[tuple[int, int]], frame_rate: float
                   ) -> np.ndarray:
    """25-150 Hz share of the 25-400 Hz energy around each sound (the first output of
    :func:`sound_spectra`)."""
    return sound_spectra(x, sounds, frame_rate)[0]


def sound_spectra(x: np.ndarray, sounds: list[tuple[int, int]], frame_rate: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Spectral shape around each sound: low-band share and flatness.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
        The 25-400 Hz signal at :data:`~heartsound.vocab.PREPROCESS_SR` (1000 Hz), e.g.
        :meth:`Frontend.clean`.
    sounds : list of (start, end)
        Frame ranges (:func:`sound_evidence`).
    frame_rate : float
        Frames per second of ``sounds``.

    Returns
    -------
    low_share : np.ndarray [shape=(len(sounds),)]
        25-150 Hz share of the 25-400 Hz energy in [0, 1], from a Hann-windowed 128 ms
        spectrum centred on each sound (1.0 where the window holds no energy: no
        evidence against a heart sound).
    flatness : np.ndarray [shape=(len(sounds),)]
        Geometric over arithmetic mean of the 25-400 Hz power spectrum, in (0, 1]: near 0
        for a tone (a musical note), higher for a transient or noise (1.0 without energy).
    """
    low_share, flat = np.ones(len(sounds)), np.ones(len(sounds))
    if not sounds:
        return low_share, flat
    step = PREPROCESS_SR / frame_rate
    half = _SPEC_N // 2
    x = np.asarray(x, dtype=np.float64)
    centres = [int(round((a + b) * step / 2)) for a, b in sounds]
    # the windows of x zero-padded by `half` at both ends, gathered without a padded copy
    idx = (np.clip(np.asarray(centres), 0, len(x)) - half)[:, None] + np.arange(_SPEC_N)
    inside = (idx >= 0) & (idx < len(x))
    frames = np.where(inside, x[np.clip(idx, 0, max(len(x) - 1, 0))], 0.0)
    spec = np.abs(np.fft.rfft(frames * np.hanning(_SPEC_N), axis=1)) ** 2
    f = np.fft.rfftfreq(_SPEC_N, 1 / PREPROCESS_SR)
    band = spec[:, (f >= _FULL_BAND_HZ[0]) & (f <= _FULL_BAND_HZ[1])]
    low = spec[:, (f >= _LOW_BAND_HZ[0]) & (f < _LOW_BAND_HZ[1])].sum(axis=1)
    tot = band.sum(axis=1)
    ok = tot > 0
    np.divide(low, tot, out=low_share, where=ok)
    gmean = np.exp(np.mean(np.log(band[ok] + 1e-12 * tot[ok, None]), axis=1))
    flat[ok] = gmean / (tot[ok] / band.shape[1])
    return low_share, flat


def runs_of(keep: np.ndarray) -> list[tuple[int, int]]:
    """``(first, end)`` sound-index ranges of the runs of True in ``keep``."""
    d = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(keep, np.int8), [0]])))
    return list(zip(d[::2].tolist(), d[1::2].tolist()))


def _cycle_frames(starts: np.ndarray) -> float:
    """Median cycle length in frames: onset of sound ``k`` to onset of sound ``k + 2``."""
    if starts.size < 3:
        return float(2 * np.median(np.diff(starts))) if starts.size == 2 else 0.0
    return float(np.median(starts[2:] - starts[:-2]))


def _best_corr(x: np.ndarray, cyc: float) -> float:
    """Best Pearson correlation of ``x`` with itself ``lag`` frames later, ``lag`` within
    +-:data:`_LAG_TOL` of ``cyc`` (overlap at least half a cycle); 0.0 when none.
    All lags at once from prefix sums and one autocorrelation."""
    m = x.size
    lags = np.arange(max(1, int(round(cyc * (1 - _LAG_TOL)))),
                     int(round(cyc * (1 + _LAG_TOL))) + 1)
    lags = lags[m - lags >= cyc / 2]
    if lags.size == 0:
        return 0.0
    n = m - lags
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    sab = np.correlate(x, x, mode="full")[m - 1 + lags]  # sum of x[i] * x[i + lag]
    ma, mb = c1[n] / n, (c1[m] - c1[lags]) / n
    va = c2[n] / n - ma * ma
    vb = (c2[m] - c2[lags]) / n - mb * mb
    tiny = 1e-12 * max(float(c2[m]) / m, 1e-300)
    ok = (va > tiny) & (vb > tiny)
    if not ok.any():
        return 0.0
    r = (sab[ok] / n[ok] - ma[ok] * mb[ok]) / np.sqrt(va[ok] * vb[ok])
    return max(0.0, float(r.max()))


def periodicity(env: np.ndarray, sounds: list[tuple[int, int]], first: int, end: int
                ) -> float:
    """Correlation of the envelope with itself one decoded cycle later, around a run.

    The envelope is smoothed over :data:`_SMOOTH` frames (100 ms at 50 Hz: a sound that
    comes a frame early or late still overlaps) and compared in windows of
    :data:`_WINDOW_CYCLES` cycles, each with its own best lag (the heart rate drifts).

    Parameters
    ----------
    env : np.ndarray [shape=(n_frames,)]
        Frame envelope (:func:`heartsound.segmentation.presence.frame_envelope`).
    sounds : list of (start, end)
        Frame ranges of all decoded sounds.
    first, end : int
        The run: sounds ``first .. end - 1``.

    Returns
    -------
    float
        Median over the windows of the best Pearson correlation (lags within +-15% of
        the run's median cycle); 0.0 when the run is too short to compare one cycle with
        the next.
    """
    starts = np.array([sounds[k][0] for k in range(first, end)])
    cyc = _cycle_frames(starts)
    if cyc < 2:
        return 0.0
    lo = max(0, int(sounds[first][0] - cyc / 2))
    hi = min(env.size, int(sounds[end - 1][1] + cyc / 2))
    h = _SMOOTH // 2  # the moving average of env[lo:hi], from env[lo - h:hi + h] only
    a, b = max(0, lo - h), min(env.size, hi + h)
    x = np.convolve(np.asarray(env[a:b], dtype=np.float64), np.ones(_SMOOTH) / _SMOOTH,
                    mode="same")[lo - a: lo - a + hi - lo]
    w = int(round(_WINDOW_CYCLES * cyc))
    n_win = max(1, int(round(x.size / w)))
    edges = np.linspace(0, x.size, n_win + 1).astype(int)
    return float(np.median([_best_corr(x[a:b], cyc) for a, b in zip(edges[:-1], edges[1:])]))


def alternation(labels: np.ndarray, peak: np.ndarray, low: np.ndarray) -> float:
    """How consistently the S1 and S2 of a run's cycles differ.

    Parameters
    ----------
    labels : np.ndarray [shape=(n,)]
        State of each sound of the run (S1 or S2), in order.
    peak, low : np.ndarray [shape=(n,)]
        Envelope peak and 25-150 Hz share of each sound.

    Returns
    -------
    float
        ``max(|mean(d)| / sd(d))`` over ``d`` = per-cycle log peak ratio S1/S2 and low
        share difference S1 - S2 (an S1 followed by its S2); 0.0 with fewer than two
        cycles, and ``|mean| / 0.01`` when ``sd`` is 0.
    """
    i = np.flatnonzero((labels[:-1] == S1) & (labels[1:] != S1))
    if i.size < 2:
        return 0.0
    lp = np.log(np.maximum(peak, 1e-12))
    best = 0.0
    for d in (lp[i] - lp[i + 1], low[i] - low[i + 1]):
        best = max(best, float(abs(d.mean()) / max(d.std(), 0.01)))
    return best


def run_features(ev: dict[str, Any], first: int, end: int) -> dict[str, float]:
    """Evidence of one run (see the module docstring).

    Parameters
    ----------
    ev : dict
        :func:`heartsound.segmentation.presence.measure` of the recording: ``labels``
        (state of each sound), ``sounds`` (frame ranges), ``env`` (frame envelope),
        ``peak``, ``low_share``, ``flatness`` and ``prominence`` per sound.
    first, end : int
        The run: sounds ``first .. end - 1``.

    Returns
    -------
    dict
        ``low_share`` (median), ``periodicity``, ``alternation``, ``interval_ratio``
        (median systole / median diastole, 1.0 when undefined), ``prominence`` and
        ``flatness`` (medians), ``n_sounds``, ``n_sounds_recording`` (decoded sounds in
        the whole recording).
    """
    r = slice(first, end)
    sounds = ev["sounds"]
    starts = np.array([s[0] for s in sounds[first:end]], dtype=np.float64)
    lab = np.asarray(ev["labels"][r])
    gaps = np.diff(starts)
    sys_g, dia_g = gaps[lab[:-1] == S1], gaps[lab[:-1] != S1]
    ratio = (float(np.median(sys_g) / np.median(dia_g))
             if sys_g.size and dia_g.size and np.median(dia_g) > 0 else 1.0)
    low = np.asarray(ev["low_share"][r])
    return {"low_share": float(np.median(low)),
            "periodicity": periodicity(ev["env"], sounds, first, end),
            "alternation": alternation(lab, np.asarray(ev["peak"][r]), low),
            "interval_ratio": ratio, "prominence": float(np.median(ev["prominence"][r])),
            "flatness": float(np.median(ev["flatness"][r])), "n_sounds": float(end - first),
            "n_sounds_recording": float(len(sounds))}


#: Run length (sounds) beyond which a longer run is no more evidence: a short recording
#: (PASCAL's are 3.5-9 s) cannot hold long runs.
N_SOUNDS_CAP = 8.0

#: Inputs of :func:`heart_score`, in order (:func:`run_vector`).
RUN_FEATURES: tuple[str, ...] = ("log_n_sounds", "periodicity", "log1p_alternation",
                                 "interval_ratio", "low_share", "log_flatness")

#: Per segmentation method: standardisation and logistic coefficients of
#: :func:`heart_score`, fitted on training-side runs of that method
#: (``scripts/no_beats_figures.py fit``; docs/results/no_beats.md). Other methods use
#: the neural model.
RUN_MODELS: dict[str, dict[str, Any]] = {
    "neural": {
        "mean": np.array([1.9975, 0.574, 1.0087, 0.7055, 0.9079, -3.6161]),
        "scale": np.array([0.1873, 0.2729, 0.5961, 0.1856, 0.1525, 1.8157]),
        "coef": np.array([1.1968, 0.3839, -0.3364, 1.9577, 1.7735, 1.0909]),
        "intercept": 2.9641},
    "springer2016": {
        "mean": np.array([1.9552, 0.5097, 0.9987, 0.8302, 0.9101, -3.5482]),
        "scale": np.array([0.2205, 0.3025, 0.6254, 0.2528, 0.1488, 1.7452]),
        "coef": np.array([1.5028, 0.1428, -0.2619, 1.8192, 2.1783, 1.5192]),
        "intercept": 3.1837},
}


def _run_length(feat: dict[str, float]) -> float:
    """Run length credited to the score, in [1, :data:`N_SOUNDS_CAP`]: the sound count,
    capped; in a recording with fewer than the cap of decoded sounds, scaled up so that
    a run over all of them gets the full credit (a 2 s recording holds ~5 sounds)."""
    n = max(feat["n_sounds"], 1.0)
    total = min(max(feat.get("n_sounds_recording", n), n), N_SOUNDS_CAP)
    return min(N_SOUNDS_CAP, n * N_SOUNDS_CAP / total)


def run_vector(feat: dict[str, float]) -> np.ndarray:
    """:data:`RUN_FEATURES` of one run (:func:`run_features`), shape ``(6,)``: log run
    length (:func:`_run_length`), periodicity, log(1 + alternation)
    (alternation capped at 20), systole / diastole ratio (capped at 2), low share, log
    flatness. The prominence is not used: on the synthetic artifacts it measures the
    noise floor they were made with, and a score using it rejected quiet PASCAL heart
    recordings (docs/results/no_beats.md)."""
    return np.array([np.log(_run_length(feat)),
                     feat["periodicity"], np.log1p(min(feat["alternation"], 20.0)),
                     min(feat["interval_ratio"], 2.0), feat["low_share"],
                     np.log(max(feat["flatness"], 1e-6))])


def heart_score(feat: dict[str, float], method: str = "neural") -> float:
    """Logistic probability in (0, 1) that a run is a heart's, from :func:`run_vector`
    and the method's model in :data:`RUN_MODELS`."""
    m = RUN_MODELS.get(method, RUN_MODELS["neural"])
    z = float(np.dot((run_vector(feat) - m["mean"]) / m["scale"], m["coef"])
              + m["intercept"])
    return float(1.0 / (1.0 + np.exp(-z)))
