"""Are there heart sounds at all? Evidence for every decoded sound, and spans without any.

An HSMM decoder always finds S1 -> systole -> S2 -> diastole: given a constant, noise, a
tone or a silent stretch it still lays down beats at the heart rate it was handed. This
module keeps only the sounds the signal supports and says so when none are left.

Evidence of one decoded sound (S1 or S2): its **prominence**, the peak of the 25-400 Hz
Hilbert envelope (de-spiked signal of :class:`heartsound.frontend.Frontend`, maximum per
20 ms frame) inside the sound, over the median of that envelope within
:data:`THRESHOLDS` ``["context_s"]`` around it. A heart sound is a burst a few times
louder than its surroundings; in stationary noise, hum, tones, DC or silence the decoded
"sounds" are no louder than what is around them (prominence 0-1.8 on such synthetic
signals).

Hysteresis: a sound with prominence ``>= high`` is strong; a weaker one with ``>= low``
whose peak is at least ``min_level`` times the median peak of the strong sounds is kept
when it is next to a kept sound (soft S2 between clear S1s); kept sounds form
runs of consecutive sounds, and runs shorter than ``min_run`` sounds (two beats) are
dropped, so a chance burst in noise does not make a beat. Frames of dropped sounds, and
systole/diastole frames next to one, get state 0 (``"unannotated"``: undefined).

Spectral shape of each run: heart sounds hold most of their 25-400 Hz energy below
150 Hz; speech, friction and clicks are broader and higher. A run whose sounds' median
**low share** (25-150 Hz share of the 25-400 Hz energy in 128 ms around each sound,
:func:`~heartsound.segmentation.presence_sounds.low_band_share`) is below
``min_low_share`` is dropped whatever its loudness contrast; so is a run whose
:func:`~heartsound.segmentation.run_evidence.heart_score` (a logistic model over run
length, periodicity, S1/S2 alternation, systole/diastole ratio, low share, spectral
flatness, sound duration and spectral consistency, fitted on training-side data) is
below ``min_heart_score``.

The recording holds no heart sounds (every frame 0, heart rate None, the reason in
``Segmentation.presence``) when its 25-400 Hz signal is flat (constant, DC, digital
silence), or when less than ``min_present_share`` of its duration is left in runs (of
its duration outside the stretches without signal, :mod:`heartsound.quality_silence`).

The thresholds were chosen on training-side data only (PhysioNet 2016 training sets and
CirCor 2022 recordings, and synthetic signals), never on PASCAL set A ``artifact``; see
``docs/results/no_beats.md``, ``docs/results/no_beats_s10.md`` (the heart score) and
``scripts/no_beats_figures.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..frontend import Frontend
from ..quality_silence import signal_frames, spans_of
from ..vocab import PREPROCESS_SR, S1, S2
from .presence_sounds import low_band_share, sound_shape, sound_spectra, spectral_evidence
from .result import Segmentation
from .run_evidence import (frame_confidence, heart_score, present_share, run_features, runs_of,
                           uses_confidence)

__all__ = ["THRESHOLDS", "frame_envelope", "sound_evidence", "low_band_share", "sound_spectra",
           "keep_mask", "measure", "aligned_posteriors", "decide", "run_passes", "reason", "apply"]

#: Decision values (docs/results/no_beats.md and no_beats_s10.md say how they were chosen).
THRESHOLDS: dict[str, float] = {
    "context_s": 2.0,            # half-width of the neighbourhood of a sound (s)
    "high": 2.0,                 # prominence of a strong sound
    "low": 1.3,                  # prominence of a weak sound next to a kept one
    "min_level": 0.1,            # weak sound's peak over the strong sounds' median peak
    "min_run": 4,                # consecutive kept sounds (two beats) for a run
    "min_present_share": 0.5,    # share of the recording in runs, else no heart sounds
    "flat_rms": 1e-5,            # RMS of the 25-400 Hz signal (full scale 1) below: flat
    "min_low_share": 0.3,        # median 25-150 Hz energy share of a run's sounds
    "min_heart_score": 0.02,     # run_evidence.heart_score of a run (0: not used)
}


def frame_envelope(fe: Frontend, n_frames: int, frame_rate: float) -> np.ndarray:
    """Maximum of the 25-400 Hz Hilbert envelope in each frame.

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
        Envelope of :meth:`Frontend.hilbert` (1000 Hz) maxima per ``1 / frame_rate`` s
        (zero-padded at the end).
    """
    h = np.asarray(fe.hilbert(), dtype=np.float64)
    step = int(round(PREPROCESS_SR / frame_rate))
    out = np.zeros(n_frames)
    m = min(n_frames, h.size // step)
    out[:m] = h[: m * step].reshape(m, step).max(axis=1)
    if m < n_frames and m * step < h.size:
        out[m] = h[m * step:].max()
    return out


def _sound_runs(states: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` frame ranges of the S1 and S2 runs of ``states``, in order."""
    s = np.asarray(states).astype(int)
    snd = np.isin(s, (S1, S2))
    edge = np.flatnonzero(np.diff(np.concatenate([[0], s, [0]])) != 0)
    return [(a, b) for a, b in zip(edge[:-1], edge[1:]) if snd[a]]


