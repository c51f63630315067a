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
* **spectral shape and time course** of the sounds (medians over the run, per sound
  from :mod:`heartsound.segmentation.presence_sounds`): low-band share, spectral
  flatness and the **duration** of each sound (heart sounds are transients; notes,
  friction and breaths last longer); the sub-50 Hz share is measured but not used.
* **spectral consistency**: each sound's spectrum against that of the sound two later
  (the same valves closing beat after beat make nearly the same sound; a bass line, a
  knock on a varying spot or noise bursts do not).
* **the segmenter's confidence** over the run's frames (:func:`frame_confidence`): the
  mean posterior of the decoded state, the mean normalised entropy of the posteriors and
  the share of frames whose most probable state is not the decoded one (the emission
  model was fitted on heart sounds only). Measured for ``fit``, read by no shipped model:
  given the inputs above it adds nothing (docs/results/no_beats_s11.md).

The :func:`heart_score` combines them (a logistic model per segmentation method).
Which the presence decision uses, and with which thresholds, is in
:data:`heartsound.segmentation.presence.THRESHOLDS`, docs/results/no_beats.md and
docs/results/no_beats_s10.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..vocab import S1
from .presence_sounds import low_band_share, sound_spectra

__all__ = ["low_band_share", "sound_spectra", "spectral_consistency", "frame_confidence",
           "CONFIDENCE_KEYS", "runs_of", "present_share",
           "periodicity", "alternation", "run_features", "RUN_INPUTS", "RUN_FEATURES",
           "RUN_MODELS", "run_vector", "heart_score", "uses_confidence", "N_SOUNDS_CAP"]

#: Lag search of :func:`periodicity`, as a fraction of the cycle length.
_LAG_TOL = 0.15
#: Envelope smoothing (frames) and window length (cycles) of :func:`periodicity`.
_SMOOTH = 5
_WINDOW_CYCLES = 4


def spectral_consistency(log_spectrum: np.ndarray) -> float:
    """How alike each sound's spectrum is to that of the sound two later (the same role:
    S1 with the next S1, S2 with the next S2).

    The same valves closing beat after beat make nearly the same sound; a bass line, a
    knock on a varying spot or noise bursts change their spectra from one to the next.

    Parameters
    ----------
    log_spectrum : np.ndarray [shape=(n_sounds, n_bins)]
        Of one run (:func:`~heartsound.segmentation.presence_sounds.spectral_evidence`).

    Returns
    -------
    float
        Median Pearson correlation of the log spectra of sounds ``k`` and ``k + 2``, in
        [-1, 1] (a pair with a constant spectrum counts 0); 0.0 with fewer than 3 sounds.
    """
    if log_spectrum.shape[0] < 3:
        return 0.0
    a = log_spectrum[:-2] - log_spectrum[:-2].mean(axis=1, keepdims=True)
    b = log_spectrum[2:] - log_spectrum[2:].mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    r = np.divide((a * b).sum(axis=1), den, out=np.zeros(den.size), where=den > 0)
    return float(np.median(r))


#: Per-frame keys of :func:`frame_confidence`, averaged per run by :func:`run_features`.
CONFIDENCE_KEYS: tuple[str, ...] = ("post_decoded", "post_entropy", "post_disagree")


def frame_confidence(posteriors: np.ndarray, states: np.ndarray) -> dict[str, np.ndarray]:
    """How sure the segmenter's emission model is of the decoded path, frame by frame.

    Parameters
    ----------
    posteriors : np.ndarray [shape=(n_frames, 4)]
        State probabilities per frame (columns S1, systole, S2, diastole), aligned with
        ``states``; rows are normalised here (springer2016's one-vs-rest probabilities
        need not sum to 1).
    states : np.ndarray [shape=(n_frames,)]
        Decoded states (1-4; 0 counts as disagreeing, posterior 0).

    Returns
    -------
    dict
        Frame arrays [shape=(n_frames,)]: ``post_decoded`` (posterior of the decoded
        state), ``post_entropy`` (entropy over log 4, in [0, 1]) and ``post_disagree``
        (1.0 where the most probable state is not the decoded one, else 0.0).
    """
    p = np.clip(np.asarray(posteriors, dtype=np.float64), 0.0, None)
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    st = np.asarray(states).astype(np.int64)
    idx = np.clip(st - 1, 0, p.shape[1] - 1)
    dec = np.where(st > 0, p[np.arange(st.size), idx], 0.0)
    ent = -(p * np.log(np.maximum(p, 1e-12))).sum(axis=1) / np.log(p.shape[1])
    return {"post_decoded": dec, "post_entropy": ent,
            "post_disagree": (np.argmax(p, axis=1) + 1 != st).astype(np.float64)}