def sound_evidence(states: np.ndarray, env: np.ndarray, frame_rate: float,
                   context_s: float = THRESHOLDS["context_s"]
                   ) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """The decoded sounds and their prominence.

    Parameters
    ----------
    states : np.ndarray [shape=(n_frames,)]
        Decoded states (1-4).
    env : np.ndarray [shape=(n_frames,)]
        :func:`frame_envelope`.
    frame_rate : float
        Frames per second.
    context_s : float
        Half-width in seconds of the neighbourhood whose median envelope is the
        background.

    Returns
    -------
    sounds : list of (start, end)
        Frame ranges of the S1 and S2 runs.
    prominence : np.ndarray [shape=(len(sounds),)]
        Peak envelope in the sound over the background (0 where both are 0).
    peak : np.ndarray [shape=(len(sounds),)]
        Peak envelope in the sound.
    """
    sounds = _sound_runs(states)
    w = int(round(context_s * frame_rate))
    prom, peak = np.zeros(len(sounds)), np.zeros(len(sounds))
    if not sounds:
        return sounds, prom, peak
    ab = np.array(sounds)
    c = (ab[:, 0] + ab[:, 1]) // 2
    bg = np.empty(len(sounds))
    inner = (c - w >= 0) & (c + w + 1 <= env.size)  # full windows: all medians at once
    if inner.any():
        win = np.lib.stride_tricks.sliding_window_view(env, 2 * w + 1)
        bg[inner] = np.median(win[c[inner] - w], axis=1)
    for i in np.flatnonzero(~inner):
        bg[i] = np.median(env[max(0, c[i] - w): c[i] + w + 1])
    peak[:] = [env[a:b].max() for a, b in sounds]
    with np.errstate(divide="ignore", invalid="ignore"):
        prom[:] = np.where(bg > 0, peak / np.where(bg > 0, bg, 1.0),
                           np.where(peak > 0, np.inf, 0.0))
    return sounds, prom, peak


def keep_mask(prominence: np.ndarray, peak: np.ndarray | None = None, *,
              high: float = THRESHOLDS["high"], low: float = THRESHOLDS["low"],
              min_level: float = THRESHOLDS["min_level"],
              min_run: int = int(THRESHOLDS["min_run"])) -> np.ndarray:
    """Which sounds the evidence supports (hysteresis, then runs of ``min_run``).

    Parameters
    ----------
    prominence, peak : np.ndarray [shape=(n_sounds,)]
        From :func:`sound_evidence` (``peak`` None: no level condition).
    high, low, min_level, min_run
        See :data:`THRESHOLDS`.

    Returns
    -------
    np.ndarray [shape=prominence.shape, dtype=bool]
    """
    p = np.asarray(prominence, dtype=np.float64)
    keep = p >= high
    weak = (p >= low) & ~keep
    if peak is not None and keep.any():
        pk = np.asarray(peak, dtype=np.float64)
        weak &= pk >= min_level * float(np.median(pk[keep]))
    changed = True
    while changed:  # grow strong runs through weak neighbours
        nb = np.zeros_like(keep)
        nb[1:] |= keep[:-1]
        nb[:-1] |= keep[1:]
        grow = weak & ~keep & nb
        changed = bool(grow.any())
        keep |= grow
    m = np.concatenate([[False], keep, [False]]).astype(np.int8)
    d = np.flatnonzero(np.diff(m))
    for a, b in zip(d[::2], d[1::2]):
        if b - a < min_run:
            keep[a:b] = False
    return keep


def _gated_states(states: np.ndarray, sounds: list[tuple[int, int]], keep: np.ndarray
                  ) -> np.ndarray:
    """``states`` with dropped sounds, and the systole/diastole next to them, set to 0."""
    out = np.asarray(states).astype(np.int8).copy()
    bounds = [0] + [x for ab in sounds for x in ab] + [out.size]
    # gap k (between sound k-1 and sound k; k = 0 and len(sounds) are the edges)
    for k in range(len(sounds) + 1):
        a, b = bounds[2 * k], bounds[2 * k + 1]
        left = keep[k - 1] if k > 0 else (keep[0] if len(keep) else False)
        right = keep[k] if k < len(sounds) else (keep[-1] if len(keep) else False)
        if not (left and right):
            out[a:b] = 0
    for (a, b), kp in zip(sounds, keep):
        if not kp:
            out[a:b] = 0
    return out


def _rms(x: np.ndarray, *, centre: bool = False, block: int = 1 << 20) -> float:
    """Root mean square of ``x`` (its standard deviation with ``centre``), in blocks: no
    full-length temporary."""
    if x.size == 0:
        return 0.0
    m = float(np.mean(x)) if centre else 0.0
    acc = 0.0
    for i in range(0, x.size, block):
        d = x[i:i + block] - m if centre else x[i:i + block]
        acc += float(np.dot(d, d))
    return float(np.sqrt(acc / x.size))


def _band_rms(fe: Frontend, flat_rms: float) -> float:
    """Signal level of the recording in the 25-400 Hz band: the RMS of the band-passed
    signal, or the samples' standard deviation when that is lower (a constant: the
    filter's edge transients only). The band-passed signal is rebuilt only when the
    de-spiked one (never louder) is below ``flat_rms``: otherwise its RMS cannot decide."""
    level = min(_rms(fe.y, centre=True), _rms(fe.clean()))
    if level >= flat_rms:
        return level
    return min(_rms(fe.y, centre=True), _rms(fe.bandpassed()))


def measure(states: np.ndarray, fe: Frontend, frame_rate: float,
            context_s: float = THRESHOLDS["context_s"],
            posteriors: np.ndarray | None = None) -> dict[str, Any]:
    """The signal measurements the decision reads (the costly part of :func:`apply`).

    Parameters
    ----------
    states : np.ndarray [shape=(n_frames,)]
        Decoded states (1-4).
    fe : Frontend
        The recording's front end.
    frame_rate : float
        Frames per second of ``states``.
    context_s : float
        See :func:`sound_evidence`.
    posteriors : np.ndarray [shape=(n_frames, 4)], optional
        The segmenter's state probabilities aligned with ``states``
        (:func:`aligned_posteriors`).

    Returns
    -------
    dict
        ``env`` (:func:`frame_envelope`), ``sounds``, ``prominence``, ``peak``
        (:func:`sound_evidence`), per sound ``low_share``, ``sub50_share``,
        ``flatness`` and ``log_spectrum``
        (:func:`~heartsound.segmentation.presence_sounds.spectral_evidence`) and
        ``duration_ms``
        (:func:`~heartsound.segmentation.presence_sounds.sound_shape`),
        ``labels`` (state of each sound) and, with ``posteriors``, the frame arrays of
        :func:`~heartsound.segmentation.run_evidence.frame_confidence`.
    """
    conf = ({} if posteriors is None or len(posteriors) != states.size
            else frame_confidence(posteriors, states))
    env = frame_envelope(fe, states.size, frame_rate)
    sounds, prom, peak = sound_evidence(states, env, frame_rate, context_s)
    return {"env": env, "sounds": sounds, "prominence": prom, "peak": peak,
            **spectral_evidence(fe.clean(), sounds, frame_rate),
            **sound_shape(fe.hilbert(), sounds, frame_rate),
            "labels": np.array([states[a] for a, _ in sounds], dtype=np.int8), **conf}