def runs_of(keep: np.ndarray) -> list[tuple[int, int]]:
    """``(first, end)`` sound-index ranges of the runs of True in ``keep``."""
    d = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(keep, np.int8), [0]])))
    return list(zip(d[::2].tolist(), d[1::2].tolist()))


def present_share(gated: np.ndarray, signal: np.ndarray | None = None) -> float:
    """Share of the frames that keep a state (> 0) in ``gated`` [shape=(n_frames,)]: of
    the frames where ``signal`` [shape=(n_frames,), bool] is True when given (the frames
    outside the stretches without signal, :mod:`heartsound.quality_silence`), else of
    all; 0.0 without frames."""
    g = np.asarray(gated)
    g = g if signal is None or not np.any(signal) else g[np.asarray(signal, bool)]
    return float(np.mean(g > 0)) if g.size else 0.0


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
        (state of each sound), ``sounds`` (frame ranges), ``env`` (frame envelope);
        per sound ``peak``, ``prominence``, ``duration_ms``
        (:func:`~heartsound.segmentation.presence_sounds.sound_shape`) and
        ``low_share``, ``sub50_share``, ``flatness``, ``log_spectrum``
        (:func:`~heartsound.segmentation.presence_sounds.spectral_evidence`).
    first, end : int
        The run: sounds ``first .. end - 1``.

    Returns
    -------
    dict
        ``low_share`` (median), ``periodicity``, ``alternation``, ``interval_ratio``
        (median systole / median diastole, 1.0 when undefined), ``prominence``,
        ``flatness``, ``sub50_share`` and ``duration_ms`` (medians), ``consistency``
        (:func:`spectral_consistency`), ``n_sounds``, ``n_sounds_recording`` (decoded
        sounds in the whole recording) and, when ``ev`` holds them
        (:func:`frame_confidence`), the means of :data:`CONFIDENCE_KEYS` over the
        run's frames (first sound's onset to last sound's end) and
        ``post_entropy_recording`` (mean entropy over the whole recording).
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
    med = {k: float(np.median(ev[k][r])) for k in ("prominence", "flatness", "sub50_share",
                                                   "duration_ms")}
    span = slice(sounds[first][0], sounds[end - 1][1])
    conf = {k: float(np.mean(ev[k][span])) for k in CONFIDENCE_KEYS if k in ev}
    if "post_entropy" in ev:
        conf["post_entropy_recording"] = float(np.mean(ev["post_entropy"]))
    return {"low_share": float(np.median(low)), **conf,
            "periodicity": periodicity(ev["env"], sounds, first, end),
            "alternation": alternation(lab, np.asarray(ev["peak"][r]), low),
            "interval_ratio": ratio, **med,
            "consistency": spectral_consistency(np.asarray(ev["log_spectrum"][r])),
            "n_sounds": float(end - first), "n_sounds_recording": float(len(sounds))}


#: Run length (sounds) beyond which a longer run is no more evidence: a short recording
#: (PASCAL's are 3.5-9 s) cannot hold long runs.
N_SOUNDS_CAP = 8.0


#: Systole/diastole ratio below which a heart is rare (5th percentile of the kept
#: PhysioNet runs 0.455, docs/results/no_beats.md): ``short_systole`` is the shortfall.
_MIN_RATIO = 0.45


def _run_length(feat: dict[str, float]) -> float:
    """Run length credited to the score, in [1, :data:`N_SOUNDS_CAP`]: the sound count,
    capped; in a recording with fewer than the cap of decoded sounds, scaled up so that
    a run over all of them gets the full credit (a 2 s recording holds ~5 sounds)."""
    n = max(feat["n_sounds"], 1.0)
    total = min(max(feat.get("n_sounds_recording", n), n), N_SOUNDS_CAP)
    return min(N_SOUNDS_CAP, n * N_SOUNDS_CAP / total)