def aligned_posteriors(seg: Segmentation) -> np.ndarray | None:
    """``seg.posteriors`` moved as the states were (``info["shift_frames"]`` frames
    earlier, the last row repeated; see :func:`heartsound.segmentation.neural.shift_states`),
    so that row ``k`` belongs to ``seg.states[k]``; None without posteriors."""
    if seg.posteriors is None:
        return None
    p = np.asarray(seg.posteriors)
    k = int(seg.info.get("shift_frames", 0) or 0)
    if k <= 0 or p.shape[0] <= k:
        return p
    return np.concatenate([p[k:], np.repeat(p[-1:], k, axis=0)])


def run_passes(feat: dict[str, float], th: dict[str, float], method: str = "neural"
               ) -> bool:
    """The per-run rule: a loud run counts as heart sounds when its sounds are low-pitched
    (median low share ``>= min_low_share``) and its
    :func:`~heartsound.segmentation.run_evidence.heart_score` reaches
    ``min_heart_score`` (0 turns the score off)."""
    if feat["low_share"] < th["min_low_share"]:
        return False
    return th["min_heart_score"] <= 0 or heart_score(feat, method) >= th["min_heart_score"]


def decide(states: np.ndarray, ev: dict[str, Any], th: dict[str, float],
           method: str = "neural", *, evidence: bool = False, signal: np.ndarray | None = None
           ) -> tuple[np.ndarray, dict[str, Any], list[dict[str, float]]]:
    """Which sounds are kept, from :func:`measure` (cheap; no signal access).

    Parameters
    ----------
    states : np.ndarray [shape=(n_frames,)]
        Decoded states.
    ev : dict
        :func:`measure`.
    th : dict
        All of :data:`THRESHOLDS`.
    method : str
        Segmentation method (which heart-score model).
    evidence : bool
        Compute every run's full evidence even when the heart score is off.
    signal : np.ndarray [shape=(n_frames,), dtype=bool], optional
        Frames outside the stretches without signal: ``present_share`` is over these.

    Returns
    -------
    gated : np.ndarray [shape=states.shape]
        States with unsupported frames 0 (before the whole-recording decision).
    info : dict
        The presence fields of :func:`apply` except ``reason`` and ``heart_sounds``.
    runs : list of dict
        Per loud run: ``low_share`` and ``n_sounds`` (all of
        :func:`~heartsound.segmentation.run_evidence.run_features` with ``evidence`` or
        the heart score on), ``first``, ``end`` and ``kept``.
    """
    sounds, prom, low = ev["sounds"], ev["prominence"], ev["low_share"]
    keep = keep_mask(prom, ev["peak"], high=th["high"], low=th["low"],
                     min_level=th["min_level"], min_run=int(th["min_run"]))
    n_loud = int(keep.sum())
    runs = []
    for a, b in runs_of(keep):
        f = (run_features(ev, a, b) if evidence or th["min_heart_score"] > 0 else
             {"low_share": float(np.median(low[a:b])), "n_sounds": float(b - a)})
        f.update(first=a, end=b, kept=run_passes(f, th, method))
        keep[a:b] = f["kept"]
        runs.append(f)
    gated = _gated_states(states, sounds, keep)
    info: dict[str, Any] = {
        "present_share": present_share(gated, signal),
        "n_sounds_decoded": len(sounds), "n_sounds_kept": int(keep.sum()),
        "n_sounds_prominent": n_loud,
        "median_prominence": float(np.median(prom)) if prom.size else None,
        "median_low_share": float(np.median(low[keep])) if keep.any() else None}
    return gated, info, runs


def apply(seg: Segmentation, fe: Frontend, *, thresholds: dict[str, float] | None = None
          ) -> Segmentation:
    """Keep only the sounds the signal supports; say whether any heart sounds are present.

    Parameters
    ----------
    seg : Segmentation
        A decoded segmentation of the recording of ``fe`` (modified in place).
    fe : Frontend
        The recording's front end.
    thresholds : dict, optional
        Overrides of :data:`THRESHOLDS`.

    Returns
    -------
    Segmentation
        ``seg``, with unsupported frames set to 0 (the decoder's path kept as
        ``seg.decoded_states``) and ``seg.presence`` filled:
        ``heart_sounds`` (bool), ``present_share`` (share of the frames with signal
        left in runs),
        ``n_sounds_decoded``, ``n_sounds_prominent`` (after the loudness test),
        ``n_sounds_kept`` (after the run tests too), ``median_prominence``,
        ``median_low_share`` (of the kept sounds), ``n_runs`` (loud runs) and
        ``n_runs_kept``, and ``reason`` (None when heart sounds were found).
    """
    th = {**THRESHOLDS, **(thresholds or {})}
    states = np.asarray(seg.states).astype(np.int8)
    band_rms = _band_rms(fe, th["flat_rms"])
    post = aligned_posteriors(seg) if uses_confidence(seg.method) else None
    ev = measure(states, fe, seg.frame_rate, th["context_s"], post)
    gaps = spans_of(fe)  # the share is of the time with signal
    sig = signal_frames((np.arange(states.size) + 0.5) / seg.frame_rate, gaps)
    gated, info, runs = decide(states, ev, th, seg.method, signal=sig)
    info = {"heart_sounds": True, **info, "n_runs": len(runs),
            "n_runs_kept": sum(bool(r["kept"]) for r in runs), "reason": None}
    info["reason"] = reason(info, band_rms, th, gaps=bool(gaps))
    if info["reason"] is not None:
        info["heart_sounds"] = False
        info["present_share"] = 0.0
        gated = np.zeros_like(states)
    seg.decoded_states = states
    seg.states = gated
    seg.presence = info
    return seg


def reason(info: dict[str, Any], band_rms: float, th: dict[str, float], *,
           gaps: bool = False) -> str | None:
    """Why the recording holds no heart sounds (None when it does); ``gaps``: the share
    was taken over the time with signal (stretches without signal left out)."""
    if band_rms < th["flat_rms"]:
        return (f"flat: no signal in the 25-400 Hz heart-sound band (RMS "
                f"{band_rms:.1e} < {th['flat_rms']:g}; constant, DC or silent)")
    if info["present_share"] < th["min_present_share"]:
        where = "time with signal" if gaps else "recording"
        return (f"no heart sounds found: {100 * info['present_share']:.0f}% of the "
                f"{where} holds repeating sounds that stand out from their surroundings "
                f"(at least {100 * th['min_present_share']:.0f}% needed; median "
                f"prominence {info['median_prominence'] or 0:.1f}, at least "
                f"{th['high']:g} for a clear sound; runs that are not heart-like, with "
                f"most energy above 150 Hz (speech, friction) or without a heart's "
                f"rhythm (heart score), do not count: "
                f"{info['n_sounds_prominent']} sounds prominent, "
                f"{info['n_sounds_kept']} heart-like)")
    return None