#: Every input :func:`run_vector` can build from :func:`run_features`, by name. The
#: prominence is not one: on the synthetic artifacts it measures the noise floor they
#: were made with, and a score using it rejected quiet PASCAL heart recordings
#: (docs/results/no_beats.md).
RUN_INPUTS: dict[str, Callable[[dict[str, float]], float]] = {
    "log_n_sounds": lambda f: float(np.log(_run_length(f))),
    "periodicity": lambda f: f["periodicity"],
    "log1p_alternation": lambda f: float(np.log1p(min(f["alternation"], 20.0))),
    "interval_ratio": lambda f: min(f["interval_ratio"], 2.0),
    "short_systole": lambda f: max(0.0, _MIN_RATIO - f["interval_ratio"]),
    "low_share": lambda f: f["low_share"],
    "log_flatness": lambda f: float(np.log(max(f["flatness"], 1e-6))),
    "log_duration": lambda f: float(np.log(max(f["duration_ms"], 1.0))),
    "consistency": lambda f: f["consistency"],
    "sub50_share": lambda f: f["sub50_share"],
    "post_decoded": lambda f: f.get("post_decoded", np.nan),
    "post_entropy": lambda f: f.get("post_entropy", np.nan),
    "post_disagree": lambda f: f.get("post_disagree", np.nan),
    "post_entropy_recording": lambda f: f.get("post_entropy_recording", np.nan),
}

#: Inputs of :func:`heart_score` (names of :data:`RUN_INPUTS`), in order: session 9's
#: six and the sound duration and spectral consistency (session 10). Next to the
#: duration the flatness weight is negative: the most tonal spectra are counted for a
#: heart (PhysioNet's low-pitched sounds), the flattest (friction, breath) against; a
#: model without it did no better on new artifacts (docs/results/no_beats_s10.md).
RUN_FEATURES: tuple[str, ...] = ("log_n_sounds", "periodicity", "log1p_alternation",
                                 "interval_ratio", "low_share", "log_flatness",
                                 "log_duration", "consistency")

#: Per segmentation method: inputs (``features``), standardisation and logistic
#: coefficients of :func:`heart_score`, fitted on training-side runs of that method
#: (``scripts/no_beats_figures.py fit``; docs/results/no_beats_s10.md). Other methods use
#: the neural model.
RUN_MODELS: dict[str, dict[str, Any]] = {
    "neural": {
        "mean": np.array([1.9834, 0.565, 1.0071, 0.6956, 0.8956, -3.5614, 3.3373, 0.7454]),
        "scale": np.array([0.2025, 0.2779, 0.6004, 0.1905, 0.1668, 1.8453, 0.4849, 0.2477]),
        "coef": np.array([1.0799, 0.1832, -0.0044, 1.84, 0.3941, -1.0147, -1.5261, 0.9469]),
        "intercept": 3.4116, "features": RUN_FEATURES},
    "springer2016": {
        "mean": np.array([1.9442, 0.5036, 0.9974, 0.8253, 0.9, -3.5105, 3.3355, 0.7353]),
        "scale": np.array([0.2291, 0.3034, 0.6313, 0.2537, 0.1612, 1.7717, 0.4649, 0.2417]),
        "coef": np.array([1.2695, -0.0372, 0.2494, 1.648, 1.2001, -0.2443, -1.4869, 0.7629]),
        "intercept": 3.5744, "features": RUN_FEATURES},
}


def run_vector(feat: dict[str, float], features: tuple[str, ...] = RUN_FEATURES
               ) -> np.ndarray:
    """The inputs ``features`` (names of :data:`RUN_INPUTS`) of one run
    (:func:`run_features`), shape ``(len(features),)``: e.g. log run length
    (:func:`_run_length`), log(1 + alternation) (alternation capped at 20), systole /
    diastole ratio (capped at 2), log flatness, log duration (ms)."""
    return np.array([RUN_INPUTS[k](feat) for k in features])


def uses_confidence(method: str) -> bool:
    """Whether the heart-score model of ``method`` reads any of the segmenter's confidence
    inputs (``post_*`` of :data:`RUN_INPUTS`); if not, they need not be measured."""
    m = RUN_MODELS.get(method, RUN_MODELS["neural"])
    return any(k.startswith("post_") for k in m["features"])


def heart_score(feat: dict[str, float], method: str = "neural") -> float:
    """Logistic probability in (0, 1) that a run is a heart's, from :func:`run_vector`
    and the method's model in :data:`RUN_MODELS` (an input that could not be measured,
    NaN, e.g. the confidence of a segmentation without posteriors, takes the model's
    mean: no evidence either way)."""
    m = RUN_MODELS.get(method, RUN_MODELS["neural"])
    x = run_vector(feat, m["features"])
    x = np.where(np.isnan(x), m["mean"], x)  # an input not measured counts as typical
    z = float(np.dot((x - m["mean"]) / m["scale"], m["coef"]) + m["intercept"])
    return float(1.0 / (1.0 + np.exp(-z)))
